"""Paste restored face crops back into the frame.

A restored crop is pasted as a change, not as pixels: the difference ``restored - crop``
(both S x S) is resized to the box's side in frame pixels and added to the frame through a
feathered mask. Frame detail finer than the crop's resolution therefore survives wherever the
restorer changed nothing (an identity restorer leaves the frame exactly as it was), and the
mask's smooth ramp to zero at the box edges leaves no seam.

Several faces: the frame receives ``sum_i(m_i d_i) / max(1, sum_i m_i)`` (masks m, changes
d), i.e. each face's change where it stands alone and their mask-weighted mean where boxes
overlap. Boxes partly outside the frame contribute only their in-frame part.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

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


def paste_faces(
    frame: np.ndarray,
    boxes: Sequence[CropBox],
    crops: np.ndarray,
    restored: np.ndarray,
    *,
    feather: float = DEFAULT_FEATHER,
) -> np.ndarray:
    """Blend restored crops into a copy of ``frame``.

    frame:    (H, W, 3) uint8
    boxes:    N crop boxes the crops were cut with
    crops:    (N, S, S, 3) uint8, what the restorer received (the centre crops)
    restored: (N, S, S, 3) uint8, what it returned
    returns   (H, W, 3) uint8, a new array
    """
    if crops.shape != restored.shape or crops.ndim != 4 or len(boxes) != crops.shape[0]:
        raise ValueError(f"need N boxes and (N, S, S, 3) crops/restored, got {len(boxes)}, {crops.shape}, {restored.shape}")
    height, width = frame.shape[:2]
    out = frame.copy()
    if not boxes:
        return out
    x_lo = max(min(b.x0 for b in boxes), 0)
    y_lo = max(min(b.y0 for b in boxes), 0)
    x_hi = min(max(b.x0 + b.side for b in boxes), width)
    y_hi = min(max(b.y0 + b.side for b in boxes), height)
    if x_hi <= x_lo or y_hi <= y_lo:
        return out
    change = np.zeros((y_hi - y_lo, x_hi - x_lo, 3), np.float32)
    weight = np.zeros((y_hi - y_lo, x_hi - x_lo, 1), np.float32)
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
        src = (slice(fy0 - box.y0, fy1 - box.y0), slice(fx0 - box.x0, fx1 - box.x0))
        dst = (slice(fy0 - y_lo, fy1 - y_lo), slice(fx0 - x_lo, fx1 - x_lo))
        m = mask[src][..., None]
        change[dst] += m * diff[src]
        weight[dst] += m
    if not weight.any():
        return out
    region = out[y_lo:y_hi, x_lo:x_hi].astype(np.float32) + change / np.maximum(weight, 1.0)
    out[y_lo:y_hi, x_lo:x_hi] = np.clip(np.rint(region), 0, 255).astype(np.uint8)
    return out
