"""RGB pixels to and from decoded frames in the frame's own pixel format.

``rgb_to_frame`` converts a whole (H, W, 3) RGB array with the colour matrix and range of a
reference frame. ``with_region`` writes only a changed RGB region into a copy of a decoded
4:2:0 frame: the rest of the frame keeps its decoded samples exactly, and only the region pays
for a colour conversion (at 720p with one face that is a tenth of the frame).
"""

from __future__ import annotations

import av
import numpy as np

SWS_COLORSPACE = {1: "itu709", 4: "fcc", 5: "itu601", 6: "smpte170m", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}
"""AVColorSpace of a frame -> swscale matrix name (unlisted/unspecified: swscale's BT.601 default)."""

PLANAR_420 = ("yuv420p", "yuvj420p")
"""Pixel formats ``with_region`` writes into (8-bit, three planes, chroma halved both ways)."""


def copy_colour_tags(frame: av.VideoFrame, like: av.VideoFrame) -> av.VideoFrame:
    """Give ``frame`` the colour matrix, range, primaries and transfer of ``like``."""
    frame.colorspace = like.colorspace
    frame.color_range = like.color_range
    frame.color_primaries = like.color_primaries
    frame.color_trc = like.color_trc
    return frame


def rgb_to_frame(rgb: np.ndarray, *, like: av.VideoFrame, pix_fmt: str) -> av.VideoFrame:
    """(H, W, 3) uint8 RGB -> frame in ``pix_fmt`` with the colour matrix and range of ``like``."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"processor output must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    out = frame.reformat(
        format=pix_fmt,
        dst_colorspace=SWS_COLORSPACE.get(like.colorspace, "default"),
        dst_color_range=like.color_range or None,
    )
    return copy_colour_tags(out, like)


def writes_regions(frame: av.VideoFrame) -> bool:
    """Whether ``with_region`` can write into ``frame`` (planar 4:2:0, even width and height)."""
    return frame.format.name in PLANAR_420 and frame.width % 2 == 0 and frame.height % 2 == 0


def _planes(samples: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views Y (h, w), U and V (h/2, w/2) of PyAV's (3h/2, w) 4:2:0 array."""
    flat = samples.reshape(-1)
    luma, chroma = height * width, (height // 2) * (width // 2)
    return (flat[:luma].reshape(height, width),
            flat[luma:luma + chroma].reshape(height // 2, width // 2),
            flat[luma + chroma:].reshape(height // 2, width // 2))


def with_region(frame: av.VideoFrame, x0: int, y0: int, rgb: np.ndarray) -> av.VideoFrame:
    """A copy of ``frame`` (see ``writes_regions``) with the (h, w, 3) uint8 RGB ``rgb`` written
    at column ``x0``, row ``y0``; x0, y0, h and w even, the region inside the frame."""
    h, w = rgb.shape[:2]
    if x0 % 2 or y0 % 2 or h % 2 or w % 2 or x0 < 0 or y0 < 0 or x0 + w > frame.width or y0 + h > frame.height:
        raise ValueError(f"region {w}x{h} at ({x0}, {y0}) is not an even region of the {frame.width}x{frame.height} frame")
    samples = frame.to_ndarray()
    region = rgb_to_frame(rgb, like=frame, pix_fmt=frame.format.name).to_ndarray()
    for plane, patch, scale in zip(_planes(samples, frame.height, frame.width), _planes(region, h, w), (1, 2, 2)):
        plane[y0 // scale:(y0 + h) // scale, x0 // scale:(x0 + w) // scale] = patch
    return copy_colour_tags(av.VideoFrame.from_ndarray(samples, format=frame.format.name), frame)
