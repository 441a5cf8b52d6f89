"""Display rotation of decoded frames.

Phones store portrait video as landscape pictures plus a display matrix that turns them
upright on playback (``VideoFrame.rotation``: degrees counter-clockwise). Face detection and
the network need upright faces, so the face stage works on the frame turned upright, while
the output keeps the stored orientation and the input's display matrix (the sink copies it),
so that it plays like the input. Rotations are rounded to quarter turns (the display matrices
cameras write); flips in the matrix are ignored: a mirrored face is still an upright face.
"""

from __future__ import annotations

import av
import numpy as np


def quarter_turns(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns (0-3) that show ``frame`` upright."""
    return round((frame.rotation or 0) / 90) % 4


def upright_rgb(frame: av.VideoFrame) -> np.ndarray:
    """``frame`` as an upright (H', W', 3) uint8 RGB array (contiguous; a copy when turned)."""
    rgb = frame.to_ndarray(format="rgb24")
    return turn_upright(rgb, quarter_turns(frame))


def turn_upright(stored: np.ndarray, turns: int) -> np.ndarray:
    """A stored (H, W, ...) picture turned upright (contiguous); ``stored`` itself for 0 turns."""
    return stored if turns == 0 else np.ascontiguousarray(np.rot90(stored, turns))


def stored_rect(x0: int, y0: int, w: int, h: int, turns: int, width: int, height: int) -> tuple[int, int, int, int]:
    """The rectangle ``(x0, y0, w, h)`` of the upright picture in the stored ``width`` x
    ``height`` picture it was turned from by ``turns`` counter-clockwise quarter turns."""
    for step in range(turns % 4, 0, -1):
        before_width = width if (step - 1) % 2 == 0 else height
        x0, y0, w, h = before_width - y0 - h, x0, h, w
    return x0, y0, w, h


def turn_back(upright: np.ndarray, turns: int) -> np.ndarray:
    """An upright (h, w, ...) patch in the stored orientation (contiguous)."""
    return upright if turns == 0 else np.ascontiguousarray(np.rot90(upright, -turns))
