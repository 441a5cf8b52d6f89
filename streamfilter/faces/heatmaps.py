"""Landmark heatmaps: one Gaussian per point, as the FAN landmark network draws its targets.

Each of the 68 maps holds ``exp(-d^2 / (2 sigma^2))`` around its point (peak 1 at the point
itself, sub-pixel centres, truncated to zero beyond 3 sigma), on an H x H grid that covers the
crop: heatmap pixel ``(i, j)`` has its centre at crop pixel ``((j + 0.5) S / H - 0.5,
(i + 0.5) S / H - 0.5)`` (the same half-pixel convention as the crop itself). Points
outside the grid give maps that are zero or partly cut.

The kernel is compiled with numba ``nogil=True``: rendering releases the GIL, so it overlaps
with other threads (its cost per face and its two-thread speed-up: bench/results/landmarks.json).
"""

from __future__ import annotations

import math

import numba
import numpy as np

DEFAULT_SIGMA = 2.0
"""Gaussian sigma in heatmap pixels (64 grid): FAN-style targets, 1.5 - 2 px."""


@numba.njit(nogil=True, cache=True)
def _render(centres: np.ndarray, size: int, sigma: float) -> np.ndarray:
    count, points = centres.shape[0], centres.shape[1]
    maps = np.zeros((count, points, size, size), np.float32)
    reach = 3.0 * sigma
    inv = 1.0 / (2.0 * sigma * sigma)
    for n in range(count):
        for p in range(points):
            cx = centres[n, p, 0]
            cy = centres[n, p, 1]
            if not (math.isfinite(cx) and math.isfinite(cy)):
                continue
            j0 = max(int(math.ceil(cx - reach)), 0)
            j1 = min(int(math.floor(cx + reach)), size - 1)
            i0 = max(int(math.ceil(cy - reach)), 0)
            i1 = min(int(math.floor(cy + reach)), size - 1)
            for i in range(i0, i1 + 1):
                dy = (i - cy) * (i - cy)
                for j in range(j0, j1 + 1):
                    maps[n, p, i, j] = math.exp(-((j - cx) * (j - cx) + dy) * inv)
    return maps


def rescale_points(points: np.ndarray, from_size: int, to_size: int) -> np.ndarray:
    """Map (..., 2) pixel coordinates on a square grid of ``from_size`` to one of ``to_size``
    covering the same area (crop pixels to heatmap pixels and back)."""
    scale = to_size / from_size
    return ((points + 0.5) * scale - 0.5).astype(np.float32)


def render_heatmaps(points: np.ndarray, size: int, *, sigma: float = DEFAULT_SIGMA) -> np.ndarray:
    """Render (N, P, 2) or (P, 2) points given in heatmap pixels as (N, P, size, size) or
    (P, size, size) float32 maps in [0, 1]."""
    if points.ndim not in (2, 3) or points.shape[-1] != 2:
        raise ValueError(f"points must be (P, 2) or (N, P, 2), got {points.shape}")
    if size < 1:
        raise ValueError(f"heatmap size must be >= 1, got {size}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    batch = points[None] if points.ndim == 2 else points
    maps = _render(np.ascontiguousarray(batch, dtype=np.float32), int(size), float(sigma))
    return maps[0] if points.ndim == 2 else maps


def heatmap_centroids(maps: np.ndarray) -> np.ndarray:
    """Sub-pixel peak positions of (..., H, W) single-blob maps: the value-weighted centroid of
    each map; returns (..., 2) ``(x, y)`` in heatmap pixels."""
    height, width = maps.shape[-2:]
    weights = maps.reshape(-1, height, width).astype(np.float64)
    total = weights.sum(axis=(1, 2))
    ys, xs = np.mgrid[0:height, 0:width]
    centres = np.stack([(weights * xs).sum(axis=(1, 2)) / total, (weights * ys).sum(axis=(1, 2)) / total], axis=-1)
    return centres.reshape(*maps.shape[:-2], 2).astype(np.float32)
