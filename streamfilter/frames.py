"""Frame slots and windows: what flows between pipeline stages.

A ``FrameSlot`` holds one decoded frame plus everything stages attach to it (face tracks,
cached per-frame features). A ``FrameWindow`` is what a processor sees for output frame t:
the slots of frames t-r .. t+r (r = radius, 2 for FineNet), edge slots replicated at the
start and end of the stream.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
import numpy as np

from .orientation import quarter_turns, turn_upright


@dataclass(eq=False)
class FrameSlot:
    """One decoded frame and what the stages attach to it.

    ``index`` is the 0-based decode-order position in the stream; ``pts``/``time_base`` are the
    decoder's, carried unchanged to the output frame. ``faces`` is ``None`` until the face stage
    has run on this slot, then a (possibly empty) list of face tracks; ``face_paths`` says, per
    face, what the processor did with it (e.g. restored, or passed through as sharp). On live
    inputs ``deadline`` is the ``time.perf_counter()`` by which the frame should leave the
    processor (decode time + the latency budget); a processor skips optional work (the network)
    when it cannot meet it. It stays ``None`` for files and pipes. ``decoded_at`` is the
    ``time.perf_counter()`` at which the source admitted the frame. ``cache`` holds per-frame
    results that several windows reuse (e.g. network features), keyed by their owner. Face
    tracks are in the coordinates of the upright frame (``upright()``; see :mod:`.orientation`).
    """

    index: int
    frame: av.VideoFrame
    faces: list[Any] | None = None
    face_paths: tuple[str, ...] = ()
    deadline: float | None = None
    decoded_at: float = field(default_factory=time.perf_counter)
    cache: dict[str, Any] = field(default_factory=dict)
    _rgb: np.ndarray | None = field(default=None, repr=False)
    _upright: np.ndarray | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def pts(self) -> int | None:
        return self.frame.pts

    @property
    def time_base(self) -> Fraction | None:
        return self.frame.time_base

    @property
    def width(self) -> int:
        return self.frame.width

    @property
    def height(self) -> int:
        return self.frame.height

    def rgb(self) -> np.ndarray:
        """The frame as an (H, W, 3) uint8 RGB array, converted once and shared (read-only)."""
        with self._lock:
            if self._rgb is None:
                rgb = self.frame.to_ndarray(format="rgb24")
                rgb.flags.writeable = False
                self._rgb = rgb
            return self._rgb

    @property
    def turns(self) -> int:
        """Counter-clockwise quarter turns that show the frame upright (its display rotation)."""
        return quarter_turns(self.frame)

    def upright(self) -> np.ndarray:
        """``rgb()`` turned upright: (H, W, 3), or (W, H, 3) for a quarter turn; converted once
        and shared (read-only); ``rgb()`` itself when the frame has no display rotation."""
        turns = self.turns
        if turns == 0:
            return self.rgb()
        rgb = self.rgb()
        with self._lock:
            if self._upright is None:
                upright = turn_upright(rgb, turns)
                upright.flags.writeable = False
                self._upright = upright
            return self._upright

    def nbytes(self) -> int:
        """Approximate memory held by this slot (decoded planes + RGB copies + cached arrays)."""
        total = sum(plane.buffer_size for plane in self.frame.planes)
        for array in (self._rgb, self._upright):
            if array is not None:
                total += array.nbytes
        for value in self.cache.values():
            total += getattr(value, "nbytes", 0)
        return total


@dataclass(frozen=True, eq=False)
class FrameWindow:
    """Slots t-r .. t+r around the output frame t (edge slots replicated)."""

    slots: tuple[FrameSlot, ...]

    def __post_init__(self) -> None:
        if len(self.slots) % 2 != 1:
            raise ValueError(f"a window needs an odd number of slots, got {len(self.slots)}")

    @property
    def radius(self) -> int:
        return len(self.slots) // 2

    @property
    def center(self) -> FrameSlot:
        return self.slots[self.radius]
