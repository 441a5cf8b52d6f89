"""Causal smoothing of a face's crop transform and the sticky crop box built on it.

``OneEuroFilter`` (Casiez, Roussel and Vogel, CHI 2012) low-passes a vector signal with a
cut-off that rises with the signal's speed: a still face's crop does not jitter, a moving
face is followed with little lag. It only uses past samples (causal), so it adds no latency.

``StickyBox`` turns the smoothed ``(cx, cy, side)`` into an integer :class:`CropBox` that only
moves when the smoothed centre drifts by more than ``tolerance * side`` or the side changes by
more than ``tolerance`` (relative). Consecutive windows then share one crop box, so their
per-frame cache keys match and a restorer's per-frame features are reused.

The default tolerance, 0.02, was chosen from the trade-off that bench/bench_landmarks.py
measures per tolerance on a 720p talking-head clip (``sticky_box`` in
bench/results/landmarks.json: the share of a window's per-frame keys already in the previous
window, at most 0.8 with radius 2, against how often and how far the box moves): it keeps
nearly all of the attainable reuse, and its largest jump, about 2 % of the side (5 pixels of a
256 crop), is seen by the network in all five frames alike (the landmarks are drawn in the same
box), while paste-back inverts whatever box was used, so no jump reaches the output.
"""

from __future__ import annotations

import math

import numpy as np

from .types import CropBox


class OneEuroFilter:
    """One-Euro filter on a float vector; call with ``(t_seconds, value)`` in time order."""

    def __init__(self, *, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0):
        for name, value in (("min_cutoff", min_cutoff), ("d_cutoff", d_cutoff)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._t: float | None = None
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, t: float, value: np.ndarray) -> np.ndarray:
        value = np.asarray(value, np.float64)
        if self._x is None or self._dx is None or self._t is None:
            self._x, self._dx, self._t = value.copy(), np.zeros_like(value), t
            return self._x.copy()
        if t <= self._t:
            return self._x.copy()
        dt = t - self._t
        dx = (value - self._x) / dt
        self._dx = self._dx + self._alpha(self.d_cutoff, dt) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        self._x = self._x + self._alpha(cutoff, dt) * (value - self._x)
        self._t = t
        return self._x.copy()


class StickyBox:
    """Integer crop box with hysteresis around a smoothed ``(cx, cy, side)``."""

    def __init__(self, *, tolerance: float = 0.02):
        if not 0.0 <= tolerance < 0.5:
            raise ValueError(f"sticky tolerance must be in [0, 0.5), got {tolerance}")
        self.tolerance = tolerance
        self._box: CropBox | None = None

    def update(self, cx: float, cy: float, side: float) -> CropBox:
        box = self._box
        if box is not None:
            bx, by = box.center
            limit = self.tolerance * box.side
            if abs(cx - bx) <= limit and abs(cy - by) <= limit and abs(side / box.side - 1.0) <= self.tolerance:
                return box
        self._box = CropBox.around(cx, cy, side)
        return self._box
