"""The processor interface: what the pipeline calls for each frame and each window.

The pipeline calls ``analyze(slot)`` once per frame, in decode order, from its analysis thread
(concurrently with ``process`` on earlier windows), and ``process(window)`` once per output
frame, after every slot in the window has been analysed: in order, one at a time, unless the
processor has a ``windows_in_flight`` attribute n > 1, in which case up to n consecutive
windows are processed at once from different threads (results still leave in order). A
processor that caches arrays on its slots (``FrameSlot.cache``) says how many bytes a slot may
hold in a ``slot_cache_bytes`` attribute, counted in the pipeline's memory estimate.
``process`` returns either the centre slot's ``av.VideoFrame`` unchanged (bit-exact
passthrough) or a new (H, W, 3) uint8 RGB array of the same size; the pipeline gives it the
centre frame's pts and time base.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import av
import numpy as np

from .frames import FrameSlot, FrameWindow


@runtime_checkable
class Processor(Protocol):
    radius: int
    """Frames of look-ahead and look-behind the processor needs (window = 2 * radius + 1)."""

    needs_analysis: bool
    """Whether ``analyze`` does anything; when False the pipeline runs no analysis thread."""

    def analyze(self, slot: FrameSlot, *, late: bool = False) -> None:
        """Per-frame work (face tracking). ``late=True`` on live inputs that fall behind: the
        processor must return quickly (e.g. reuse the track's prediction) instead of stalling."""

    def process(self, window: FrameWindow) -> av.VideoFrame | np.ndarray:
        """Return output frame t for ``window.center``."""

    def close(self) -> None:
        """Release resources; called once when the pipeline stops (also after an error)."""


class Passthrough:
    """``--model none``: every frame leaves exactly as it was decoded."""

    radius = 2
    needs_analysis = False

    def analyze(self, slot: FrameSlot, *, late: bool = False) -> None:
        return None

    def process(self, window: FrameWindow) -> av.VideoFrame:
        return window.center.frame

    def close(self) -> None:
        return None
