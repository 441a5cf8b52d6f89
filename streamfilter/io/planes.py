"""RGB pixels to and from decoded frames in the frame's own pixel format.

``rgb_to_frame`` converts a whole (H, W, 3) RGB array with the colour matrix and range of a
reference frame. ``with_change`` adds an RGB change (what paste-back computed: restored minus
decoded, feathered) to a copy of a decoded planar YUV frame (4:2:0, 4:2:2 or 4:4:4, 8 to 16
bits) in its own samples: the change goes through the frame's colour matrix, range and bit
depth (the conversion is linear, so a change converts on its own) and is averaged over each
chroma sample's pixels. Samples the change does not touch stay exactly as decoded, at their bit
depth, and nothing is converted back and forth: a round trip RGB -> YUV through swscale shifted
an unchanged face region by -0.29 luma levels on a val clip (and -1.1 on a synthetic picture),
a step at the region's edge that this avoids.
"""

from __future__ import annotations

import av
import numba
import numpy as np

SWS_COLORSPACE = {1: "itu709", 4: "fcc", 5: "itu601", 6: "smpte170m", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}
"""AVColorSpace of a frame -> swscale matrix name (unlisted/unspecified: swscale's BT.601 default)."""


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


YUV_WEIGHTS = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 7: (0.212, 0.087), 9: (0.2627, 0.0593), 10: (0.2627, 0.0593)}
"""AVColorSpace -> luma weights (Kr, Kb) of its matrix; others (BT.601, unspecified): (0.299,
0.114), as swscale decodes them."""
BT601_WEIGHTS = (0.299, 0.114)


def region_align(frame: av.VideoFrame) -> int:
    """The chroma subsampling of a planar YUV ``frame`` (1 for 4:4:4, 2 for 4:2:0 and 4:2:2):
    changes ``with_change`` writes start and end on multiples of it."""
    return max(frame.width // frame.planes[1].width, frame.height // frame.planes[1].height)


def writes_regions(frame: av.VideoFrame) -> bool:
    """Whether ``with_change`` can write into ``frame``: planar Y, U, V in three little-endian
    planes (no alpha, no interleaved chroma), the frame size a multiple of ``region_align``."""
    fmt = frame.format
    if fmt.is_rgb or fmt.is_big_endian or fmt.is_bayer or fmt.has_palette or not fmt.is_planar:
        return False
    if len(fmt.components) != 3 or len(frame.planes) != 3 or not fmt.name.startswith("yuv"):
        return False
    align = region_align(frame)
    return frame.width % align == 0 and frame.height % align == 0


def plane_samples(frame: av.VideoFrame) -> list[np.ndarray]:
    """Writable views (h_i, w_i) of the frame's planes, uint8 or (9 to 16 bits) uint16."""
    views = []
    for plane, component in zip(frame.planes, frame.format.components):
        dtype = np.uint8 if component.bits <= 8 else np.uint16
        rows = np.frombuffer(plane, dtype).reshape(plane.height, -1)
        views.append(rows[:, :plane.width])
    return views


def change_matrix(frame: av.VideoFrame) -> np.ndarray:
    """(3, 3) float32: rows map an RGB change in 8-bit levels to the change of the frame's Y,
    U (Cb) and V (Cr) samples, with its colour matrix, range and bit depth."""
    kr, kb = YUV_WEIGHTS.get(frame.colorspace, BT601_WEIGHTS)
    kg = 1.0 - kr - kb
    bits = frame.format.components[0].bits
    full = frame.color_range == 2 or (frame.color_range != 1 and frame.format.name.startswith("yuvj"))
    if full:
        luma = chroma = (2 ** bits - 1) / 255
    else:
        luma, chroma = 219 / 255 * 2 ** (bits - 8), 224 / 255 * 2 ** (bits - 8)
    return np.array([
        [kr * luma, kg * luma, kb * luma],
        [-kr / (2 - 2 * kb) * chroma, -kg / (2 - 2 * kb) * chroma, 0.5 * chroma],
        [0.5 * chroma, -kg / (2 - 2 * kr) * chroma, -kb / (2 - 2 * kr) * chroma],
    ], np.float32)


@numba.njit(nogil=True, cache=True)
def _add_to_plane(plane, x0, y0, change, weights, sx, sy, top):
    """plane[y0 + i, x0 + j] += weights . mean of ``change`` over the (sy, sx) pixels of
    sample (i, j), rounded and clipped to [0, top]."""
    rows, cols = change.shape[0] // sy, change.shape[1] // sx
    inv = 1.0 / (sx * sy)
    for i in range(rows):
        for j in range(cols):
            total = 0.0
            for di in range(sy):
                for dj in range(sx):
                    pixel = change[i * sy + di, j * sx + dj]
                    total += weights[0] * pixel[0] + weights[1] * pixel[1] + weights[2] * pixel[2]
            value = np.floor(plane[y0 + i, x0 + j] + total * inv + 0.5)
            plane[y0 + i, x0 + j] = min(max(value, 0.0), top)


def with_change(frame: av.VideoFrame, x0: int, y0: int, change: np.ndarray) -> av.VideoFrame:
    """A copy of ``frame`` (see ``writes_regions``) with the (h, w, 3) float32 RGB ``change``
    (8-bit levels) added at column ``x0``, row ``y0``; x0, y0, h and w multiples of
    ``region_align``, the region inside the frame."""
    h, w = change.shape[:2]
    align = region_align(frame)
    if x0 % align or y0 % align or h % align or w % align or x0 < 0 or y0 < 0 or x0 + w > frame.width or y0 + h > frame.height:
        raise ValueError(f"region {w}x{h} at ({x0}, {y0}) is not a {align}-aligned region of the {frame.width}x{frame.height} frame")
    out = av.VideoFrame(frame.width, frame.height, frame.format.name)
    matrix = change_matrix(frame)
    top = float(2 ** frame.format.components[0].bits - 1)
    values = np.ascontiguousarray(change, dtype=np.float32)
    for source, target, weights in zip(plane_samples(frame), plane_samples(out), matrix):
        sx, sy = frame.width // source.shape[1], frame.height // source.shape[0]
        target[:] = source
        _add_to_plane(target, x0 // sx, y0 // sy, values, weights, sx, sy, top)
    return copy_colour_tags(out, frame)
