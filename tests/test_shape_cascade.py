"""The project's evaluation of dlib's shape predictor file against dlib's own."""

from __future__ import annotations

import av
import numpy as np
import pytest

from streamfilter.errors import WeightsMissingError
from streamfilter.faces.dlib_backend import DlibDetector, predictor_path
from streamfilter.faces.shape_cascade import read_cascade


@pytest.fixture(scope="module")
def cascade():
    return read_cascade(predictor_path())


def test_points_rounded_equal_dlibs_on_real_frames(shared_data, cascade):
    """Every 10th of the first 120 frames of a val clip, in the detector's box and in a box
    shifted as a track's would be: the same integer points as dlib's predictor."""
    import dlib

    predictor = dlib.shape_predictor(str(predictor_path()))
    with av.open(str(shared_data / "clips" / "val" / "liveportrait_d8.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for i, f in zip(range(120), container.decode(video=0)) if i % 10 == 0]
    (detection,) = DlibDetector().detect(frames[0])
    for shift in (0, 7):
        box = detection.box + np.float32(shift)
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
        for rgb in frames:
            ours = cascade.fit(rgb, box)
            theirs = np.array([(p.x, p.y) for p in predictor(rgb, dlib.rectangle(x0, y0, x1 - 1, y1 - 1)).parts()])
            np.testing.assert_array_equal(np.floor(ours + 0.5), theirs)
            assert np.abs(ours - np.rint(ours)).max() > 0.01, "points are sub-pixel, not rounded"


def test_box_partly_outside_the_frame_reads_zeros(cascade):
    rgb = np.full((120, 160, 3), 128, np.uint8)
    points = cascade.fit(rgb, np.array([-40, -30, 60, 70], np.float32))
    assert points.shape == (68, 2) and np.isfinite(points).all()


@pytest.mark.parametrize("cut", [10, 1000, 50_000_000])
def test_truncated_file_is_a_clear_error(tmp_path, cut):
    broken = tmp_path / "predictor.dat"
    broken.write_bytes(predictor_path().read_bytes()[:cut])
    with pytest.raises(WeightsMissingError, match="not a dlib shape predictor"):
        read_cascade(broken)


def test_other_file_is_a_clear_error(tmp_path):
    other = tmp_path / "predictor.dat"
    other.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(WeightsMissingError, match="predictor"):
        read_cascade(other)
