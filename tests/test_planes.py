"""Writing an RGB region into a decoded 4:2:0 frame (``io.planes.with_region``)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from streamfilter.evaluation.metrics import psnr
from streamfilter.io.planes import with_region, writes_regions


def decoded_like(*, colorspace: int = 1, color_range: int = 1) -> av.VideoFrame:
    """A 160 x 120 yuv420p frame of a smooth, textured picture tagged BT.709 limited range."""
    y, x = np.mgrid[0:120, 0:160]
    rgb = np.stack([x * 1.5, y * 2.0, 128 + 60 * np.sin(x / 7.0) * np.cos(y / 5.0)], axis=-1)
    frame = av.VideoFrame.from_ndarray(np.clip(rgb, 0, 255).astype(np.uint8), format="rgb24")
    out = frame.reformat(format="yuv420p", dst_colorspace="itu709", dst_color_range=color_range)
    out.colorspace, out.color_range = colorspace, color_range
    return out


def test_samples_outside_the_region_stay_decoded():
    frame = decoded_like()
    rgb = frame.to_ndarray(format="rgb24")
    patch = np.clip(rgb[20:80, 40:100].astype(np.int16) + 30, 0, 255).astype(np.uint8)
    out = with_region(frame, 40, 20, patch)
    assert out.format.name == "yuv420p" and (out.colorspace, out.color_range) == (1, 1)
    before, after = frame.to_ndarray(), out.to_ndarray()
    luma_changed = before[:120] != after[:120]
    assert luma_changed[20:80, 40:100].mean() > 0.9
    luma_changed[20:80, 40:100] = False
    assert not luma_changed.any(), "luma outside the region is the decoded luma"
    chroma_before, chroma_after = before[120:].reshape(2, 60, 80), after[120:].reshape(2, 60, 80)
    outside = np.ones((60, 80), bool)
    outside[10:40, 20:50] = False
    np.testing.assert_array_equal(chroma_before[:, outside], chroma_after[:, outside])
    lift = out.to_ndarray(format="rgb24")[30:70, 50:90].astype(np.int16) - rgb[30:70, 50:90]
    assert abs(lift.mean() - 30) < 1.5


def test_unchanged_region_round_trips_above_45_db():
    frame = decoded_like()
    rgb = frame.to_ndarray(format="rgb24")
    out = with_region(frame, 30, 10, np.ascontiguousarray(rgb[10:110, 30:130]))
    assert psnr(out.to_ndarray(format="rgb24"), rgb) >= 45.0


@pytest.mark.parametrize("x0, y0, w, h", [(1, 0, 10, 10), (0, 0, 11, 10), (150, 0, 20, 10), (0, -2, 10, 10)])
def test_odd_or_outside_regions_are_refused(x0, y0, w, h):
    with pytest.raises(ValueError, match="even region"):
        with_region(decoded_like(), x0, y0, np.zeros((h, w, 3), np.uint8))


def test_only_even_planar_420_frames_take_regions():
    assert writes_regions(decoded_like())
    assert not writes_regions(av.VideoFrame(160, 120, "rgb24"))
    assert not writes_regions(av.VideoFrame(161, 120, "yuv420p"))
