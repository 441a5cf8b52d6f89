"""One-Euro smoothing and the sticky crop box."""

from __future__ import annotations

import numpy as np
import pytest

from streamfilter.faces.smoothing import OneEuroFilter, StickyBox
from streamfilter.faces.types import CropBox


def test_one_euro_reduces_jitter_of_still_face():
    rng = np.random.default_rng(1)
    noisy = 100 + rng.normal(0, 2.0, size=(120, 3))
    smoother = OneEuroFilter(min_cutoff=0.5, beta=0.05)
    out = np.array([smoother(i / 30, v) for i, v in enumerate(noisy)])
    assert np.std(out[30:] - 100) < 0.5 * np.std(noisy[30:] - 100)


def test_one_euro_follows_moving_face_with_small_lag():
    positions = np.arange(90, dtype=float)[:, None] * np.array([[8.0, 0.0, 0.0]]) + 200
    fast = OneEuroFilter(min_cutoff=0.5, beta=0.05)
    still = OneEuroFilter(min_cutoff=0.5, beta=0.0)
    lag_fast = [abs(fast(i / 30, p)[0] - p[0]) for i, p in enumerate(positions)][-1]
    lag_still = [abs(still(i / 30, p)[0] - p[0]) for i, p in enumerate(positions)][-1]
    assert lag_fast < 0.25 * lag_still, "speed raises the cut-off: a moving face is followed closely"
    assert lag_fast < 8.0, "less than a frame's motion behind"


def test_one_euro_ignores_repeated_timestamps_and_validates():
    smoother = OneEuroFilter()
    first = smoother(1.0, np.array([5.0]))
    np.testing.assert_array_equal(smoother(1.0, np.array([50.0])), first)
    with pytest.raises(ValueError, match="beta"):
        OneEuroFilter(beta=-1)


def test_sticky_box_moves_only_past_tolerance():
    sticky = StickyBox(tolerance=0.05)
    box = sticky.update(100.0, 100.0, 200.0)
    assert box == CropBox.around(100.0, 100.0, 200.0)
    assert sticky.update(108.0, 95.0, 205.0) is box, "within 5% of the side"
    moved = sticky.update(112.0, 100.0, 200.0)
    assert moved != box and moved.center == pytest.approx((112.0, 100.0), abs=0.5)
    assert StickyBox(tolerance=0.0).update(1.2, 3.7, 10.4) == CropBox.around(1.2, 3.7, 10.4)
    with pytest.raises(ValueError):
        StickyBox(tolerance=0.7)
