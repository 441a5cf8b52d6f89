"""The restorer interface: how the face path hands face windows to a network engine.

The face processor cuts, for every face track in output frame t, the crops of frames
t-r .. t+r in one crop box (the box of the track at t) and renders their landmark heatmaps;
a restorer turns a batch of such face windows into restored centre crops.

``keys[i]`` identifies the crop of window frame i: two ``FaceWindow``s with an equal key hold
the identical crop and heatmap (same frame, same track, same crop box), so a restorer may
compute per-frame work (feature extraction, pyramid, pre-deblur) once and reuse it for the
``2 r + 1`` windows that contain that frame.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True, eq=False)
class FaceWindow:
    """One face across a window of T = 2 r + 1 frames, all cut with the same crop box.

    crops:    (T, S, S, 3) uint8 RGB, S = the restorer's ``crop_size``
    heatmaps: T maps (68, H, H) float32 in [0, 1], H = the restorer's ``heatmap_size``: a
              (T, 68, H, H) array or any sequence of T arrays; the face processor passes a
              sequence that renders a frame's maps when first indexed, since a restorer that
              caches per-frame work needs them only for frames it has not seen (about one
              per window) and the identity none at all (see :func:`checked_heatmap`)
    keys:     T hashable per-frame cache keys (see module docstring)
    """

    crops: np.ndarray
    heatmaps: Sequence[np.ndarray]
    keys: tuple[Hashable, ...]

    def __post_init__(self) -> None:
        t = len(self.keys)
        if self.crops.ndim != 4 or self.crops.shape[0] != t or self.crops.shape[3] != 3 or self.crops.dtype != np.uint8:
            raise ValueError(f"crops must be ({t}, S, S, 3) uint8, got {self.crops.shape} {self.crops.dtype}")
        if self.crops.shape[1] != self.crops.shape[2]:
            raise ValueError(f"crops must be square, got {self.crops.shape[1]}x{self.crops.shape[2]}")
        if len(self.heatmaps) != t:
            raise ValueError(f"heatmaps must hold {t} frames' maps, got {len(self.heatmaps)}")

    @property
    def center(self) -> np.ndarray:
        """(S, S, 3) uint8 crop of the output frame."""
        return self.crops[len(self.keys) // 2]


def checked_heatmap(face: FaceWindow, index: int, size: int) -> np.ndarray:
    """Frame ``index``'s (68, size, size) float32 maps of ``face``; ValueError if they are not."""
    maps = face.heatmaps[index]
    if maps.shape != (68, size, size) or maps.dtype != np.float32:
        raise ValueError(f"heatmaps must be (68, {size}, {size}) float32, got {maps.shape} {maps.dtype}")
    return maps


@runtime_checkable
class Restorer(Protocol):
    crop_size: int
    """S: side of the square face crops the network takes."""

    heatmap_size: int
    """H: side of the landmark heatmaps (64 for FineNet)."""

    radius: int
    """r: frames before and after the output frame (2 for FineNet, 0 for single-frame models)."""

    concurrency: int
    """How many ``restore`` calls run well at once (from different threads; 1: one at a time).
    The face processor lets the pipeline hand it that many windows in parallel."""

    def restore(self, faces: Sequence[FaceWindow]) -> np.ndarray:
        """Restore the centre crop of each window: returns (N, S, S, 3) RGB, uint8 or float
        8-bit levels (rounded and clipped when pasted; a face holding NaN or infinities keeps
        its decoded pixels)."""

    def close(self) -> None:
        """Release sessions, caches and device memory."""


class IdentityRestorer:
    """Returns the centre crops unchanged: exercises the whole face path with no network."""

    concurrency = 1

    def __init__(self, crop_size: int = 256, heatmap_size: int = 64, radius: int = 2):
        self.crop_size = crop_size
        self.heatmap_size = heatmap_size
        self.radius = radius

    def restore(self, faces: Sequence[FaceWindow]) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.crop_size, self.crop_size, 3), np.uint8)
        return np.stack([face.center for face in faces])

    def close(self) -> None:
        return None
