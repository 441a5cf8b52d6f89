"""Face regions of the sharp clip: where face metrics are measured and how large blur is drawn.

The face stage of the pipeline (dlib detector + 68-point shape predictor, tracked) runs on the
SHARP frames, so the regions do not depend on the blur or on the model. A face's region is the
bounding box of its 68 points grown by ``BOX_MARGIN`` of the box's larger side on every side
(the 68 points stop at the eyebrows; the margin takes in the forehead and the chin's edge),
clipped to the frame. Regions smaller than the SSIM window after clipping are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..faces.tracker import FaceTracker, box_extent, points_box
from ..faces.types import LandmarkBackend
from .clip_io import Clip
from .metrics import SSIM_WINDOW

BOX_MARGIN = 0.1


@dataclass(frozen=True)
class FaceRegion:
    """Pixels ``x0 .. x1 - 1`` by ``y0 .. y1 - 1`` of a frame."""

    x0: int
    y0: int
    x1: int
    y1: int

    def cut(self, image: np.ndarray) -> np.ndarray:
        """The region of an (H, W, C) image, (y1 - y0, x1 - x0, C)."""
        return image[self.y0:self.y1, self.x0:self.x1]

    def to_json(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]


@dataclass(frozen=True, eq=False)
class SharpFaces:
    """Per frame of a clip: the face regions, and the largest face's size.

    regions: T tuples of regions (empty where no face was found)
    sizes:   (T,) float64, larger side of the largest face's 68-point box; NaN without a face
    """

    regions: tuple[tuple[FaceRegion, ...], ...]
    sizes: np.ndarray

    @property
    def face_frames(self) -> int:
        return sum(1 for r in self.regions if r)

    def blur_sizes(self) -> np.ndarray:
        """(T,) face size to draw blur from: the frame's own, else the clip's median."""
        found = ~np.isnan(self.sizes)
        if not found.any():
            raise ValueError("no face in any frame")
        return np.where(found, self.sizes, float(np.median(self.sizes[found])))


def face_region(points: np.ndarray, width: int, height: int) -> FaceRegion | None:
    """The region of (68, 2) frame points, or None when clipping leaves less than the SSIM window."""
    box = points_box(points)
    grow = BOX_MARGIN * box_extent(box)
    x0 = max(0, int(np.floor(box[0] - grow)))
    y0 = max(0, int(np.floor(box[1] - grow)))
    x1 = min(width, int(np.ceil(box[2] + grow)) + 1)
    y1 = min(height, int(np.ceil(box[3] + grow)) + 1)
    if min(x1 - x0, y1 - y0) < SSIM_WINDOW:
        return None
    return FaceRegion(x0, y0, x1, y1)


def find_sharp_faces(clip: Clip, backend: LandmarkBackend) -> SharpFaces:
    """Track faces through the sharp frames of ``clip`` with ``backend``."""
    tracker = FaceTracker(backend)
    height, width = clip.frames.shape[1:3]
    regions, sizes = [], np.full(len(clip.frames), np.nan)
    for index, (frame, t) in enumerate(zip(clip.frames, clip.times)):
        tracks = tracker.update(frame, t)
        found = [face_region(track.points, width, height) for track in tracks]
        regions.append(tuple(region for region in found if region is not None))
        if tracks:
            sizes[index] = max(box_extent(points_box(track.points)) for track in tracks)
    return SharpFaces(regions=tuple(regions), sizes=sizes)
