"""Training windows: sharp target, degraded input frames and their landmark heatmaps.

A window is cut from a cached face track (real video) or rendered from a photo seen through a
random camera path (pseudo-video), always with the same crop geometry as the streaming face
processor: one crop box for all frames (the centre frame's box, here jittered in scale,
position and rotation for augmentation), optionally mirrored, colour-jittered, then degraded
frame by frame (``degrade.py``). Heatmaps come from landmarks fitted on the *degraded* frames,
as at inference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..faces.heatmaps import DEFAULT_SIGMA, render_heatmaps, rescale_points
from ..faces.tracker import FaceTracker, TrackerConfig
from ..faces.types import CropBox, LandmarkBackend
from .degrade import DegradeConfig, degrade_window
from .facecache import CachedClip
from .pseudo_video import CameraPath, PseudoVideo, compose

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm")
CROP_SCALE = TrackerConfig().crop_scale
"""Crop side over the landmarks' extent, as the streaming tracker frames faces."""


@dataclass(frozen=True, kw_only=True)
class WindowConfig:
    """crop_size S, heatmap_size H, radius r (window T = 2r + 1); augmentation ranges:
    scale (log-uniform +-), shift (fraction of the crop), rotation (degrees), flip probability,
    colour (gain/offset/saturation amplitude); photo_fraction: share of pseudo-video windows;
    landmarks: fit landmarks on the degraded frames (False for models without heatmaps: the
    windows then carry no points and heatmaps of zero maps)."""

    crop_size: int
    heatmap_size: int = 64
    radius: int = 2
    scale: float = 0.1
    shift: float = 0.05
    rotation: float = 8.0
    p_flip: float = 0.5
    colour: float = 0.08
    photo_fraction: float = 0.3
    sigma: float = DEFAULT_SIGMA
    degrade: DegradeConfig = field(default_factory=DegradeConfig)
    landmarks: bool = True

    def __post_init__(self) -> None:
        if self.crop_size < 16 or self.heatmap_size < 4 or self.radius < 0:
            raise ValueError(f"bad window geometry: crop {self.crop_size}, heatmap {self.heatmap_size}, radius {self.radius}")
        if not 0.0 <= self.photo_fraction <= 1.0:
            raise ValueError(f"photo_fraction must be in [0, 1], got {self.photo_fraction}")


@dataclass(frozen=True)
class Photo:
    """A sharp photograph (H, W, 3) uint8 RGB with its face's crop box and detector box."""

    name: str
    image: np.ndarray
    box: CropBox
    det_box: np.ndarray


@dataclass(frozen=True)
class TrainingWindow:
    """inputs (T, 3, S, S) float32 in [0, 1]; heatmaps (T, 68, H, H) float32 ((T, 0, H, H)
    without landmarks); target (3, S, S); points (T, 68, 2) crop pixels, or None."""

    inputs: np.ndarray
    heatmaps: np.ndarray
    target: np.ndarray
    points: np.ndarray | None = None


def load_photos(folder: Path, backend: LandmarkBackend, *, log=print) -> list[Photo]:
    """Photos in ``folder`` with one face each (the largest when several), framed as the tracker would."""
    if not folder.is_dir():
        raise InputError(f"photo folder not found: {folder}")
    photos = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            log(f"skipping unreadable image {path.name}")
            continue
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        tracks = FaceTracker(backend, config=TrackerConfig(max_faces=4)).update(rgb, 0.0)
        if not tracks:
            continue
        track = max(tracks, key=lambda tr: tr.crop_box.side)
        photos.append(Photo(path.stem, rgb, track.crop_box, track.box))
    if not photos:
        raise InputError(f"no faces found in the photos of {folder}")
    return photos


def crop_to_frame(box_center: np.ndarray, side: float, angle: float, size: int) -> np.ndarray:
    """(2, 3) affine from crop pixels (S x S) to frame pixels for a rotated square of ``side``."""
    scale = side / size
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    half = (size - 1) / 2.0
    return np.array([[c, -s, box_center[0] - c * half + s * half], [s, c, box_center[1] - s * half - c * half]])


def invert(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(m)


def box_in_crop(det_box: np.ndarray, frame_to_crop: np.ndarray) -> np.ndarray:
    """Bounding box (4,) in crop pixels of a frame box mapped by an affine."""
    x0, y0, x1, y1 = det_box
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64)
    mapped = corners @ frame_to_crop[:, :2].T + frame_to_crop[:, 2]
    return np.concatenate([mapped.min(axis=0), mapped.max(axis=0)]).astype(np.float32)


class WindowSampler:
    """Draws training windows from cached clips and photos."""

    def __init__(self, clips: list[CachedClip], photos: list[Photo], backend: LandmarkBackend, config: WindowConfig):
        self.clips = [c for c in clips if len(c.centres(config.radius))]
        self.photos = photos
        self.backend = backend
        self.config = config
        if not self.clips and not self.photos:
            raise InputError("no usable training windows: no clip has a face in 2r+1 consecutive frames and no photos")
        self._centres = [c.centres(config.radius) for c in self.clips]
        weights = np.array([len(c) for c in self._centres], np.float64)
        self._clip_p = weights / weights.sum() if len(weights) else weights

    def sample(self, rng: np.random.Generator) -> TrainingWindow:
        cfg = self.config
        use_photo = bool(self.photos) and (not self.clips or rng.random() < cfg.photo_fraction)
        angle = np.deg2rad(rng.uniform(-cfg.rotation, cfg.rotation))
        zoom = float(np.exp(rng.uniform(-cfg.scale, cfg.scale)))
        shift = rng.uniform(-cfg.shift, cfg.shift, 2)
        if use_photo:
            sharp, sub_frames, det_boxes = self._photo_window(rng, angle, zoom, shift)
        else:
            sharp, sub_frames, det_boxes = self._clip_window(rng, angle, zoom, shift)
        flip = rng.random() < cfg.p_flip
        if flip:
            det_boxes = [np.array([cfg.crop_size - 1 - b[2], b[1], cfg.crop_size - 1 - b[0], b[3]], np.float32) for b in det_boxes]
        gain, offset = self._colour(rng)

        def augment(frames: np.ndarray) -> np.ndarray:
            """Mirror and colour-jitter (n, S, S, 3) uint8 frames."""
            frames = frames[:, :, ::-1] if flip else frames
            return np.clip(frames.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)

        def augmented_sub_frames(i: int, n: int) -> np.ndarray | None:
            frames = None if sub_frames is None else sub_frames(i, n)
            return None if frames is None else augment(frames)

        sharp = augment(sharp)
        blurred, _ = degrade_window(
            sharp, face_size=cfg.crop_size / CROP_SCALE, rng=rng, config=cfg.degrade, sub_frames=augmented_sub_frames
        )
        points = self._points(blurred, det_boxes) if cfg.landmarks else None
        inputs = blurred.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        target = sharp[cfg.radius].transpose(2, 0, 1).astype(np.float32) / 255.0
        return TrainingWindow(np.ascontiguousarray(inputs), heatmaps_of(points, cfg, len(blurred)),
                              np.ascontiguousarray(target), points)

    def _colour(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        a = self.config.colour
        gain = (1.0 + rng.uniform(-a, a)) * (1.0 + rng.uniform(-a / 2, a / 2, 3))
        offset = rng.uniform(-a, a) * 255.0 * 0.5
        return gain.astype(np.float32), np.float32(offset)

    def _clip_window(self, rng, angle, zoom, shift):
        cfg = self.config
        size, r = cfg.crop_size, cfg.radius
        ci = int(rng.choice(len(self.clips), p=self._clip_p))
        clip, centres = self.clips[ci], self._centres[ci]
        k = int(centres[rng.integers(len(centres))])
        x0, y0, side = (float(v) for v in clip.boxes[k])
        centre = np.array([x0 + (side - 1) / 2, y0 + (side - 1) / 2]) + shift * side
        to_frame = crop_to_frame(centre, side * zoom, angle, size)
        to_crop = invert(to_frame)
        margin_px = int(round(clip.crop_size * clip.margin))

        def cut(row: int) -> np.ndarray:
            mbox = clip.margin_box(row)
            s = margin_px / mbox.side
            frame_to_margin = np.array([[s, 0, (0.5 - mbox.x0) * s - 0.5], [0, s, (0.5 - mbox.y0) * s - 0.5]])
            m = compose(frame_to_margin, to_frame)
            return cv2.warpAffine(np.asarray(clip.crops[row]), m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REPLICATE)

        rows = range(k - r, k + r + 1)
        sharp = np.stack([cut(j) for j in rows])
        det_boxes = [box_in_crop(clip.det_boxes[j], to_crop) for j in rows]

        def sub_frames(i: int, n: int) -> np.ndarray | None:
            row = k - r + i
            before, after = (n - 1) // 2, n // 2
            if not clip.consecutive(row, before, after):
                return None
            return np.stack([cut(j) for j in range(row - before, row + after + 1)])

        return sharp, sub_frames, det_boxes

    def _photo_window(self, rng, angle, zoom, shift):
        cfg = self.config
        size, t = cfg.crop_size, 2 * cfg.radius + 1
        photo = self.photos[int(rng.integers(len(self.photos)))]
        cx, cy = photo.box.center
        centre = np.array([cx, cy]) + shift * photo.box.side
        to_crop = invert(crop_to_frame(centre, photo.box.side * zoom, angle, size))
        video = PseudoVideo(photo.image, to_crop, size, CameraPath.random(rng))
        sharp = video.window(t)
        det_boxes = [box_in_crop(photo.det_box, video.matrix(float(tau))) for tau in range(-cfg.radius, cfg.radius + 1)]
        return sharp, (lambda i, n: video.sub_frames(t, i, n)), det_boxes

    def _points(self, frames: np.ndarray, det_boxes: list[np.ndarray]) -> np.ndarray:
        """(T, 68, 2) landmarks fitted on each degraded frame, in crop pixels."""
        return np.stack([self.backend.fit(frame, [box])[0].points for frame, box in zip(frames, det_boxes)])


def heatmaps_of(points: np.ndarray | None, config: WindowConfig, frames: int) -> np.ndarray:
    """(T, 68, H, H) heatmaps of (T, 68, 2) crop-pixel ``points``; (T, 0, H, H) for None."""
    size = config.heatmap_size
    if points is None:
        return np.zeros((frames, 0, size, size), np.float32)
    return render_heatmaps(rescale_points(points, config.crop_size, size), size, sigma=config.sigma)
