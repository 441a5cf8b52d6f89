"""Progress bar (tqdm on stderr) for inputs of known length: frames, fps and ETA."""

from __future__ import annotations

from tqdm import tqdm

from .stats import Stats


class Progress:
    """Shows ``frames_out`` of ``total``; does nothing when disabled or the length is unknown.

    The pipeline's main thread calls ``update`` while it waits, so the stages pay nothing.
    """

    def __init__(self, total: int | None, *, enabled: bool, label: str = "facedeblur"):
        self._bar = tqdm(total=total, desc=label, unit="frame", dynamic_ncols=True, leave=False) if enabled and total else None

    def update(self, stats: Stats) -> None:
        if self._bar is not None and stats.frames_out != self._bar.n:
            self._bar.update(stats.frames_out - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
