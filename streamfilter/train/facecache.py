"""Face cache for training: detect and track faces once per clip, keep crops and landmarks.

For each clip, the face tracker of the streaming pipeline runs over every frame (so training
crops are framed exactly as at inference); the track seen in most frames is kept. For every
frame where it is present the cache stores its crop box, detector box, landmarks and the pixels
of a margin-enlarged box resized so that the crop box maps to ``crop_size`` pixels. Training
windows are then re-cut from these margin crops with the centre frame's box plus augmentation,
without decoding or detection.

Files per clip under the cache directory: ``<name>.json`` (metadata) and ``<name>.npz``
(boxes (K, 3) int [x0, y0, side], det_boxes (K, 4), points (K, 68, 2), frames (K,) frame index)
and ``<name>.crops.npy`` ((K, M, M, 3) uint8, M = round(crop_size * margin), memory-mapped).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from ..errors import InputError
from ..faces.backend import make_backend
from ..faces.crop import crop_face
from ..faces.tracker import FaceTracker, TrackerConfig
from ..faces.types import CropBox
from ..orientation import upright_rgb

CACHE_VERSION = 3


@dataclass(frozen=True)
class CachedClip:
    """One clip's face track: K frames, margin crops (K, M, M, 3) uint8 memory-mapped."""

    name: str
    frames: np.ndarray
    boxes: np.ndarray
    det_boxes: np.ndarray
    points: np.ndarray
    crops: np.ndarray
    crop_size: int
    margin: float

    def __len__(self) -> int:
        return len(self.frames)

    def margin_box(self, k: int) -> CropBox:
        """The frame region that ``crops[k]`` shows."""
        x0, y0, side = (int(v) for v in self.boxes[k])
        box = CropBox(x0, y0, side)
        return CropBox.around(*box.center, side * self.margin)

    def consecutive(self, k: int, before: int, after: int) -> bool:
        """Whether rows k-before .. k+after exist and hold consecutive frames of the clip."""
        if k - before < 0 or k + after >= len(self.frames):
            return False
        return int(self.frames[k + after] - self.frames[k - before]) == before + after

    def centres(self, radius: int) -> np.ndarray:
        """Rows k whose frames k-radius .. k+radius are consecutive (frames are increasing)."""
        k = np.arange(radius, len(self.frames) - radius)
        return k[self.frames[k + radius] - self.frames[k - radius] == 2 * radius]


def _cache_name(path: Path, crop_size: int, margin: float, max_frames: int) -> str:
    stat = path.stat()
    key = f"{CACHE_VERSION}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{crop_size}|{margin}|{max_frames}"
    return f"{path.stem}-{hashlib.sha1(key.encode()).hexdigest()[:12]}"


def track_clip(path: Path, *, crop_size: int, margin: float, max_frames: int, backend: str = "dlib") -> dict[str, np.ndarray]:
    """Run the tracker over a clip; return the arrays of the most persistent track."""
    tracker = FaceTracker(make_backend(backend), config=TrackerConfig(max_faces=2))
    rows: dict[int, list[tuple]] = {}
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                if index >= max_frames:
                    break
                rgb = upright_rgb(frame)
                t = float(frame.time) if frame.time is not None else index / 25.0
                for track in tracker.update(rgb, t):
                    margin_box = CropBox.around(*track.crop_box.center, track.crop_box.side * margin)
                    crop = crop_face(rgb, margin_box, int(round(crop_size * margin)))
                    box = track.crop_box
                    rows.setdefault(track.track_id, []).append(
                        (index, (box.x0, box.y0, box.side), track.box, track.points, crop)
                    )
    except av.FFmpegError as exc:
        raise InputError(f"cannot decode {path}: {exc}") from exc
    finally:
        tracker.backend.close()
    if not rows:
        return {}
    best = max(rows.values(), key=len)
    return {
        "frames": np.array([r[0] for r in best], np.int64),
        "boxes": np.array([r[1] for r in best], np.int64),
        "det_boxes": np.stack([r[2] for r in best]).astype(np.float32),
        "points": np.stack([r[3] for r in best]).astype(np.float32),
        "crops": np.stack([r[4] for r in best]),
    }


def load_or_build(
    path: Path, cache_dir: Path, *, crop_size: int, margin: float = 1.5, max_frames: int = 2000, log=print
) -> CachedClip | None:
    """The cached face track of ``path``, building it on first use; None if no face was found."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    name = _cache_name(path, crop_size, margin, max_frames)
    meta_path = cache_dir / f"{name}.json"
    if not meta_path.exists():
        arrays = track_clip(path, crop_size=crop_size, margin=margin, max_frames=max_frames)
        if arrays:
            np.save(cache_dir / f"{name}.crops.npy", arrays.pop("crops"))
            np.savez(cache_dir / f"{name}.npz", **arrays)
        meta = {"version": CACHE_VERSION, "source": str(path), "crop_size": crop_size, "margin": margin,
                "frames": int(len(arrays.get("frames", ())))}
        meta_path.write_text(json.dumps(meta))
        log(f"cached {path.name}: {meta['frames']} face frames")
    meta = json.loads(meta_path.read_text())
    if meta["frames"] == 0:
        return None
    arrays = np.load(cache_dir / f"{name}.npz")
    return CachedClip(
        name=path.stem,
        frames=arrays["frames"],
        boxes=arrays["boxes"],
        det_boxes=arrays["det_boxes"],
        points=arrays["points"],
        crops=np.load(cache_dir / f"{name}.crops.npy", mmap_mode="r"),
        crop_size=crop_size,
        margin=margin,
    )
