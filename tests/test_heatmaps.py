"""Landmark heatmaps: peak at the point (sub-pixel), FAN-style Gaussians, point mapping."""

from __future__ import annotations

import numpy as np
import pytest

from streamfilter.faces.heatmaps import heatmap_centroids, render_heatmaps, rescale_points


@pytest.fixture
def points() -> np.ndarray:
    """68 sub-pixel points spread over the inner part of a 64 grid (seeded)."""
    return np.random.default_rng(3).uniform(6.0, 58.0, size=(68, 2)).astype(np.float32)


def test_argmax_within_half_pixel(points):
    maps = render_heatmaps(points, 64)
    assert maps.shape == (68, 64, 64) and maps.dtype == np.float32
    flat = maps.reshape(68, -1).argmax(axis=1)
    ys, xs = np.divmod(flat, 64)
    assert np.abs(xs - points[:, 0]).max() <= 0.5
    assert np.abs(ys - points[:, 1]).max() <= 0.5


def test_centroid_recovers_subpixel_centre(points):
    centres = heatmap_centroids(render_heatmaps(points, 64, sigma=2.0))
    assert np.abs(centres - points).max() < 0.05


def test_gaussian_profile_and_peak():
    maps = render_heatmaps(np.array([[20.0, 30.0]], np.float32), 64, sigma=1.5)
    assert maps[0, 30, 20] == pytest.approx(1.0)
    assert maps[0, 30, 21] == pytest.approx(np.exp(-1 / (2 * 1.5**2)), rel=1e-5)
    assert maps.max() <= 1.0 and maps.min() >= 0.0
    assert maps[0, 30, 25] == 0.0, "values beyond 3 sigma are truncated"


def test_batched_matches_single(points):
    batch = np.stack([points, points[::-1]])
    maps = render_heatmaps(batch, 32)
    assert maps.shape == (2, 68, 32, 32)
    np.testing.assert_array_equal(maps[1], render_heatmaps(points[::-1], 32))


def test_points_outside_grid_and_nan_leave_empty_maps():
    maps = render_heatmaps(np.array([[-20.0, 5.0], [np.nan, 3.0], [63.5, 10.0]], np.float32), 64)
    assert not maps[0].any() and not maps[1].any()
    assert maps[2].max() > 0.5


def test_rescale_points_half_pixel_convention():
    crop = np.array([[-0.5, -0.5], [255.5, 255.5], [127.5, 127.5]], np.float32)
    np.testing.assert_allclose(rescale_points(crop, 256, 64), [[-0.5, -0.5], [63.5, 63.5], [31.5, 31.5]])
    np.testing.assert_allclose(rescale_points(rescale_points(crop, 256, 64), 64, 256), crop, atol=1e-5)


@pytest.mark.parametrize("bad", [dict(points=np.zeros((68, 3), np.float32)), dict(size=0), dict(sigma=0.0)])
def test_rejects_bad_arguments(bad):
    args = dict(points=np.zeros((68, 2), np.float32), size=64)
    sigma = bad.pop("sigma", 2.0)
    args.update(bad)
    with pytest.raises(ValueError):
        render_heatmaps(args["points"], args["size"], sigma=sigma)
