"""The input is opened and read on a thread of its own, so that a read that blocks (a silent
pipe, network stream or device) never keeps the run from stopping.

FFmpeg reads a pipe with a plain blocking ``read()`` that nothing interrupts, some capture
devices block likewise, and network protocols wait until FFmpeg's interrupt callback gives up
(``av.open(timeout=...)``, which only knows a timeout). An ``InputReader`` thread opens the
input and, from the first ``get``, demuxes every stream into a short queue; the source waits
on that queue in slices of ``POLL_S``, so Ctrl-C, or an input that sends nothing for its
timeout, ends the run whatever the read is doing. A reader that was given up on stops when
its read returns: at once for stdin (``PipeInput``), after FFmpeg's timeout for network
inputs (and the devices that honour it). Its container is closed by whichever of ``close()``
and the thread comes last, never under a read.
"""

from __future__ import annotations

import os
import queue
import select
import threading
import time
from collections.abc import Callable

import av

from ..errors import CodecError, InputError
from ..stage import END, POLL_S, EndOfStream
from .locations import Location, check_input, redact

QUEUE_PACKETS = 8
"""Packets read ahead of the decoder."""
CLOSE_WAIT_S = 0.2
"""How long ``close()`` waits for the reader thread before leaving the container to it."""


class Silent:
    """The marker a reader queues when FFmpeg gave up waiting for data (its timeout)."""

    def __repr__(self) -> str:
        return "SILENT"


SILENT = Silent()


def opening_timed_out(location: Location, seconds: float) -> str:
    """How an input that did not open within its timeout is reported."""
    return f"nothing received from {location.shown} within {seconds:g} s (--input-timeout)"


class PipeInput:
    """stdin as a file object for ``av.open``: ``read`` waits for data with ``select`` in
    slices of ``POLL_S`` and returns end of file once ``stop`` is set. POSIX only (``select``
    takes only sockets on Windows, where FFmpeg reads stdin itself and a reader given up on
    stays in its read until the process exits)."""

    name = "pipe:0"

    def __init__(self, fd: int, stop: threading.Event):
        self.fd = fd
        self.stop = stop

    def read(self, size: int) -> bytes:
        while not self.stop.is_set():
            ready, _, _ = select.select([self.fd], [], [], POLL_S)
            if ready:
                return os.read(self.fd, size)
        return b""


def open_input(location: Location, *, input_format: str | None, options: dict[str, str],
               timeout: float | None = None, stop: threading.Event | None = None) -> av.container.InputContainer:
    """Open ``location`` for reading; any failure becomes one ``InputError`` line.

    stdin is read through ``PipeInput`` (end of file once ``stop`` is set); ``timeout``
    (seconds) bounds FFmpeg's own waits, opening included, where its protocol polls for them.
    """
    if input_format is not None:
        check_format(input_format, "r")
    check_input(location)
    piped = location.kind == "pipe" and os.name == "posix"
    target = PipeInput(0, stop or threading.Event()) if piped else location.url
    try:
        return av.open(target, "r", format=input_format, options=options, timeout=timeout)
    except av.error.ExitError as exc:
        raise InputError(opening_timed_out(location, timeout)) from exc
    except av.error.InvalidDataError as exc:
        raise InputError(f"not a readable media file: {location.shown}") from exc
    except (av.FFmpegError, OSError) as exc:
        raise InputError(f"cannot open input {location.shown}: {exc.strerror or redact(str(exc))}") from exc


def check_format(name: str, mode: str) -> None:
    """Raise ``CodecError`` unless FFmpeg has a demuxer (``mode='r'``) or muxer (``'w'``) ``name``."""
    kind = "input" if mode == "r" else "output"
    try:
        av.format.ContainerFormat(name, mode)
    except ValueError as exc:
        listing = "ffmpeg -demuxers" if mode == "r" else "ffmpeg -muxers"
        raise CodecError(f"unknown {kind} format {name!r} (see `{listing}`)") from exc


class InputReader:
    """Opens ``location`` and demuxes all of its streams into a queue, on a daemon thread.

    ``get`` hands out the packets, then ``END`` at the end of the input, ``SILENT`` when
    FFmpeg's ``timeout`` expired, or the read error (an exception).
    """

    def __init__(self, location: Location, *, input_format: str | None, options: dict[str, str],
                 timeout: float | None):
        self.location = location
        self.container: av.container.InputContainer | None = None
        self._error: Exception | None = None
        self._stop = threading.Event()
        self._opened = threading.Event()
        self._wanted = threading.Event()
        self._packets: queue.Queue[av.Packet | EndOfStream | Silent | Exception] = queue.Queue(QUEUE_PACKETS)
        self._lock = threading.Lock()
        self._done = False
        self._close_when_done = False
        self._thread = threading.Thread(target=self._main, args=(input_format, options, timeout),
                                        name="facedeblur-reader", daemon=True)
        self._thread.start()

    def wait_open(self, timeout: float | None, cancelled: Callable[[], bool]) -> av.container.InputContainer | None:
        """The opened container, or None if ``cancelled()`` came first. Raises what the open
        raised, or ``InputError`` when it took longer than ``timeout`` seconds."""
        started = time.monotonic()
        while not self._opened.wait(POLL_S):
            if cancelled():
                return None
            if timeout is not None and time.monotonic() - started > timeout:
                raise InputError(opening_timed_out(self.location, timeout))
        if self._error is not None:
            raise self._error
        return self.container

    def get(self, timeout: float) -> av.Packet | EndOfStream | Silent | Exception | None:
        """The next item, or None if nothing came within ``timeout`` seconds (the first call
        starts the reading)."""
        self._wanted.set()
        try:
            return self._packets.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        """Stop reading; close the container now, or when the read in progress returns."""
        self._stop.set()
        self._thread.join(CLOSE_WAIT_S)
        with self._lock:
            if not self._done:
                self._close_when_done = True
                return
        if self.container is not None:
            self.container.close()

    def _main(self, input_format: str | None, options: dict[str, str], timeout: float | None) -> None:
        try:
            self.container = open_input(self.location, input_format=input_format, options=options,
                                        timeout=timeout, stop=self._stop)
        except Exception as error:  # noqa: BLE001 - handed to whoever waits in wait_open
            self._error = error
        self._opened.set()
        try:
            while self.container is not None and not self._stop.is_set():
                if self._wanted.wait(POLL_S):
                    self._demux()
                    break
        finally:
            with self._lock:
                self._done = True
                close = self._close_when_done and self.container is not None
            if close:
                self.container.close()

    def _demux(self) -> None:
        try:
            for packet in self.container.demux():
                if not self._put(packet):
                    return
        except av.error.ExitError:
            self._put(SILENT)
        except (av.FFmpegError, OSError) as error:
            self._put(error)
        else:
            self._put(END)

    def _put(self, item: av.Packet | EndOfStream | Silent | Exception) -> bool:
        """Queue ``item`` unless the reader is stopped first (returns whether it was queued)."""
        while not self._stop.is_set():
            try:
                self._packets.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False
