"""Synthetic blur on a whole clip, frame after frame, reproducible from a seed.

Every frame draws its own degradation with ``train.degrade`` (as the centre of a one-frame
window): sharp, a motion kernel, the average of consecutive sharp frames of the clip centred
on it (edge frames replicated), or a Gaussian blur, sized relative to that frame's face (the
68-point box of the sharp frame). Sensor noise and compression are drawn once per clip, as one
camera and one codec would add them: a noise level for every frame, then JPEG on each frame or
an H.264 round trip of the whole clip, or neither.

The clip-level draws come first and each frame's draws follow in order, so a run with fewer
frames blurs a prefix of the same clip: frame k is the same for any length beyond k + 5 (the
widest frame average reaches 5 frames ahead), before H.264, whose look-ahead sees later frames.

``EVAL_DEGRADE`` is the training distribution with the share of sharp frames that training
uses for a window's neighbours (``p_sharp_neighbour``) for every frame, since in a stream every
frame is some window's neighbour. ``clean`` (``facedeblur eval --clean``) draws the same and
leaves out the noise and the compression: every frame gets the blur it gets otherwise, and the
sharp frames stay the clean originals a model must leave alone.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..train.degrade import DegradeConfig, FrameBlur, add_noise, degrade_window, h264, jpeg

EVAL_DEGRADE = DegradeConfig(p_sharp_center=DegradeConfig().p_sharp_neighbour)


@dataclass(frozen=True, eq=False)
class BlurredClip:
    """frames: (T, H, W, 3) uint8 RGB; draws: what each frame got; compression: e.g. 'h264 crf 27'."""

    frames: np.ndarray
    draws: tuple[FrameBlur, ...]
    noise_sigma: float
    compression: str

    def kinds(self) -> dict[str, int]:
        """How many frames got each kind of blur."""
        counts: dict[str, int] = {}
        for draw in self.draws:
            counts[draw.kind] = counts.get(draw.kind, 0) + 1
        return counts


def clip_rng(seed: int, name: str) -> np.random.Generator:
    """The generator for clip ``name``: the same on every run and machine for one seed, and
    independent of which other clips are evaluated."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def neighbours(frames: np.ndarray, index: int, count: int) -> np.ndarray:
    """(count, H, W, 3): ``count`` consecutive frames of (T, H, W, 3) ``frames`` centred on
    ``index``, indices clamped to the clip (edge frames replicated)."""
    start = index - count // 2
    picks = np.clip(np.arange(start, start + count), 0, len(frames) - 1)
    return frames[picks]


def draw_compression(rng: np.random.Generator, config: DegradeConfig) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """One clip's compression: its label and the (T, H, W, 3) uint8 round trip."""
    u = rng.random()
    if u < config.p_jpeg:
        quality = int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1))
        return f"jpeg q{quality}", lambda frames: jpeg(frames, quality)
    if u < config.p_jpeg + config.p_h264:
        crf = int(rng.integers(config.h264_crf[0], config.h264_crf[1] + 1))
        return f"h264 crf {crf}", lambda frames: h264(frames, crf)
    return "none", lambda frames: frames


def blur_clip(frames: np.ndarray, face_sizes: np.ndarray, *, rng: np.random.Generator,
              config: DegradeConfig = EVAL_DEGRADE, clean: bool = False) -> BlurredClip:
    """Degrade (T, H, W, 3) uint8 sharp ``frames``; ``face_sizes`` (T,) in pixels per frame;
    ``clean``: without the noise and compression drawn."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if face_sizes.shape != (len(frames),) or not np.all(face_sizes > 0):
        raise ValueError(f"face_sizes must be ({len(frames)},) positive, got {face_sizes.shape}")
    sigma = float(rng.uniform(*config.noise_sigma))
    compression, compress = draw_compression(rng, config)
    per_frame = dataclasses.replace(config, noise_sigma=(0.0, 0.0), p_jpeg=0.0, p_h264=0.0)
    blurred = np.empty_like(frames)
    draws = []
    for index in range(len(frames)):
        out, applied = degrade_window(
            frames[index:index + 1], face_size=float(face_sizes[index]), rng=rng, config=per_frame,
            sub_frames=lambda _, count, index=index: neighbours(frames, index, count),
        )
        noisy = add_noise(out, sigma, rng)[0]  # drawn even when clean: the next frames' draws stay the same
        blurred[index] = out[0] if clean else noisy
        draws.append(applied[0])
    if clean:
        return BlurredClip(frames=blurred, draws=tuple(draws), noise_sigma=0.0, compression="none")
    return BlurredClip(frames=compress(blurred), draws=tuple(draws), noise_sigma=sigma, compression=compression)
