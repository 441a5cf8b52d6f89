"""The ring buffer of frame slots between the source and the frame-window stage.

A slot is *held* from the moment the source admits it until the window stage releases it,
after the last window that contains it (output t releases slot t - r). At most ``capacity``
slots are held at any time, so the decoded video held by the ring is bounded by

    capacity x (W x H x bytes per pixel of the decoded format + RGB copy W x H x 3 + per-frame cache)

e.g. 16 slots of 1080p yuv420p with an RGB copy: 16 x (3.1 MB + 6.2 MB) = 149 MB, whatever the
length of the stream. ``MemoryEstimate`` adds what the pipeline holds beyond the ring, and
``Pipeline`` picks the capacity that fits its memory budget. Lag: a frame waits for ``radius``
later frames before it is processed.

Back-pressure: for files and pipes the source blocks in ``admit`` until a slot is free, so
nothing is ever dropped. Live sources (devices, network streams) must not stall: when every
slot is held, ``admit(block=False)`` refuses the newly decoded frame (drop-newest) and counts
it in ``dropped``. Frames already admitted are never dropped, so the windows stay consistent
and every admitted frame is output.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .stage import END, POLL_S, EndOfStream, Flow

if TYPE_CHECKING:  # the CLI reads DEFAULT_MAX_MEMORY without loading av and numpy (--help)
    from .frames import FrameSlot

DEFAULT_CAPACITY = 16
DEFAULT_MAX_MEMORY = 4096 * 2**20
"""Default budget, in bytes, for the frames a pipeline holds (``--max-memory`` 4096 MiB)."""
ROW_ALIGN = 128
"""Pixels a decoded row is padded to (FFmpeg's decoders align line sizes; 642 px -> 768)."""


def minimum_capacity(radius: int) -> int:
    """The fewest slots for windows of ``radius``: a window (2 r + 1) plus the frame being decoded."""
    return 2 * radius + 2


def check_capacity(capacity: int, radius: int) -> None:
    """ValueError when ``capacity`` is below ``minimum_capacity(radius)``."""
    if capacity < minimum_capacity(radius):
        raise ValueError(f"ring capacity must be >= 2 * radius + 2 = {minimum_capacity(radius)}, got {capacity}")


def decoded_bytes(width: int, height: int, pix_fmt: str | None) -> int:
    """Bytes of the planes of one decoded ``width`` x ``height`` frame in ``pix_fmt`` (rows
    padded to ``ROW_ALIGN`` pixels; 32 bits a pixel when the format is unknown or opaque)."""
    import av

    bits = av.VideoFormat(pix_fmt).padded_bits_per_pixel if pix_fmt else 0
    padded = -(-width // ROW_ALIGN) * ROW_ALIGN
    return -(-padded * height * (bits or 32) // 8)


@dataclass(frozen=True)
class MemoryEstimate:
    """Frame memory of a pipeline in bytes: ``per_slot`` for each ring slot, ``fixed`` held
    whatever the ring's size (frames queued for or being encoded, results in flight)."""

    per_slot: int
    fixed: int

    def total(self, capacity: int) -> int:
        return capacity * self.per_slot + self.fixed

    def capacity_within(self, budget: int, *, wanted: int) -> int:
        """The most slots, at most ``wanted``, whose ``total`` fits in ``budget`` (0 if none)."""
        return max(0, min(wanted, (budget - self.fixed) // self.per_slot))


class FrameRing:
    """Fixed number of frame slots, delivered to one consumer in admission order."""

    def __init__(self, flow: Flow, *, capacity: int = DEFAULT_CAPACITY, radius: int = 2):
        check_capacity(capacity, radius)
        self.flow = flow
        self.capacity = capacity
        self._held: dict[int, FrameSlot] = {}
        self._ready: deque[FrameSlot | EndOfStream] = deque()
        self._cond = threading.Condition()
        self.dropped = 0
        self.admitted = 0
        self.peak_held = 0

    def admit(self, slot: FrameSlot, *, block: bool) -> bool:
        """Hold ``slot`` and queue it for the consumer. With ``block`` wait for a free slot
        (raises ``Aborted`` if the flow aborts); without, drop the frame when the ring is full
        and return False."""
        with self._cond:
            while len(self._held) >= self.capacity:
                if not block:
                    self.dropped += 1
                    return False
                self._cond.wait(POLL_S)
                self.flow.check()
            self._held[id(slot)] = slot
            self.admitted += 1
            self.peak_held = max(self.peak_held, len(self._held))
            self._ready.append(slot)
            self._cond.notify_all()
            return True

    def close(self) -> None:
        """No more slots will be admitted; the consumer gets ``END`` after the last one."""
        with self._cond:
            self._ready.append(END)
            self._cond.notify_all()

    def get(self) -> FrameSlot | EndOfStream:
        """The next admitted slot, or ``END``; raises ``Aborted`` if the flow aborts."""
        with self._cond:
            while not self._ready:
                self._cond.wait(POLL_S)
                if not self._ready:
                    self.flow.check()
            return self._ready.popleft()

    def release(self, slot: FrameSlot) -> None:
        """The consumer is done with ``slot``: free it for a new frame."""
        with self._cond:
            if self._held.pop(id(slot), None) is None:
                raise ValueError(f"slot {slot.index} is not held by this ring")
            self._cond.notify_all()

    def clear(self) -> None:
        """Forget every slot (after the stages stopped)."""
        with self._cond:
            self._held.clear()
            self._ready.clear()
            self._cond.notify_all()

    @property
    def held(self) -> int:
        with self._cond:
            return len(self._held)

    def held_bytes(self) -> int:
        """Memory of the slots held now (decoded planes, RGB copies, caches)."""
        with self._cond:
            slots = list(self._held.values())
        return sum(slot.nbytes() for slot in slots)

