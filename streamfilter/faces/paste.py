"""Paste restored face crops back into the frame.

A restored crop is pasted as a change, not as pixels: the difference ``restored - crop``
(both S x S) is resized to the box's side in frame pixels and added to the frame through a
feathered mask. Frame detail finer than the crop's resolution therefore survives wherever the
restorer changed nothing (an identity restorer leaves the frame exactly as it was), and the
mask's smooth ramp to zero at the box edges leaves no seam.

Several faces: the frame receives ``sum_i(m_i d_i) / max(1, sum_i m_i)`` (masks m, changes
d), i.e. each face's change where it stands alone and their mask-weighted mean where boxes
overlap. Boxes partly outside the frame contribute only their in-frame part. The blend runs
in numba kernels that release the GIL, chosen over numpy, which gave the same values more
slowly (the cost per face: ``per_face`` in bench/results/landmarks.json).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numba
import numpy as np

from ..orientation import stored_rect, turn_back
from .types import CropBox

DEFAULT_FEATHER = 0.15
"""Width of the mask's ramp as a fraction of the box side."""


@lru_cache(maxsize=64)
def feather_mask(side: int, feather: float = DEFAULT_FEATHER) -> np.ndarray:
    """(side, side) float32 mask: 1 inside, a raised-cosine ramp to 0 over ``feather * side``
    pixels at each edge (read-only, cached per size)."""
    if side < 1:
        raise ValueError(f"mask side must be >= 1, got {side}")
    if not 0.0 < feather <= 0.5:
        raise ValueError(f"feather must be in (0, 0.5], got {feather}")
    ramp_px = max(feather * side, 1.0)
    edge = np.minimum(np.arange(side), np.arange(side)[::-1]).astype(np.float32) + 0.5
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.clip(edge / ramp_px, 0.0, 1.0))
    mask = np.outer(ramp, ramp).astype(np.float32)
    mask.flags.writeable = False
    return mask


@dataclass(frozen=True)
class PastedChange:
    """What paste-back adds to a frame: the (h, w, 3) float32 RGB ``values`` (8-bit levels) of
    the region at column ``x0``, row ``y0``; zero outside it."""

    x0: int
    y0: int
    values: np.ndarray

    def onto(self, frame: np.ndarray) -> np.ndarray:
        """A copy of the (H, W, 3) uint8 ``frame`` with the change added (rounded, clipped)."""
        h, w = self.values.shape[:2]
        out = frame.copy()
        region = out[self.y0:self.y0 + h, self.x0:self.x0 + w]
        region[:] = np.clip(np.rint(region + self.values), 0, 255).astype(np.uint8)
        return out

    def stored(self, turns: int, width: int, height: int) -> PastedChange:
        """This change of an upright frame, placed in the stored ``width`` x ``height`` frame
        that ``turns`` counter-clockwise quarter turns made upright (itself for 0 turns)."""
        if turns == 0:
            return self
        h, w = self.values.shape[:2]
        x0, y0, _, _ = stored_rect(self.x0, self.y0, w, h, turns, width, height)
        return PastedChange(x0, y0, turn_back(self.values, turns))


def _span(lo: int, hi: int, limit: int, align: int) -> tuple[int, int]:
    """[lo, hi) clipped to [0, limit) and widened to multiples of ``align`` where the frame allows."""
    lo, hi = max(lo, 0), min(hi, limit)
    return lo - lo % align, min(-(-hi // align) * align, limit)


def pasted_change(
    size: tuple[int, int],
    boxes: Sequence[CropBox],
    crops: np.ndarray,
    restored: np.ndarray,
    *,
    feather: float = DEFAULT_FEATHER,
    align: int = 1,
) -> PastedChange | None:
    """The change paste-back makes to a frame of ``size`` (height, width) over the boxes'
    bounding region, or None where no restorer changed anything.

    boxes:    N crop boxes the crops were cut with
    crops:    (N, S, S, 3) uint8, what the restorer received (the centre crops)
    restored: (N, S, S, 3) uint8, what it returned
    align:    the region's corners and size are multiples of ``align`` where the frame allows
              (2 lets it be written into 4:2:0 chroma planes)
    """
    if crops.shape != restored.shape or crops.ndim != 4 or len(boxes) != crops.shape[0]:
        raise ValueError(f"need N boxes and (N, S, S, 3) crops/restored, got {len(boxes)}, {crops.shape}, {restored.shape}")
    height, width = size
    if not boxes:
        return None
    x_lo, x_hi = _span(min(b.x0 for b in boxes), max(b.x0 + b.side for b in boxes), width, align)
    y_lo, y_hi = _span(min(b.y0 for b in boxes), max(b.y0 + b.side for b in boxes), height, align)
    if x_hi <= x_lo or y_hi <= y_lo:
        return None
    change = np.zeros((y_hi - y_lo, x_hi - x_lo, 3), np.float32)
    weight = np.zeros((y_hi - y_lo, x_hi - x_lo), np.float32)
    for box, crop, result in zip(boxes, crops, restored):
        diff = result.astype(np.float32) - crop.astype(np.float32)
        if not diff.any():
            continue
        if box.side != diff.shape[0]:
            diff = cv2.resize(diff, (box.side, box.side), interpolation=cv2.INTER_LINEAR)
        mask = feather_mask(box.side, feather)
        fx0, fy0 = max(box.x0, x_lo), max(box.y0, y_lo)
        fx1, fy1 = min(box.x0 + box.side, x_hi), min(box.y0 + box.side, y_hi)
        if fx1 <= fx0 or fy1 <= fy0:
            continue
        _accumulate(change, weight, diff, mask, fy0 - y_lo, fx0 - x_lo, fy0 - box.y0, fx0 - box.x0, fy1 - fy0, fx1 - fx0)
    if not weight.any():
        return None
    _normalise(change, weight)
    return PastedChange(x_lo, y_lo, change)


@numba.njit(nogil=True, cache=True)
def _accumulate(change, weight, diff, mask, dy, dx, sy, sx, rows, cols):
    """change[dy:, dx:] += mask * diff[sy:, sx:] and weight[dy:, dx:] += mask over rows x cols
    (change (h, w, 3), weight (h, w), diff (n, n, 3), mask (n, n), all float32)."""
    for i in range(rows):
        for j in range(cols):
            m = mask[sy + i, sx + j]
            weight[dy + i, dx + j] += m
            for c in range(3):
                change[dy + i, dx + j, c] += m * diff[sy + i, sx + j, c]


@numba.njit(nogil=True, cache=True)
def _normalise(change, weight):
    """change /= max(weight, 1) per pixel, in place."""
    for i in range(change.shape[0]):
        for j in range(change.shape[1]):
            w = weight[i, j]
            if w > 1.0:
                for c in range(3):
                    change[i, j, c] /= w


def paste_faces(
    frame: np.ndarray,
    boxes: Sequence[CropBox],
    crops: np.ndarray,
    restored: np.ndarray,
    *,
    feather: float = DEFAULT_FEATHER,
) -> np.ndarray:
    """``frame`` (H, W, 3) uint8 with the restored crops blended in, as a new array (arguments
    as ``pasted_change``)."""
    change = pasted_change(frame.shape[:2], boxes, crops, restored, feather=feather)
    return frame.copy() if change is None else change.onto(frame)
