"""The source: opens the input (file, stdin, network URL or capture device) and decodes its
first video stream with FFmpeg's frame/slice threads, on its own thread; the packets come
from an ``InputReader`` (``io/reader.py``), which demuxes on a thread of its own.

Video frames go into the ring as ``FrameSlot``s, in decode order, with the decoder's pts and
time base. Audio goes to the sink through ``audio`` (see ``io/audio.py``); other streams are
dropped. Decoding errors do not stop the run: damaged packets are skipped and counted, the
rest is processed, and the pipeline reports the damage once the output is finalised. The
source stops reading when the run is interrupted, or when a pipe or live input sends nothing
for its timeout (``VideoSource.timeout``); it then flushes the decoder as at the end of input.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av

from ..errors import InputError
from ..frames import FrameSlot
from ..ring import FrameRing
from ..stage import END, POLL_S, Channel, EndOfStream, Flow, Stage
from ..stats import Stats
from .audio import AudioRoute
from .locations import Location, redact
from .reader import SILENT, InputReader, Silent

log = logging.getLogger("streamfilter")

RECONNECT_DELAY_S = 1.0
TRUNCATION_TOLERANCE_S = 0.5
_DURATION_TAG = re.compile(r"^(\d+):(\d\d):(\d\d(?:\.\d+)?)$")


@dataclass(frozen=True)
class VideoInfo:
    """What the sink needs to know about the input video stream."""

    width: int
    height: int
    time_base: Fraction
    average_rate: Fraction | None
    sample_aspect_ratio: Fraction | None
    frames: int | None
    """Frame count when the container knows it (or can estimate it from its duration)."""


class VideoSource:
    """An opened input with its first video stream selected for threaded decoding.

    ``timeout``: seconds a pipe or live input may send nothing, opening included, before the
    source gives up on it (None: no limit; files have none).
    """

    def __init__(self, location: Location, *, input_format: str | None = None,
                 options: dict[str, str] | None = None, reconnect: int = 0, timeout: float | None = None):
        if reconnect < 0:
            raise ValueError(f"reconnect must be >= 0, got {reconnect}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be > 0 or None, got {timeout}")
        self.location = location
        self.input_format = input_format
        self.options = dict(options or {})
        self.reconnects_left = reconnect if location.kind == "network" else 0
        self.timeout = None if location.kind == "file" else timeout
        self._open(cancelled=lambda: False)

    def _open(self, cancelled: Callable[[], bool]) -> bool:
        """Open the input on a new reader; False if ``cancelled()`` first."""
        reader = InputReader(self.location, input_format=self.input_format, options=self.options,
                             timeout=self.timeout if self.location.is_live else None)
        try:
            container = reader.wait_open(self.timeout, cancelled)
            if container is None:
                reader.close()
                return False
        except BaseException:
            reader.close()
            raise
        self.reader, self.container = reader, container
        self._select_streams()
        return True

    def _select_streams(self) -> None:
        if not self.container.streams.video:
            self.reader.close()
            raise InputError(f"no video stream in {self.location.shown}")
        self.video = self.container.streams.video[0]
        self.video.thread_type = "AUTO"
        self.audio = list(self.container.streams.audio)
        others = [s for s in self.container.streams if s.type not in ("video", "audio")]
        for stream in others:
            log.warning("stream #%d (%s) dropped: only video and audio are written", stream.index, stream.type)
        if len(self.container.streams.video) > 1:
            log.warning("only the first of %d video streams is processed", len(self.container.streams.video))

    @property
    def info(self) -> VideoInfo:
        ctx = self.video.codec_context
        rate = self.video.average_rate or self.video.guessed_rate
        frames = self.video.frames or None
        if frames is None and self.location.kind == "file" and rate:
            seconds = self._duration_seconds()
            frames = round(seconds * rate) if seconds else None
        sar = ctx.sample_aspect_ratio
        return VideoInfo(ctx.width, ctx.height, self.video.time_base, rate, sar if sar else None, frames)

    def _duration_seconds(self) -> float | None:
        if self.video.duration is not None and self.video.time_base is not None:
            return float(self.video.duration * self.video.time_base)
        if self.container.duration is not None:
            return self.container.duration / av.time_base
        return None

    def declared_end_s(self) -> float | None:
        """Where the video stream says it ends (seconds), if the container records it."""
        tb = self.video.time_base
        if self.video.duration is not None and tb is not None:
            return float(((self.video.start_time or 0) + self.video.duration) * tb)
        tag = self.video.metadata.get("DURATION")
        match = _DURATION_TAG.match(tag) if tag else None
        if match is None:
            return None
        hours, minutes, seconds = match.groups()
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)

    def reopen(self, cancelled: Callable[[], bool]) -> bool:
        """Reconnect a network input after a read error (same streams expected); False if
        ``cancelled()`` first."""
        self.reader.close()
        self.reconnects_left -= 1
        retry_at = time.monotonic() + RECONNECT_DELAY_S
        while time.monotonic() < retry_at:
            if cancelled():
                return False
            time.sleep(POLL_S)
        return self._open(cancelled)

    def close(self) -> None:
        self.reader.close()


class SourceStage(Stage):
    """Demux + decode thread: video frames into the ring, audio items into ``audio_out``.

    For live inputs the ring never blocks the source (full ring -> the new frame is dropped and
    counted); for files and pipes the source waits for a free slot.
    """

    name = "source"

    def __init__(self, flow: Flow, source: VideoSource, ring: FrameRing, *, routes: list[AudioRoute],
                 audio_out: Channel, stats: Stats):
        super().__init__(flow, audio_out)
        self.source = source
        self.ring = ring
        self.routes = routes
        self.stats = stats
        self.damage: list[str] = []
        self._index = 0
        self._offset_s = 0.0
        self._last_s: float | None = None
        self._rebase = False
        self._video_flushed = False
        self.silent = False
        """Whether reading stopped because the input sent nothing for ``source.timeout``."""

    def run(self) -> None:
        while True:
            error = self._read_until_end_or_error()
            if error is None:
                break
            reason = f"nothing received for {self.source.timeout:g} s" if error is SILENT else error
            if self.source.reconnects_left > 0 and not self.flow.interrupt.is_set():
                log.warning("input read failed (%s); reconnecting (%d left)", reason, self.source.reconnects_left)
                self._flush_decoder()
                if not self.source.reopen(cancelled=self._stopping):
                    break
                self._rebase = True
                continue
            if error is SILENT:
                self.silent = True
            else:
                self.damage.append(f"read error after frame {self._index}: {error}")
            break
        self._flush_decoder()
        if self.source.location.kind == "file" and not self.flow.interrupt.is_set():
            self._check_length()

    def _check_length(self) -> None:
        """A file that ends well before its declared length was truncated."""
        declared = self.source.declared_end_s()
        if declared is None or self._last_s is None:
            return
        rate = self.source.video.average_rate or self.source.video.guessed_rate
        end = self._last_s + (float(1 / rate) if rate else 0.0)
        if end < declared - TRUNCATION_TOLERANCE_S:
            self.damage.append(f"video ends at {end:.2f} s but the file declares {declared:.2f} s (truncated?)")

    def finish(self) -> None:
        self.ring.close()

    def _stopping(self) -> bool:
        return self.flow.interrupt.is_set() or self.flow.abort.is_set()

    def _read_until_end_or_error(self) -> str | Silent | None:
        """Read packets until end of input or an interrupt (None), a read error (its message)
        or the input's silence (``SILENT``)."""
        video = self.source.video
        by_index = {route.input_stream.index: route for route in self.routes}
        while True:
            packet = self._next_packet()
            if packet is None or packet is END:
                return None
            if packet is SILENT:
                return SILENT
            if isinstance(packet, Exception):
                return redact(str(packet))
            route = by_index.get(packet.stream.index)
            if packet.stream.index == video.index:
                self._video_flushed = packet.size == 0
                self._decode(packet)
            elif route is not None and packet.dts is not None:
                self._send_audio(route, packet)

    def _next_packet(self) -> av.Packet | EndOfStream | Silent | Exception | None:
        """The reader's next item, ``SILENT`` after ``source.timeout`` seconds without one, or
        None once interrupted."""
        waiting_since = time.monotonic()
        timeout = self.source.timeout
        while not self.flow.interrupt.is_set():
            self.flow.check()
            item = self.source.reader.get(POLL_S)
            if item is not None:
                return item
            if timeout is not None and time.monotonic() - waiting_since > timeout:
                return SILENT
        return None

    def _decode(self, packet: av.Packet | None) -> None:
        started = time.perf_counter()
        try:
            frames = self.source.video.decode(packet)
        except av.error.InvalidDataError as exc:
            self.damage.append(f"undecodable video packet at pts {packet.pts if packet else None}: {exc}")
            self.stats.corrupt_packets += 1
            return
        self.stats.record("decode", time.perf_counter() - started)
        for frame in frames:
            self._admit(frame)

    def _admit(self, frame: av.VideoFrame) -> None:
        if frame.time_base is None:
            frame.time_base = self.source.video.time_base
        if frame.pts is None:
            self._stamp(frame)
        if self._rebase:
            self._rebase_after_reconnect(frame)
        if self._offset_s:
            frame.pts += round(self._offset_s / frame.time_base)
        now_s = float(frame.pts * frame.time_base)
        if self._last_s is not None and now_s <= self._last_s:
            self.damage.append(f"frame at {now_s:.3f} s does not follow {self._last_s:.3f} s; skipped")
            self.stats.corrupt_packets += 1
            return
        self._last_s = now_s
        slot = FrameSlot(index=self._index, frame=frame)
        slot.cache["pipeline.decoded_at"] = time.perf_counter()
        self.stats.frames_in += 1
        if self.ring.admit(slot, block=not self.source.location.is_live):
            self._index += 1

    def _stamp(self, frame: av.VideoFrame) -> None:
        """Give a frame without pts (raw elementary streams) the next one at the stream rate."""
        tb = self.source.video.time_base or Fraction(1, 90000)
        rate = self.source.video.average_rate or self.source.video.guessed_rate or 25
        frame.time_base = tb
        frame.pts = 0 if self._last_s is None else round((self._last_s + float(1 / rate)) / tb)

    def _rebase_after_reconnect(self, frame: av.VideoFrame) -> None:
        """Shift timestamps after a reconnect so that they continue after the last frame."""
        self._rebase = False
        if self._last_s is None:
            return
        rate = self.source.video.average_rate or self.source.video.guessed_rate or 25
        self._offset_s = self._last_s + float(1 / rate) - float(frame.pts * frame.time_base)

    def _send_audio(self, route: AudioRoute, packet: av.Packet) -> None:
        if self._offset_s and packet.time_base is not None:
            shift = round(self._offset_s / packet.time_base)
            packet.pts = None if packet.pts is None else packet.pts + shift
            packet.dts += shift
        if route.mode == "copy":
            self.output.put((route, packet))
            return
        try:
            frames = route.input_stream.decode(packet)
        except av.error.InvalidDataError as exc:
            self.damage.append(f"undecodable audio packet at pts {packet.pts}: {exc}")
            return
        for frame in frames:
            self.output.put((route, frame))

    def _flush_decoder(self) -> None:
        """Emit the decoders' buffered frames (demux already flushed video at end of input)."""
        if not self._video_flushed:
            self._decode(None)
            self._video_flushed = True
        for route in self.routes:
            if route.mode == "encode":
                for frame in route.input_stream.decode(None):
                    self.output.put((route, frame))
