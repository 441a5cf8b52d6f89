"""Per-frame blur synthesis for training windows.

Each frame of a window draws its own degradation, so a window mixes sharp and blurred frames
(the premise of FineNet's interpolation branch): a random motion kernel (FineNet's recipe),
the average of 3-11 consecutive frames in linear light (Ren et al., Chrysos et al.), a Gaussian
blur, or none; then sensor noise and JPEG or H.264 compression. Blur sizes are drawn relative to
the face size in crop pixels, so a small face is not blurred away and a large one is not spared.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import av
import cv2
import numpy as np

from .kernels import gaussian_kernel, motion_kernel

BlurKind = Literal["sharp", "motion", "average", "gaussian"]
SubFrames = Callable[[int, int], "np.ndarray | None"]
"""``sub_frames(i, n)``: n consecutive sharp frames centred on window frame i, (n, S, S, 3) uint8,
or None when the source cannot provide them (then averaging is replaced by a motion kernel)."""

GAMMA = 2.2


@dataclass(frozen=True, kw_only=True)
class DegradeConfig:
    """Distribution of degradations; ranges are (low, high), uniform unless noted.

    Blur sizes are those of real video: motion up to 8 % of the face size (20 px on a 250 px
    face at 720p, a fast head turn within one 1/30 s exposure), averages of 3-5 frames (up to
    about 1/6 s of exposure at 30 fps), Gaussian sigma up to 1.5 % of the face size (defocus).
    A fifth of the centre frames stay sharp, so a model learns to leave sharp faces alone."""

    p_sharp_center: float = 0.2
    p_sharp_neighbour: float = 0.35
    p_motion: float = 0.55
    p_average: float = 0.25
    motion_length: tuple[float, float] = (0.01, 0.08)
    """motion path length as a fraction of the face size"""
    motion_curvature: tuple[float, float] = (0.0, 0.35)
    average_frames: tuple[int, int] = (3, 5)
    gaussian_sigma: tuple[float, float] = (0.004, 0.015)
    """Gaussian sigma as a fraction of the face size"""
    noise_sigma: tuple[float, float] = (0.0, 0.02)
    """read-noise std on the [0, 1] scale; shot noise is added with the same scale times sqrt(x)"""
    p_jpeg: float = 0.3
    jpeg_quality: tuple[int, int] = (40, 95)
    p_h264: float = 0.3
    h264_crf: tuple[int, int] = (18, 35)
    p_clean: float = 0.0
    """share of windows left without noise and compression (clean footage, where a sharp
    centre must come out exactly as it went in); drawn only when above 0, so the default keeps
    the random stream of earlier versions"""

    def __post_init__(self) -> None:
        for name in ("p_sharp_center", "p_sharp_neighbour", "p_motion", "p_average", "p_jpeg", "p_h264", "p_clean"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
        if self.p_motion + self.p_average > 1.0:
            raise ValueError("p_motion + p_average must be <= 1 (the rest is Gaussian blur)")
        if self.p_jpeg + self.p_h264 > 1.0:
            raise ValueError("p_jpeg + p_h264 must be <= 1")
        if self.average_frames[0] < 2 or self.average_frames[1] < self.average_frames[0]:
            raise ValueError(f"average_frames must be a range with low >= 2, got {self.average_frames}")


@dataclass(frozen=True)
class FrameBlur:
    """What was applied to one frame (for logging and tests)."""

    kind: BlurKind
    size: float
    """kernel length, sigma or number of averaged frames (0 for sharp)"""


def _to_linear(image: np.ndarray) -> np.ndarray:
    return (image.astype(np.float32) / 255.0) ** GAMMA


def _from_linear(linear: np.ndarray) -> np.ndarray:
    return np.clip(np.clip(linear, 0.0, 1.0) ** (1.0 / GAMMA) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    linear = _to_linear(image)
    return _from_linear(cv2.filter2D(linear, -1, kernel, borderType=cv2.BORDER_REFLECT_101))


def _draw_blur(rng: np.random.Generator, config: DegradeConfig, *, center: bool) -> BlurKind:
    p_sharp = config.p_sharp_center if center else config.p_sharp_neighbour
    if rng.random() < p_sharp:
        return "sharp"
    u = rng.random()
    if u < config.p_motion:
        return "motion"
    if u < config.p_motion + config.p_average:
        return "average"
    return "gaussian"


def blur_frame(
    frame: np.ndarray,
    kind: BlurKind,
    *,
    face_size: float,
    rng: np.random.Generator,
    config: DegradeConfig,
    sub_frames: np.ndarray | None = None,
) -> tuple[np.ndarray, FrameBlur]:
    """Blur one (S, S, 3) uint8 frame; ``sub_frames`` (n, S, S, 3) are needed for "average"."""
    if kind == "sharp":
        return frame.copy(), FrameBlur("sharp", 0.0)
    if kind == "average" and sub_frames is not None:
        averaged = _from_linear(_to_linear(sub_frames).mean(axis=0))
        return averaged, FrameBlur("average", float(len(sub_frames)))
    if kind in ("motion", "average"):
        length = max(1.0, rng.uniform(*config.motion_length) * face_size)
        kernel = motion_kernel(length, rng.uniform(0, np.pi), rng.uniform(*config.motion_curvature) * rng.choice((-1, 1)))
        return _convolve(frame, kernel), FrameBlur("motion", length)
    sigma = max(0.3, rng.uniform(*config.gaussian_sigma) * face_size)
    return _convolve(frame, gaussian_kernel(sigma)), FrameBlur("gaussian", sigma)


def add_noise(frames: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Read + shot noise on (T, S, S, 3) uint8 frames; sigma on the [0, 1] scale."""
    if sigma <= 0:
        return frames
    x = frames.astype(np.float32) / 255.0
    std = sigma * np.sqrt(1.0 + np.sqrt(x) * 4.0) / np.sqrt(5.0)
    noisy = x + rng.standard_normal(x.shape, dtype=np.float32) * std
    return np.clip(noisy * 255.0 + 0.5, 0, 255).astype(np.uint8)


def jpeg(frames: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip of each (S, S, 3) uint8 RGB frame."""
    out = np.empty_like(frames)
    for i, frame in enumerate(frames):
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        out[i] = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out


def h264(frames: np.ndarray, crf: int) -> np.ndarray:
    """H.264 (libx264, yuv420p) round trip of a (T, S, S, 3) uint8 RGB sequence, in memory."""
    t, h, w, _ = frames.shape
    pad_h, pad_w = h % 2, w % 2
    padded = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height = w + pad_w, h + pad_h
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(int(crf)), "preset": "veryfast", "tune": "zerolatency"}
        for frame in padded:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    buffer.seek(0)
    with av.open(buffer, "r") as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if len(decoded) != t:
        raise RuntimeError(f"H.264 round trip returned {len(decoded)} frames for {t}")
    return np.stack(decoded)[:, :h, :w]


def degrade_window(
    sharp: np.ndarray,
    *,
    face_size: float,
    rng: np.random.Generator,
    config: DegradeConfig = DegradeConfig(),
    sub_frames: SubFrames | None = None,
) -> tuple[np.ndarray, list[FrameBlur]]:
    """Degrade a training window.

    sharp:     (T, S, S, 3) uint8 sharp frames, T odd, the target in the middle
    face_size: face size in crop pixels (e.g. inter-ocular distance x 2.5 or box side)
    returns:   (T, S, S, 3) uint8 degraded frames and what was applied to each frame
    """
    if sharp.ndim != 4 or sharp.shape[-1] != 3 or sharp.dtype != np.uint8 or sharp.shape[0] % 2 != 1:
        raise ValueError(f"sharp must be (T, S, S, 3) uint8 with T odd, got {sharp.shape} {sharp.dtype}")
    t = sharp.shape[0]
    blurred = np.empty_like(sharp)
    applied = []
    for i in range(t):
        kind = _draw_blur(rng, config, center=i == t // 2)
        frames = None
        if kind == "average" and sub_frames is not None:
            lo, hi = config.average_frames
            n = int(rng.integers(lo, hi + 1))
            frames = sub_frames(i, n)
        blurred[i], info = blur_frame(sharp[i], kind, face_size=face_size, rng=rng, config=config, sub_frames=frames)
        applied.append(info)
    if config.p_clean > 0 and rng.random() < config.p_clean:
        return blurred, applied
    blurred = add_noise(blurred, rng.uniform(*config.noise_sigma), rng)
    u = rng.random()
    if u < config.p_jpeg:
        blurred = jpeg(blurred, int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1)))
    elif u < config.p_jpeg + config.p_h264:
        blurred = h264(blurred, int(rng.integers(config.h264_crf[0], config.h264_crf[1] + 1)))
    return blurred, applied
