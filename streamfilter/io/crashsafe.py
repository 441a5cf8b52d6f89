"""Crash-safe output (``--crash-safe``): a run killed without warning (SIGKILL, a crash, power
loss) leaves an output that plays up to its last few seconds, as recording software writes.

``auto`` turns it on when the input is a pipe, a capture device or a network stream (a recording
that cannot be made again) and the output is a file or a pipe; it stays off for file inputs,
where a regular MP4 (index at the end, or at the front with ``movflags=+faststart``) suits
players best, and for network outputs, which keep nothing here. An MP4 written to a pipe is
always fragmented under ``auto`` (a regular one needs to seek back to its start). What it adds
to the muxer's options:

- MP4/MOV (the muxers of FFmpeg's movenc.c): fragmented, a fragment cut at the first keyframe
  at least ``FRAGMENT_S`` after the last one (``frag_keyframe``, ``min_frag_duration``), while
  the sink forces a keyframe every ``KEYFRAME_INTERVAL_S`` of video. ``delay_moov``, not
  ``empty_moov``: the moov is written with the first fragment, so it keeps the first timestamp
  (an empty moov starts the video at 0). It also waits for a first packet on every track.
- Matroska/WebM: a cluster at least every ``CLUSTER_MS`` (FFmpeg holds the open cluster in
  memory, and in a file closes it after 5 s or 5 MB, or at a keyframe past 4 KB).
- MPEG-TS, FLV and NUT are written packet by packet already.
- Every muxer: ``flush_packets=1``, the IO buffer is handed to the system after each packet;
  by default a file's is only once it holds 256 KiB (the file protocol's packet size, file.c).
- A file output: :class:`DiskSync` makes the system write it to the disk (``fsync``) every
  ``SYNC_S`` seconds and at the end, and its folder once; without it a power loss could also
  take what the system still held in memory (Linux writes dirty pages after up to 30 s).

The user's own ``--output-option`` values are kept: their ``movflags`` are merged with these,
refused with ``faststart`` (which rewrites a finished file) or when they clear one of them; a
``flush_packets`` other than 1 is refused; their values of the other keys replace these.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from pathlib import Path

from ..errors import UsageError
from .locations import Location

log = logging.getLogger(__name__)

CrashSafeMode = Literal["auto", "on", "off"]
MODES: tuple[CrashSafeMode, ...] = ("auto", "on", "off")

KEYFRAME_INTERVAL_S = Fraction(2)
"""Longest stretch of MP4 video without a keyframe: at most this much between fragments."""
FRAGMENT_S = 1
"""Shortest MP4 fragment: intra-only codecs (every frame a keyframe) are not cut per frame."""
CLUSTER_MS = 1000
SYNC_S = 2.0
"""Seconds between two ``fsync`` calls of a crash-safe file output."""

MOV_MUXERS = frozenset({"mp4", "mov", "ipod", "3gp", "3g2", "psp", "ismv", "f4v"})
MATROSKA_MUXERS = frozenset({"matroska", "webm"})
STREAMED_MUXERS = frozenset({"mpegts", "flv", "nut"})

MOV_FLAGS = ("frag_keyframe", "delay_moov", "default_base_moof")
_FLAG = re.compile(r"([+-]?)([^+-]+)")


@dataclass(frozen=True)
class CrashSafe:
    """What ``--crash-safe`` decided for one output."""

    enabled: bool
    muxer: str
    options: dict[str, str] = field(default_factory=dict)
    """Muxer options to write the header with (the user's merged in)."""
    keyframe_interval: Fraction | None = None
    """Seconds of video after which the sink forces a keyframe (None: the encoder's own GOP)."""
    note: str | None = None
    """Why ``auto`` left it off for an input that would have wanted it (logged as a warning)."""

    def describe(self) -> str:
        """What an enabled one does, in one line (for ``-v``)."""
        shown = " ".join(f"{key}={value}" for key, value in self.options.items())
        keys = f"; a keyframe at least every {self.keyframe_interval} s" if self.keyframe_interval else ""
        return f"crash-safe {self.muxer} output: {shown}{keys}"


def plan(mode: str, *, source: Location, sink: Location, muxer: str, options: dict[str, str]) -> CrashSafe:
    """Resolve ``mode`` for writing ``sink`` with ``muxer`` from ``source``; ``options`` are the
    user's ``--output-option`` values. ``UsageError`` for an unknown mode, ``on`` with a muxer
    that has no crash-safe mode, or user options that contradict it."""
    if mode not in MODES:
        raise UsageError(f"--crash-safe must be one of {', '.join(MODES)}, got {mode!r}")
    piped_mov = sink.kind == "pipe" and muxer in MOV_MUXERS
    if mode == "off" and piped_mov and "frag_keyframe" not in options.get("movflags", ""):
        raise UsageError(f"--crash-safe off: an {muxer} output on a pipe must be fragmented (it cannot seek back); "
                         f"drop --crash-safe off or pass --output-option movflags=+frag_keyframe+empty_moov")
    if mode == "off" or (mode == "auto" and not piped_mov and (source.kind == "file" or sink.kind == "network")):
        return CrashSafe(enabled=False, muxer=muxer)
    known = MOV_MUXERS | MATROSKA_MUXERS | STREAMED_MUXERS
    if muxer not in known:
        if mode == "auto":
            return CrashSafe(enabled=False, muxer=muxer, note=(
                f"the {muxer} output has no crash-safe mode: a run killed without warning may leave it "
                f"unreadable (use mp4, mkv, ts, flv or nut, or --crash-safe off to silence this)"))
        raise UsageError(f"--crash-safe on: no crash-safe mode for the {muxer} muxer; "
                         f"use mp4/mov, mkv/webm, ts, flv or nut")
    flush = options.get("flush_packets", "1")
    if flush != "1":
        raise UsageError(f"--output-option flush_packets={flush} contradicts crash-safe output, which is flushed "
                         f"after every packet; pass --crash-safe off to keep it")
    added = {"flush_packets": "1"}
    if muxer in MOV_MUXERS:
        added |= {"movflags": _merge_movflags(options.get("movflags")),
                  "min_frag_duration": str(FRAGMENT_S * 1_000_000)}
    elif muxer in MATROSKA_MUXERS:
        added["cluster_time_limit"] = str(CLUSTER_MS)
    merged = added | {key: value for key, value in options.items() if key in added and key != "movflags"}
    return CrashSafe(enabled=True, muxer=muxer, options=merged,
                     keyframe_interval=KEYFRAME_INTERVAL_S if muxer in MOV_MUXERS else None)


def _merge_movflags(user: str | None) -> str:
    """The user's ``movflags`` plus ``MOV_FLAGS``; ``UsageError`` where they cannot go together."""
    ours = "+" + "+".join(MOV_FLAGS)
    if not user:
        return ours
    for sign, flag in _FLAG.findall(user):
        if flag == "faststart" and sign != "-":
            raise UsageError(f"--output-option movflags={user}: faststart rewrites a finished file and cannot be "
                             f"combined with crash-safe (fragmented) MP4; pass --crash-safe off to use it")
        if flag in MOV_FLAGS and sign == "-":
            raise UsageError(f"--output-option movflags={user} clears {flag}, which crash-safe MP4 needs; "
                             f"pass --crash-safe off to use it")
    return user + ours


class DiskSync:
    """``fsync`` of the file at ``path`` every ``interval`` seconds from a background thread,
    once it exists (the muxer creates it with its first packet), its folder once, and the file
    a last time at :meth:`close`. A file system that refuses ``fsync`` gets one warning."""

    def __init__(self, path: Path, *, interval: float = SYNC_S):
        self.path = path
        self.interval = interval
        self.syncs = 0
        self._fd: int | None = None
        self._failed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="facedeblur-sync", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sync()

    def _sync(self) -> None:
        if self._failed:
            return
        try:
            if self._fd is None:
                try:
                    self._fd = os.open(self.path, os.O_RDONLY)
                except FileNotFoundError:
                    return
                folder = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(folder)
                finally:
                    os.close(folder)
            os.fsync(self._fd)
            self.syncs += 1
        except OSError as exc:
            self._failed = True
            log.warning("cannot fsync %s (%s): a power loss may take what the system has not written yet",
                        self.path, exc.strerror or exc)

    def close(self) -> None:
        """Stop the thread, then sync a last time (call after the container is closed)."""
        self._stop.set()
        self._thread.join()
        self._sync()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
