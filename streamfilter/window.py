"""The frame-window stage: for output frame t it hands the processor the slots of frames
t-r .. t+r (r = ``processor.radius``) and sends frame t's result to the sink.

The first r frames see frame 0 replicated before them and the last r frames see the last frame
replicated after them, so every input frame gets exactly one output frame, also at the end of
the stream (nothing waits for look-ahead that will never come).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from .errors import UsageError
from .frames import FrameSlot, FrameWindow
from .processor import Processor
from .stage import END, Channel, EndOfStream, Flow, Stage
from .stats import Stats


class WindowAssembler:
    """Turns slots (in order) into windows; says when a slot is no longer needed.

    ``push`` and ``finish`` return ``(window, done)`` pairs: ``done`` are the slots that no later
    window uses, to be released once ``window`` has been processed.
    """

    def __init__(self, radius: int):
        if radius < 0:
            raise ValueError(f"window radius must be >= 0, got {radius}")
        self.radius = radius
        self._slots: deque[FrameSlot] = deque()
        self._first = 0
        self._received = 0
        self._next = 0

    def push(self, slot: FrameSlot) -> list[tuple[FrameWindow, tuple[FrameSlot, ...]]]:
        self._slots.append(slot)
        self._received += 1
        ready = []
        while self._next + self.radius < self._received:
            ready.append(self._emit())
        return ready

    def finish(self) -> list[tuple[FrameWindow, tuple[FrameSlot, ...]]]:
        """End of stream: the remaining windows, last frame replicated; then release all."""
        ready = [self._emit() for _ in range(self._next, self._received)]
        if ready:
            window, done = ready[-1]
            ready[-1] = (window, done + tuple(self._slots))
        self._slots.clear()
        return ready

    def _emit(self) -> tuple[FrameWindow, tuple[FrameSlot, ...]]:
        t, r, last = self._next, self.radius, self._received - 1
        slots = tuple(self._slots[min(max(t + k, 0), last) - self._first] for k in range(-r, r + 1))
        self._next += 1
        done: tuple[FrameSlot, ...] = ()
        if t - r >= self._first:
            done = (self._slots.popleft(),)
            self._first += 1
        return FrameWindow(slots), done


class SlotReader(Protocol):
    def get(self) -> FrameSlot | EndOfStream: ...


def windows_in_flight(processor: Processor) -> int:
    """The processor's ``windows_in_flight`` (1 when it has none); UsageError unless an int >= 1."""
    count = getattr(processor, "windows_in_flight", 1)
    if not isinstance(count, int) or count < 1:
        raise UsageError(f"processor windows_in_flight must be an integer >= 1, got {count!r}")
    return count


class WindowStage(Stage):
    """Calls ``processor.process(window)`` for each output frame and sends the results on in
    order. A processor whose ``windows_in_flight`` (default 1) is n > 1 gets up to n windows
    at once, from n worker threads: consecutive frames are processed in parallel while the
    results still leave in frame order, each window's slots released once it has left."""

    name = "process"

    def __init__(self, flow: Flow, processor: Processor, *, upstream: SlotReader, output: Channel,
                 release: Callable[[FrameSlot], None], stats: Stats, latency_budget: float | None = None):
        super().__init__(flow, output)
        self.processor = processor
        self.latency_budget = latency_budget
        self.upstream = upstream
        self.release = release
        self.stats = stats
        self.assembler = WindowAssembler(processor.radius)
        self.in_flight = windows_in_flight(processor)
        self._workers = (ThreadPoolExecutor(self.in_flight, thread_name_prefix="facedeblur-process")
                         if self.in_flight > 1 else None)
        self._pending: deque[tuple[Future, FrameWindow, tuple[FrameSlot, ...]]] = deque()

    def run(self) -> None:
        while True:
            slot = self.upstream.get()
            if slot is END:
                break
            for window, done in self.assembler.push(slot):
                self._submit(window, done)
        for window, done in self.assembler.finish():
            self._submit(window, done)
        while self._pending:
            self._emit_oldest()

    def finish(self) -> None:
        if self._workers is not None:
            self._workers.shutdown(wait=True, cancel_futures=True)

    def _timed(self, window: FrameWindow) -> tuple[object, float]:
        started = time.perf_counter()
        result = self.processor.process(window)
        return result, time.perf_counter() - started

    def _submit(self, window: FrameWindow, done: tuple[FrameSlot, ...]) -> None:
        if self.latency_budget is not None:
            window.center.deadline = window.center.decoded_at + self.latency_budget
        if self._workers is None:
            self._emit(*self._timed(window), window, done)
            return
        self._pending.append((self._workers.submit(self._timed, window), window, done))
        while len(self._pending) >= self.in_flight:
            self._emit_oldest()

    def _emit_oldest(self) -> None:
        future, window, done = self._pending.popleft()
        self._emit(*future.result(), window, done)

    def _emit(self, result: object, seconds: float, window: FrameWindow, done: tuple[FrameSlot, ...]) -> None:
        self.stats.record("process", seconds)
        center = window.center
        if center.faces:
            self.stats.faces += len(center.faces)
        self.stats.face_paths.update(center.face_paths)
        self.output.put((center, result))
        for slot in done:
            self.release(slot)


class AnalysisStage(Stage):
    """Calls ``processor.analyze(slot)`` in decode order, ahead of the window stage.

    On live inputs it passes ``late=True`` while the ring is nearly full, so that the processor
    catches up (e.g. reuses a track's prediction) instead of letting the source drop frames.
    """

    name = "analyze"

    def __init__(self, flow: Flow, processor: Processor, *, upstream: SlotReader, output: Channel,
                 is_late: Callable[[], bool], stats: Stats):
        super().__init__(flow, output)
        self.processor = processor
        self.upstream = upstream
        self.is_late = is_late
        self.stats = stats

    def run(self) -> None:
        while True:
            slot = self.upstream.get()
            if slot is END:
                return
            started = time.perf_counter()
            self.processor.analyze(slot, late=self.is_late())
            self.stats.record("analyze", time.perf_counter() - started)
            self.output.put(slot)
