"""fan backend: weight lookup in the torch hub cache, loading, the heatmap decode path, and
the missing-weights error. Uses a randomly initialised FAN saved in a temporary hub dir."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamfilter.errors import WeightsMissingError
from streamfilter.faces.backend import make_backend
from streamfilter.faces.fan_backend import fan_crop_box, fan_weights_path, heatmap_peaks
from streamfilter.faces.heatmaps import render_heatmaps


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """An empty torch hub dir for this test (restored afterwards)."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_missing_weights_names_file_and_folder(hub_dir):
    with pytest.raises(WeightsMissingError) as info:
        make_backend("fan")
    message = str(info.value)
    assert "2DFAN4" in message and str(hub_dir / "checkpoints") in message and "https://" in message


def test_loads_random_weights_and_fits_points(hub_dir):
    from face_alignment.models import FAN

    torch.manual_seed(0)
    path = fan_weights_path()
    assert path.parent == hub_dir / "checkpoints"
    path.parent.mkdir(parents=True)
    torch.save(FAN(4).state_dict(), path)
    backend = make_backend("fan")
    rgb = np.random.default_rng(0).integers(0, 255, size=(180, 200, 3), dtype=np.uint8)
    boxes = [np.array([40, 30, 140, 130], np.float32), np.array([-20, 100, 60, 190], np.float32)]
    fits = backend.fit(rgb, boxes)
    assert len(fits) == 2
    for box, fit in zip(boxes, fits):
        assert fit.points.shape == (68, 2) and fit.points.dtype == np.float32
        region = fan_crop_box(box)
        inside = (fit.points >= [region.x0 - 1, region.y0 - 1]) & (fit.points <= [region.x0 + region.side, region.y0 + region.side])
        assert inside.all(), "decoded points lie in the FAN input region"
        assert np.isfinite(fit.score)


def test_corrupt_weights_are_a_model_error(hub_dir):
    from streamfilter.errors import ModelError

    path = fan_weights_path()
    path.parent.mkdir(parents=True)
    torch.save({"not": torch.zeros(1)}, path)
    with pytest.raises(ModelError, match="cannot load FAN weights"):
        make_backend("fan")


def test_heatmap_peaks_decode_rendered_points():
    points = np.random.default_rng(5).uniform(4, 60, size=(2, 68, 2)).astype(np.float32)
    peaks, scores = heatmap_peaks(render_heatmaps(points, 64))
    assert np.abs(peaks - points).max() <= 0.5 + 0.25
    assert scores.min() > 0.75
