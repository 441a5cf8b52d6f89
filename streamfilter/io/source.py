"""The source: opens the input (file, stdin, network URL or capture device) and decodes its
first video stream with FFmpeg's frame/slice threads, on its own thread; the packets come
from an ``InputReader`` (``io/reader.py``), which demuxes on a thread of its own.

Video frames go into the ring as ``FrameSlot``s, in decode order, with the decoder's pts and
time base. Audio goes to the sink through ``audio`` (see ``io/audio.py``); other streams are
dropped. Decoding errors do not stop the run: damaged packets are skipped and counted, the
rest is processed, and the pipeline reports the damage once the output is finalised. The
source stops reading when the run is interrupted, or when a pipe or live input sends nothing
for its timeout (``VideoSource.timeout``); it then flushes the decoder as at the end of input.

Reconnecting (``reconnect``): a network input that fails, goes silent or, when live (no
declared duration), ends is reopened, up to ``reconnect`` times in all, each attempt a second
after the last. The frames read so far are flushed out of the decoders first, the audio routes
move to the new input's streams, and the new segment is shifted by one offset, for video and
audio alike, so that it starts where what was read so far ends: the output stays one stream
whose timestamps only go forward. When every attempt fails, reading ends as at the end of
input and the pipeline reports the input as lost.

A live input can also start a new timeline on the same connection: an RTMP server hands its
players the next publisher's stream, timestamps from 0 again. A packet whose time goes back by
more than ``JUMP_BACK_S``, or leaps ahead by more than ``JUMP_AHEAD_S``, of its stream's last
one shifts the offset the same way (with a warning), without reopening anything. Offsets are
applied to packets, before decoding, so that a decoder sees one timeline.
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
from .audio import AudioRoute, codec_name, without_repeated_config
from .locations import Location, redact
from .reader import SILENT, InputReader, Silent

log = logging.getLogger("streamfilter")

RECONNECT_DELAY_S = 1.0
JUMP_BACK_S = 0.1
JUMP_AHEAD_S = 10.0
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
    source gives up on it (None: no limit; inputs that never wait, ``Location.waits``, have none).
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
        self.timeout = timeout if location.waits else None
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

    @property
    def endless(self) -> bool:
        """Whether an end of this input means that its sender went away: a network stream that
        declares no duration (live), not a finite file served over HTTP."""
        return self.location.kind == "network" and not self.container.duration

    def start_s(self) -> float:
        """Where the earliest stream of the input starts (seconds; 0 when the container does not
        say)."""
        start = self.container.start_time
        return 0.0 if start is None else start / av.time_base

    def reopen(self, cancelled: Callable[[], bool]) -> bool:
        """Reconnect a network input that was lost (same streams expected); False if
        ``cancelled()`` first. Raises ``InputError`` when the input does not open again (one
        reconnect used all the same)."""
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
        """Shift of the current input segment (seconds; 0 until a reconnect or a jump)."""
        self._last_dts_s: dict[int, float] = {}
        """Per stream index: the shifted decoding time of its last packet (this segment)."""
        self._last_s: float | None = None
        """Time of the last video frame admitted."""
        self._end_s: float | None = None
        """Where the video and audio read so far end."""
        self._audio_streams = [(source.audio.index(route.input_stream), _describe(route.input_stream))
                               for route in routes]
        """Per route: the rank of its stream among the input's audio streams, and what it holds."""
        self._by_index = {route.input_stream.index: route for route in routes}
        self._video_flushed = False
        self.silent = False
        """Whether reading stopped because the input sent nothing for ``source.timeout``."""
        self.lost: str | None = None
        """Why reading stopped after every reconnect failed (None: it did not)."""

    def run(self) -> None:
        while True:
            ended = self._read_until_end_or_error()
            if ended is None or (ended is END and not self.source.endless):
                break
            if self.source.reconnects_left > 0 and not self._stopping():
                if self._reconnect(ended):
                    continue
                break
            if ended is SILENT:
                self.silent = True
            elif ended is not END:
                self.damage.append(f"read error after frame {self._index}: {ended}")
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

    def _reconnect(self, ended: EndOfStream | Silent | str) -> bool:
        """Reopen the input lost with ``ended`` (``END``, ``SILENT`` or a read error), trying
        while reconnects are left; False if cancelled, or if every attempt failed (then
        recorded in ``lost``)."""
        if ended is END:
            reason = "end of stream"
        elif ended is SILENT:
            reason = f"nothing received for {self.source.timeout:g} s"
        else:
            reason = ended
        log.warning("input lost after frame %d (%s); reconnecting (%d left)", self._index, reason,
                    self.source.reconnects_left)
        self._flush_decoder()
        failed = 0
        while True:
            try:
                if not self.source.reopen(cancelled=self._stopping):
                    return False
                break
            except InputError as error:
                failed += 1
                if self.source.reconnects_left == 0:
                    attempts = "1 reconnect" if failed == 1 else f"{failed} reconnects"
                    self.lost = f"connection lost after frame {self._index} ({reason}) and {attempts} failed: {error}"
                    return False
                log.warning("reconnecting failed (%s); trying again (%d left)", error, self.source.reconnects_left)
        self._route_audio()
        self._last_dts_s = {}
        if self._end_s is not None:
            self._offset_s = self._end_s - self.source.start_s()
        return True

    def _route_audio(self) -> None:
        """Move the audio routes to the reopened input's streams of the same rank; a route whose
        stream is missing or holds other audio now gets none (with a warning)."""
        streams = self.source.audio
        for route, (rank, held) in zip(self.routes, self._audio_streams):
            stream = streams[rank] if rank < len(streams) else None
            now = None if stream is None else _describe(stream)
            if now != held:
                log.warning("audio stream #%d dropped after the reconnect: the input now has %s instead of %s",
                            rank, now or "no such stream", held)
                continue
            route.input_stream = stream
            self._by_index[stream.index] = route

    def _read_until_end_or_error(self) -> EndOfStream | Silent | str | None:
        """Read packets until the end of input (``END``), a read error (its message), the input's
        silence (``SILENT``) or an interrupt (None)."""
        video = self.source.video
        while True:
            packet = self._next_packet()
            if packet is None or packet is END or packet is SILENT:
                return packet
            if isinstance(packet, Exception):
                return redact(str(packet))
            route = self._by_index.get(packet.stream.index)
            if packet.stream.index == video.index:
                self._video_flushed = packet.size == 0
                self._shift(packet)
                self._decode(packet)
            elif route is not None and packet.dts is not None:
                self._shift(packet)
                self._send_audio(route, packet)

    def _shift(self, packet: av.Packet) -> None:
        """Move ``packet`` by the segment's offset and extend where what was read ends; on a
        live input, first start a new offset where its decoding time jumps (see the module
        docstring; a packet with a pts only is shifted, not judged: pts follow display order)."""
        if packet.time_base is None or (packet.dts is None and packet.pts is None):
            return
        if packet.dts is not None:
            at = float(packet.dts * packet.time_base) + self._offset_s
            last = self._last_dts_s.get(packet.stream.index)
            if (self.source.location.is_live and last is not None and self._end_s is not None
                    and not last - JUMP_BACK_S <= at <= last + JUMP_AHEAD_S):
                log.warning("input timestamps jump from %.3f s to %.3f s after frame %d (a new sender?); "
                            "continuing at %.3f s", last, at, self._index, self._end_s)
                self._offset_s = self._end_s - float(packet.dts * packet.time_base)
                at = self._end_s
            self._last_dts_s[packet.stream.index] = at
        if self._offset_s:
            shift = round(self._offset_s / packet.time_base)
            if packet.dts is not None:
                packet.dts += shift
            if packet.pts is not None:
                packet.pts += shift
        start = packet.dts if packet.pts is None else packet.pts
        length = packet.duration or (round(1 / (self._rate() * packet.time_base))
                                     if packet.stream.type == "video" else 0)
        self._reached(float((start + length) * packet.time_base))

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
        now_s = float(frame.pts * frame.time_base)
        if self._last_s is not None and now_s <= self._last_s:
            self.damage.append(f"frame at {now_s:.3f} s does not follow {self._last_s:.3f} s; skipped")
            self.stats.corrupt_packets += 1
            return
        self._last_s = now_s
        self._reached(now_s + float(1 / self._rate()))
        slot = FrameSlot(index=self._index, frame=frame)
        self.stats.frames_in += 1
        if self.ring.admit(slot, block=not self.source.location.is_live):
            self._index += 1

    def _rate(self) -> Fraction:
        return self.source.video.average_rate or self.source.video.guessed_rate or Fraction(25)

    def _stamp(self, frame: av.VideoFrame) -> None:
        """Give a frame without pts (raw elementary streams) the next one at the stream rate."""
        tb = self.source.video.time_base or Fraction(1, 90000)
        frame.time_base = tb
        frame.pts = 0 if self._last_s is None else round((self._last_s + float(1 / self._rate())) / tb)

    def _reached(self, end_s: float) -> None:
        self._end_s = end_s if self._end_s is None else max(self._end_s, end_s)

    def _send_audio(self, route: AudioRoute, packet: av.Packet) -> None:
        if route.mode == "copy":
            self.output.put((route, without_repeated_config(packet, route.input_stream)))
            return
        try:
            frames = route.input_stream.decode(packet)
        except av.error.InvalidDataError as exc:
            self.damage.append(f"undecodable audio packet at pts {packet.pts}: {exc}")
            return
        for frame in frames:
            self.output.put((route, frame))

    def _flush_decoder(self) -> None:
        """Emit the decoders' buffered frames (demux already flushed video at end of input);
        the audio routes take no more packets until ``_route_audio``."""
        if not self._video_flushed:
            self._decode(None)
            self._video_flushed = True
        routes, self._by_index = self._by_index, {}
        for route in routes.values():
            if route.mode == "encode":
                for frame in route.input_stream.decode(None):
                    self.output.put((route, frame))


def _describe(stream: av.audio.stream.AudioStream) -> str:
    """An audio stream's codec, rate and channels: what a reopened input must hold again."""
    ctx = stream.codec_context
    return f"{codec_name(stream)} at {ctx.sample_rate} Hz, {ctx.channels} channel(s)"
