"""Value types shared by the face stage: detections, fits and the landmark backend protocol,
face tracks and crop boxes.

Coordinates follow the pixel-centre convention of OpenCV and dlib: pixel ``(i, j)`` of an
image has its centre at ``x = j, y = i``; the image covers ``[-0.5, W - 0.5]`` horizontally.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

NUM_POINTS = 68
"""iBUG 300-W landmark count."""

TrackSource = Literal["detected", "tracked", "predicted"]
"""How a track's points were obtained in a frame: detector + fit, re-fit in the previous box,
or reused from the previous frame without running anything (a late frame)."""


@dataclass(frozen=True, eq=False)
class Detection:
    """A face box ``[x0, y0, x1, y1]`` (4,) float32 in frame pixels and the detector's score."""

    box: np.ndarray
    score: float


@dataclass(frozen=True, eq=False)
class Fit:
    """68 points (68, 2) float32 in frame pixels; ``score`` is the landmark model's own
    confidence, or ``None`` when the model has none (dlib's shape predictor)."""

    points: np.ndarray
    score: float | None


class LandmarkBackend(Protocol):
    """Finds face boxes (``detect``) and fits the 68 iBUG points inside given boxes (``fit``) on
    an (H, W, 3) uint8 RGB frame; the tracker decides when to call which."""

    name: str

    lost_score: float | None
    """A fit scoring below this means the face was lost (``None``: the backend gives no score)."""

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in an (H, W, 3) uint8 RGB frame, best first."""

    def fit(self, rgb: np.ndarray, boxes: Sequence[np.ndarray]) -> list[Fit]:
        """68 points for each (4,) box, in the same order (all boxes in one call: batched)."""

    def close(self) -> None:
        """Release models."""


@dataclass(frozen=True)
class CropBox:
    """Square, integer-aligned region of a frame: pixels ``x0 .. x0 + side - 1`` by ``y0 .. y0 + side - 1``.

    It may extend past the frame edges (those pixels are padded when cutting). Integer
    alignment makes equal boxes compare equal, which is what per-frame cache keys rely on.
    """

    x0: int
    y0: int
    side: int

    def __post_init__(self) -> None:
        if self.side < 1:
            raise ValueError(f"crop box side must be >= 1, got {self.side}")

    @classmethod
    def around(cls, cx: float, cy: float, side: float) -> CropBox:
        """The integer box of about ``side`` pixels centred on ``(cx, cy)``."""
        side_px = max(1, int(round(side)))
        return cls(int(round(cx - side_px / 2 + 0.5)), int(round(cy - side_px / 2 + 0.5)), side_px)

    @property
    def center(self) -> tuple[float, float]:
        half = (self.side - 1) / 2
        return self.x0 + half, self.y0 + half

    def to_crop(self, points: np.ndarray, size: int) -> np.ndarray:
        """Map (..., 2) frame points into the pixel coordinates of the box resized to ``size``."""
        scale = size / self.side
        origin = np.array([self.x0, self.y0], np.float32)
        return ((points + 0.5 - origin) * scale - 0.5).astype(np.float32)

    def to_frame(self, points: np.ndarray, size: int) -> np.ndarray:
        """Inverse of :meth:`to_crop`."""
        scale = self.side / size
        origin = np.array([self.x0, self.y0], np.float32)
        return ((points + 0.5) * scale + origin - 0.5).astype(np.float32)


@dataclass(frozen=True, eq=False)
class FaceTrack:
    """One face in one frame.

    track_id: stable across frames while the face is followed
    box:      (4,) float32 ``[x0, y0, x1, y1]`` face box in frame pixels (detector convention)
    points:   (68, 2) float32 iBUG landmarks ``(x, y)`` in frame pixels
    score:    detector or landmark confidence (higher is better; scale depends on the backend)
    crop_box: smoothed, sticky crop region used to cut this face's crops
    source:   see :data:`TrackSource`
    """

    track_id: int
    box: np.ndarray
    points: np.ndarray
    score: float
    crop_box: CropBox
    source: TrackSource = "detected"

    def __post_init__(self) -> None:
        if self.box.shape != (4,) or self.box.dtype != np.float32:
            raise ValueError(f"box must be (4,) float32, got {self.box.shape} {self.box.dtype}")
        if self.points.shape != (NUM_POINTS, 2) or self.points.dtype != np.float32:
            raise ValueError(f"points must be ({NUM_POINTS}, 2) float32, got {self.points.shape} {self.points.dtype}")

    def to_json(self) -> dict:
        """Plain-JSON view: id, box, score, crop box and points as ``[[x, y], ...]``."""
        return {
            "id": self.track_id,
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "source": self.source,
            "crop_box": [self.crop_box.x0, self.crop_box.y0, self.crop_box.x0 + self.crop_box.side, self.crop_box.y0 + self.crop_box.side],
            "points": [[round(float(x), 2), round(float(y), 2)] for x, y in self.points],
        }
