"""Adding an RGB change to a decoded planar YUV frame in its own samples (``io.planes.with_change``)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from streamfilter.io.planes import plane_samples, region_align, with_change, writes_regions

FORMATS = [("yuv420p", 2), ("yuvj420p", 2), ("yuv420p10le", 2), ("yuv422p", 2), ("yuv444p", 1), ("yuv444p12le", 1)]


def decoded_like(*, pix_fmt: str = "yuv420p", colorspace: int = 1, color_range: int = 1) -> av.VideoFrame:
    """A 160 x 120 ``pix_fmt`` frame of a smooth, textured picture, tagged with ``colorspace``
    and ``color_range`` and converted with them."""
    y, x = np.mgrid[0:120, 0:160]
    rgb = np.stack([x * 1.5, y * 2.0, 128 + 60 * np.sin(x / 7.0) * np.cos(y / 5.0)], axis=-1)
    frame = av.VideoFrame.from_ndarray(np.clip(rgb, 0, 255).astype(np.uint8), format="rgb24")
    matrix = {1: "itu709", 5: "itu601", 9: "bt2020"}[colorspace]
    out = frame.reformat(format=pix_fmt, dst_colorspace=matrix, dst_color_range=color_range)
    out.colorspace, out.color_range = colorspace, color_range
    return out


def region(align: int) -> tuple[int, int, int, int]:
    """x0, y0, w, h of the test region: odd corners where the format allows them."""
    return (41, 21, 61, 59) if align == 1 else (40, 20, 60, 60)


@pytest.mark.parametrize("pix_fmt, align", FORMATS)
def test_change_lands_in_the_region_at_the_frames_depth(pix_fmt, align):
    frame = decoded_like(pix_fmt=pix_fmt, color_range=2 if pix_fmt.startswith("yuvj") else 1)
    assert writes_regions(frame) and region_align(frame) == align
    x0, y0, w, h = region(align)
    rgb = frame.to_ndarray(format="rgb24").astype(np.int16)
    out = with_change(frame, x0, y0, np.full((h, w, 3), 20.0, np.float32))
    assert out.format.name == pix_fmt and (out.colorspace, out.color_range) == (frame.colorspace, frame.color_range)
    for before, after in zip(plane_samples(frame), plane_samples(out)):
        sx, sy = 160 // before.shape[1], 120 // before.shape[0]
        inside = np.zeros(before.shape, bool)
        inside[y0 // sy:(y0 + h) // sy, x0 // sx:(x0 + w) // sx] = True
        np.testing.assert_array_equal(before[~inside], after[~inside])
    if pix_fmt.endswith("le"):
        assert plane_samples(out)[0].max() > 255, "high-bit-depth samples stay high-bit-depth"
    lift = out.to_ndarray(format="rgb24")[y0 + 4:y0 + h - 4, x0 + 4:x0 + w - 4].astype(np.int16) - rgb[y0 + 4:y0 + h - 4, x0 + 4:x0 + w - 4]
    assert np.abs(lift.reshape(-1, 3).mean(axis=0) - 20).max() < 0.6, "a grey lift of 20 levels in every channel"


@pytest.mark.parametrize("colorspace", [1, 5, 9])
def test_colour_change_follows_the_frames_matrix(colorspace):
    """A red-only change stays red-only when decoded with the frame's own matrix (a varying
    change, so that rounding each sample to an integer averages out)."""
    frame = decoded_like(pix_fmt="yuv444p", colorspace=colorspace)
    change = np.zeros((40, 40, 3), np.float32)
    change[..., 0] = np.random.default_rng(0).uniform(15, 35, size=(40, 40))
    out = with_change(frame, 60, 40, change)
    lift = out.to_ndarray(format="rgb24")[40:80, 60:100].astype(np.int16) - frame.to_ndarray(format="rgb24")[40:80, 60:100]
    np.testing.assert_allclose(lift.reshape(-1, 3).mean(axis=0), [25, 0, 0], atol=0.4)


def test_zero_change_leaves_every_sample_as_decoded():
    frame = decoded_like(pix_fmt="yuv420p10le")
    out = with_change(frame, 20, 10, np.zeros((80, 100, 3), np.float32))
    for before, after in zip(plane_samples(frame), plane_samples(out)):
        np.testing.assert_array_equal(before, after)


def test_change_is_clipped_to_the_sample_range():
    frame = decoded_like(pix_fmt="yuv420p")
    out = with_change(frame, 0, 0, np.full((120, 160, 3), 400.0, np.float32))
    luma = plane_samples(out)[0]
    assert luma.max() == 255 and luma.min() > plane_samples(frame)[0].min()


@pytest.mark.parametrize("x0, y0, w, h", [(1, 0, 10, 10), (0, 0, 11, 10), (150, 0, 20, 10), (0, -2, 10, 10)])
def test_misaligned_or_outside_regions_are_refused(x0, y0, w, h):
    with pytest.raises(ValueError, match="2-aligned region"):
        with_change(decoded_like(pix_fmt="yuv422p"), x0, y0, np.zeros((h, w, 3), np.float32))


def test_only_planar_yuv_frames_of_aligned_size_take_changes():
    assert writes_regions(decoded_like())
    assert not writes_regions(av.VideoFrame(160, 120, "rgb24"))
    assert not writes_regions(av.VideoFrame(161, 120, "yuv420p"))
    assert not writes_regions(av.VideoFrame(160, 120, "nv12")), "interleaved chroma"
    assert not writes_regions(av.VideoFrame(160, 120, "yuva420p")), "alpha"
    assert writes_regions(av.VideoFrame(161, 121, "yuv444p"))
