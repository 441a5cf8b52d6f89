"""One lifecycle for every pipeline stage: ``start()``, a bounded channel to the next stage, an
end-of-stream marker, shared stop events, drain before ``join()``.

A ``Flow`` is shared by all stages of one run. ``interrupt`` asks the source to stop reading
(Ctrl-C): everything already read still flows to the output and the container is finalised.
``abort`` stops every stage at once; it is set by the first stage that fails, whose error is
kept for the caller. Every blocking wait polls ``abort``, and a stage always sends ``END``
downstream when it finishes (normally or not), so no thread can block forever.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

POLL_S = 0.05
"""How often blocked puts and gets look at the abort event (seconds)."""


class Aborted(Exception):
    """Raised inside a stage when the flow was aborted; the stage just ends."""


class EndOfStream:
    """The marker a stage sends after its last item."""

    def __repr__(self) -> str:
        return "END"


END = EndOfStream()


class Flow:
    """Stop events and the first error of one pipeline run (shared by all its stages)."""

    def __init__(self) -> None:
        self.interrupt = threading.Event()
        self.abort = threading.Event()
        self._lock = threading.Lock()
        self.failure: tuple[str, BaseException] | None = None

    def fail(self, stage: str, error: BaseException) -> None:
        """Record ``error`` (the first one wins) and abort every stage."""
        with self._lock:
            if self.failure is None:
                self.failure = (stage, error)
        self.abort.set()

    @property
    def aborted_by_request(self) -> bool:
        """Aborted on request (a second Ctrl-C), not by a failure: stop without draining."""
        return self.abort.is_set() and self.failure is None

    def check(self) -> None:
        """Raise ``Aborted`` if the flow was aborted."""
        if self.abort.is_set():
            raise Aborted


class Channel:
    """A FIFO between two stages that never blocks past an abort.

    ``maxsize`` bounds it; ``None`` only where something upstream already bounds the flow.
    """

    def __init__(self, flow: Flow, maxsize: int | None):
        if maxsize is not None and maxsize < 1:
            raise ValueError(f"channel size must be >= 1 or None, got {maxsize}")
        self.flow = flow
        self.maxsize = maxsize
        self._queue: queue.Queue[Any] = queue.Queue(maxsize or 0)

    def put(self, item: Any) -> None:
        """Block while full; raise ``Aborted`` if the flow aborts meanwhile."""
        while True:
            self.flow.check()
            try:
                self._queue.put(item, timeout=POLL_S)
                return
            except queue.Full:
                continue

    def get(self) -> Any:
        """Next item or ``END``; raise ``Aborted`` if the flow aborts while waiting."""
        while True:
            try:
                return self._queue.get(timeout=POLL_S)
            except queue.Empty:
                self.flow.check()

    def close(self) -> None:
        """Send ``END``. After an abort nobody reads any more, so the marker is not needed."""
        try:
            self.put(END)
        except Aborted:
            return

    def drain(self) -> int:
        """Drop whatever is still queued (after the stages stopped); returns how many items."""
        dropped = 0
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return dropped
            dropped += 1

    def qsize(self) -> int:
        return self._queue.qsize()


class Stage:
    """A pipeline stage running ``run()`` on its own thread.

    Subclasses implement ``run()`` (read from upstream, write to ``self.output``) and may
    override ``finish()`` to release resources; ``finish()`` runs on the stage's thread after
    ``run()`` whatever happened, then ``END`` is sent downstream.
    """

    name = "stage"

    def __init__(self, flow: Flow, output: Channel | None):
        self.flow = flow
        self.output = output
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        return None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"stage {self.name} already started")
        self._thread = threading.Thread(target=self._main, name=f"facedeblur-{self.name}", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        try:
            self.run()
        except Aborted:
            pass
        except BaseException as error:  # noqa: BLE001 - any failure is handed to the flow, never lost
            self.flow.fail(self.name, error)
        finally:
            try:
                self.finish()
            except BaseException as error:  # noqa: BLE001 - same: report it instead of dying silently
                self.flow.fail(self.name, error)
            if self.output is not None:
                self.output.close()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; returns whether it has ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
