"""The landmark backend interface and its factory.

A backend does two things on an (H, W, 3) uint8 RGB frame: find face boxes (``detect``) and
fit the 68 iBUG points inside given boxes (``fit``). The tracker decides when to call which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, get_args, runtime_checkable

import numpy as np

from ..errors import UsageError

BackendName = Literal["dlib", "fan"]
BACKENDS: tuple[str, ...] = get_args(BackendName)


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


@runtime_checkable
class LandmarkBackend(Protocol):
    name: str

    lost_score: float | None
    """A fit scoring below this means the face was lost (``None``: the backend gives no score)."""

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in an (H, W, 3) uint8 RGB frame, best first."""

    def fit(self, rgb: np.ndarray, boxes: Sequence[np.ndarray]) -> list[Fit]:
        """68 points for each (4,) box, in the same order (all boxes in one call: batched)."""

    def close(self) -> None:
        """Release models."""


def make_backend(name: str, *, min_face_size: int = 40, device: str = "cpu") -> LandmarkBackend:
    """Build the backend called ``name`` (one of :data:`BACKENDS`)."""
    if name == "dlib":
        from .dlib_backend import DlibBackend

        return DlibBackend(min_face_size=min_face_size)
    if name == "fan":
        from .fan_backend import FanBackend

        return FanBackend(min_face_size=min_face_size, device=device)
    raise UsageError(f"unknown landmark backend {name!r}; choose one of: {', '.join(BACKENDS)}")
