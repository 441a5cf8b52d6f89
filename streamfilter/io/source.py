"""The source: opens the input (file, stdin, network URL or capture device), demuxes it and
decodes its first video stream with FFmpeg's frame/slice threads, on its own thread.

Video frames go into the ring as ``FrameSlot``s, in decode order, with the decoder's pts and
time base. Audio goes to the sink through ``audio`` (see ``io/audio.py``); other streams are
not read. Decoding errors do not stop the run: damaged packets are skipped and counted, the
rest is processed, and the pipeline reports the damage once the output is finalised.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from fractions import Fraction

import av

from ..errors import CodecError, InputError
from ..frames import FrameSlot
from ..ring import FrameRing
from ..stage import Channel, Flow, Stage
from ..stats import Stats
from .audio import AudioRoute
from .locations import Location, check_input, redact

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


def open_input(location: Location, *, input_format: str | None, options: dict[str, str]) -> av.container.InputContainer:
    """Open ``location`` for reading; any failure becomes one ``InputError`` line."""
    if input_format is not None:
        check_format(input_format, "r")
    check_input(location)
    try:
        return av.open(location.url, "r", format=input_format, options=options)
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


class VideoSource:
    """An opened input with its first video stream selected for threaded decoding."""

    def __init__(self, location: Location, *, input_format: str | None = None,
                 options: dict[str, str] | None = None, reconnect: int = 0):
        if reconnect < 0:
            raise ValueError(f"reconnect must be >= 0, got {reconnect}")
        self.location = location
        self.input_format = input_format
        self.options = dict(options or {})
        self.reconnects_left = reconnect if location.kind == "network" else 0
        self.container = open_input(location, input_format=input_format, options=self.options)
        self._select_streams()

    def _select_streams(self) -> None:
        if not self.container.streams.video:
            self.container.close()
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

    def reopen(self) -> None:
        """Reconnect a network input after a read error (same streams expected)."""
        self.container.close()
        self.reconnects_left -= 1
        time.sleep(RECONNECT_DELAY_S)
        self.container = open_input(self.location, input_format=self.input_format, options=self.options)
        self._select_streams()

    def close(self) -> None:
        self.container.close()


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

    def run(self) -> None:
        while True:
            error = self._read_until_end_or_error()
            if error is None:
                break
            if self.source.reconnects_left > 0 and not self.flow.interrupt.is_set():
                log.warning("input read failed (%s); reconnecting (%d left)", error, self.source.reconnects_left)
                self._flush_decoder()
                self.source.reopen()
                self._rebase = True
                continue
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

    def _read_until_end_or_error(self) -> str | None:
        """Read packets until end of input (None) or a read error (its message)."""
        video = self.source.video
        by_index = {route.input_stream.index: route for route in self.routes}
        streams = [video] + [route.input_stream for route in self.routes]
        packets = self.source.container.demux(streams)
        while not self.flow.interrupt.is_set():
            self.flow.check()
            try:
                packet = next(packets)
            except StopIteration:
                return None
            except (av.FFmpegError, OSError) as exc:
                return redact(str(exc))
            if packet.stream.index == video.index:
                self._video_flushed = packet.size == 0
                self._decode(packet)
            elif packet.dts is not None:
                self._send_audio(by_index[packet.stream.index], packet)
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
