"""Per-frame measurements of a followed face: fit checks, motion, sharpness.

All take 68-point iBUG landmarks as (68, 2) float32 ``(x, y)`` frame pixels.
"""

from __future__ import annotations

import numpy as np

from ..faces.crop import crop_face
from ..faces.tracker import box_extent, points_box
from ..faces.types import CropBox, LandmarkBackend
from ..sharpness import sharpness

RIGHT_EYE = slice(36, 42)
LEFT_EYE = slice(42, 48)
REFIT_SHIFT = 0.05
"""Re-fit box offset, as a fraction of the box side (both axes)."""
REFIT_SCALE = 1.1
"""Re-fit box enlargement about its centre."""


def eye_distance(points: np.ndarray) -> float:
    """Distance between the two eye centres (inter-ocular distance), at least 1e-6 pixels."""
    gap = points[RIGHT_EYE].mean(axis=0) - points[LEFT_EYE].mean(axis=0)
    return max(float(np.hypot(*gap)), 1e-6)


def eye_ratio(points: np.ndarray) -> float:
    """Inter-ocular distance over the larger side of the points' box (about 0.4 for a frontal face)."""
    return eye_distance(points) / box_extent(points_box(points))


def refit_box(box: np.ndarray) -> np.ndarray:
    """(4,) ``[x0, y0, x1, y1]`` box moved by :data:`REFIT_SHIFT` and enlarged by :data:`REFIT_SCALE`."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side_x, side_y = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2 + REFIT_SHIFT * side_x
    cy = (y0 + y1) / 2 + REFIT_SHIFT * side_y
    half_x, half_y = REFIT_SCALE * side_x / 2, REFIT_SCALE * side_y / 2
    return np.array([cx - half_x, cy - half_y, cx + half_x, cy + half_y], np.float32)


def refit_error(backend: LandmarkBackend, rgb: np.ndarray, box: np.ndarray, points: np.ndarray) -> float:
    """Mean point distance, in inter-ocular distances, between ``points`` (fitted in ``box``)
    and a second fit of the (H, W, 3) frame from :func:`refit_box`.

    A face that is really there pulls the cascade back to the same shape from a nearby start;
    a fit on background or a half-visible face lands somewhere else.
    """
    (second,) = backend.fit(rgb, [refit_box(box)])
    return float(np.linalg.norm(second.points - points, axis=1).mean()) / eye_distance(points)


def landmark_motion(previous: np.ndarray, current: np.ndarray) -> float:
    """Mean displacement of the 68 points between two frames over the current face size."""
    return float(np.linalg.norm(current - previous, axis=1).mean()) / box_extent(points_box(current))


def face_sharpness(rgb: np.ndarray, box: CropBox, size: int) -> float:
    """Variance of the Laplacian of the (size, size) crop of ``box`` from an (H, W, 3) frame."""
    return sharpness(crop_face(rgb, box, size))
