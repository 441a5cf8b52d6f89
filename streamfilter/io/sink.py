"""The sink: encodes output frames and muxes them with the audio, on its own thread.

A processor result that is an ``av.VideoFrame`` (the decoded frame itself, or a copy with
only the faces changed, see ``planes.with_change``) is encoded as is, reformatted only when
the encoder needs another pixel format (``--model none`` is bit-exact up to the encoder). An
(H, W, 3) uint8 RGB array is converted back to the encoder's pixel format with the input's
colour matrix and range (BT.601/BT.709/..., limited/full). The output video stream takes the input's time base, pts,
resolution, sample aspect ratio, colour tags and rotation (display matrix). With ``compare``
the input and the output stand side by side as displayed: for a quarter-turned (portrait
phone) input they are stacked in the stored picture, which its display matrix turns upright.
A crash-safe output (``crashsafe.py``) gets its muxer options, and for MP4 a keyframe forced
every ``keyframe_interval`` seconds of video (by pts, so variable frame rate is kept).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from av.video.frame import PictureType

from ..errors import CodecError, OutputError, UsageError
from ..frames import FrameSlot
from ..orientation import quarter_turns, turn_back, turn_upright
from ..stage import END, Channel, Flow, Stage
from ..stats import Stats
from . import audio, crashsafe
from .audio import AudioRoute
from .crashsafe import CrashSafe, DiskSync
from .locations import Location, redact
from .planes import rgb_to_frame
from .reader import check_format
from .source import VideoInfo

log = logging.getLogger("streamfilter")

_BITRATE = re.compile(r"^(\d+(?:\.\d+)?)([kKmMgG]?)$")


def parse_bitrate(text: str) -> int:
    """'2M', '800k', '1500000' -> bits per second."""
    match = _BITRATE.match(text.strip())
    if not match:
        raise UsageError(f"--bitrate must look like 800k, 2M or 1500000, got {text!r}")
    scale = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


@dataclass(frozen=True, kw_only=True)
class EncoderOptions:
    """``-c``, ``--crf``, ``--preset``, ``--pix-fmt``, ``--bitrate`` and the repeated
    ``--codec-option K=V`` (``extra``), checked up front: an option the encoder does not
    consume, or a value it refuses, is a ``UsageError``."""

    codec: str = "libx264"
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    bitrate: str | None = None
    extra: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        try:
            codec = av.Codec(self.codec, "w")
        except (av.error.EncoderNotFoundError, ValueError) as exc:
            raise CodecError(f"unknown encoder {self.codec!r} (see `ffmpeg -encoders`)") from exc
        if codec.type != "video":
            raise CodecError(f"{self.codec!r} is a {codec.type} encoder; -c needs a video encoder")
        if self.crf is not None and self.crf < 0:
            raise UsageError(f"--crf must be >= 0, got {self.crf}")
        if self.pix_fmt is not None:
            allowed = [f.name for f in codec.video_formats or ()]
            if allowed and self.pix_fmt not in allowed:
                raise CodecError(f"{self.codec} cannot encode --pix-fmt {self.pix_fmt!r}; allowed: {', '.join(allowed)}")
        if self.bitrate is not None:
            parse_bitrate(self.bitrate)
        if self.preset is not None and self._opens({"preset": self.preset}) is None and self._opens({}) is not None:
            raise UsageError(f"--preset {self.preset!r} is not a preset of {self.codec}")
        if self.extra:
            self._check_extra()

    def _check_extra(self) -> None:
        """Each ``--codec-option`` alone, then all together (an encoder that does not open for
        a small picture at all is not judged)."""
        if self._opens({}) is None:
            return
        for key, value in self.extra:
            unused = self._opens({key: value})
            if unused is None:
                raise UsageError(f"--codec-option {key}={value}: {self.codec} refuses this value "
                                 f"(see `ffmpeg -h encoder={self.codec}`)")
            if key in unused:
                raise UsageError(f"--codec-option {key}={value}: {self.codec} has no option {key!r} "
                                 f"(see `ffmpeg -h encoder={self.codec}`)")
        if self._opens(self.codec_options()) is None:
            raise UsageError(f"{self.codec} refuses these options together: "
                             + " ".join(f"{k}={v}" for k, v in self.codec_options().items()))

    def _opens(self, options: dict[str, str], *, pix_fmt: str | None = None,
               size: tuple[int, int] = (64, 64)) -> dict[str, str] | None:
        """The options the encoder left unused when it opened for a ``size`` picture (small by
        default) in ``pix_fmt`` with ``options``, or ``None`` if it did not open (what the
        encoder prints meanwhile, and when it is freed, is silenced)."""
        with _quiet_stderr():
            ctx = av.CodecContext.create(self.codec, "w")
            ctx.width, ctx.height = size
            ctx.time_base = Fraction(1, 25)
            ctx.pix_fmt = pix_fmt or self.pixel_format("yuv420p")
            ctx.options = options
            try:
                ctx.open()
                return dict(ctx.options)
            except (av.FFmpegError, ValueError):
                return None
            finally:
                del ctx

    def codec_options(self) -> dict[str, str]:
        """What the encoder is opened with: ``--crf``, ``--preset``, then ``--codec-option``."""
        options = {}
        if self.crf is not None:
            options["crf"] = str(self.crf)
        if self.preset is not None:
            options["preset"] = self.preset
        options.update(self.extra)
        return options

    def pixel_format(self, decoded: str) -> str:
        """``--pix-fmt``, else the decoded format if the encoder takes it, else its first one."""
        if self.pix_fmt is not None:
            return self.pix_fmt
        formats = [f.name for f in av.Codec(self.codec, "w").video_formats or ()]
        return decoded if not formats or decoded in formats else formats[0]

    def pixel_format_for(self, decoded: str, width: int, height: int) -> str:
        """:meth:`pixel_format` for a ``width`` x ``height`` picture. Where the encoder cannot
        take that size in it (libx264 and halved chroma at an odd width or height), a format it
        takes without chroma subsampling, with a warning, unless ``--pix-fmt`` chose it: then a
        ``CodecError``."""
        chosen = self.pixel_format(decoded)
        if (width % 2 == 0 and height % 2 == 0) or self._opens(self.codec_options(), pix_fmt=chosen,
                                                               size=(width, height)) is not None:
            return chosen
        if self.pix_fmt is not None:
            raise CodecError(f"{self.codec} cannot encode a {width}x{height} picture in --pix-fmt {self.pix_fmt} "
                             "(an odd size with subsampled chroma); use a 4:4:4 format such as yuv444p")
        formats = [f.name for f in av.Codec(self.codec, "w").video_formats or ()]
        bits = av.VideoFormat(chosen).components[0].bits
        for name in sorted((f for f in formats if _full_chroma(f, width, height)),
                           key=lambda f: av.VideoFormat(f).components[0].bits != bits):
            if self._opens(self.codec_options(), pix_fmt=name, size=(width, height)) is not None:
                log.warning("%s cannot encode the %dx%d input in %s (an odd size with subsampled chroma): encoding "
                            "%s, which some players do not play (--pix-fmt to choose)", self.codec, width, height,
                            chosen, name)
                return name
        raise CodecError(f"{self.codec} cannot encode a {width}x{height} picture in {chosen} or any format without "
                         "chroma subsampling; use another encoder (-c)")


def _full_chroma(name: str, width: int, height: int) -> bool:
    """Whether the colour format ``name`` keeps every plane at ``width`` x ``height`` (4:4:4, RGB)."""
    components = av.VideoFormat(name, width, height).components
    return len(components) >= 3 and all(c.width == width and c.height == height for c in components)


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null: x264 prints an unknown preset's error straight there."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def open_output(location: Location, *, output_format: str | None, options: dict[str, str]) -> av.container.OutputContainer:
    """Open ``location`` for writing; failures become one ``OutputError``/``CodecError`` line."""
    if location.path is not None and location.path.parent and not location.path.parent.exists():
        raise OutputError(f"cannot write {location.shown}: folder {location.path.parent} does not exist")
    if output_format is not None:
        check_format(output_format, "w")
    try:
        return av.open(location.url, "w", format=output_format, options=options)
    except ValueError as exc:
        raise CodecError(f"cannot choose a container for {location.shown}: {redact(str(exc))}; pass -F/--output-format") from exc
    except (av.FFmpegError, OSError) as exc:
        raise OutputError(f"cannot write {location.shown}: {exc.strerror or redact(str(exc))}") from exc


def plan_crash_safe(mode: str, *, source: Location, sink: Location, output_format: str | None,
                    options: dict[str, str]) -> CrashSafe:
    """``crashsafe.plan`` for ``sink``, whose muxer is looked up without writing anything."""
    container = open_output(sink, output_format=output_format, options={})
    try:
        muxer = container.format.name
    finally:
        container.close()
    return crashsafe.plan(mode, source=source, sink=sink, muxer=muxer, options=options)


class VideoSink:
    """An output container: the video stream is created from the first frame, then audio."""

    def __init__(self, location: Location, *, output_format: str | None, options: dict[str, str],
                 encoder: EncoderOptions, compare: bool = False, crash_safe: CrashSafe | None = None):
        self.location = location
        self.encoder = encoder
        self.compare = compare
        self.container = open_output(location, output_format=output_format, options=options)
        self.crash_safe = crash_safe or CrashSafe(enabled=False, muxer=self.container.format.name)
        self.container.container_options.update(self.crash_safe.options)
        if self.crash_safe.note:
            log.warning(self.crash_safe.note)
        if self.crash_safe.enabled:
            log.info(self.crash_safe.describe())
        self._disk_sync = (DiskSync(location.path) if self.crash_safe.enabled and location.path is not None
                           else None)
        self.video: av.video.stream.VideoStream | None = None
        self.routes: list[AudioRoute] = []
        self._pix_fmt = ""
        self._next_keyframe: Fraction | None = None

    def plan_audio(self, streams: list[av.audio.stream.AudioStream]) -> list[AudioRoute]:
        self.routes = audio.plan_routes(streams, self.container)
        return self.routes

    def configure(self, first: av.VideoFrame, info: VideoInfo) -> None:
        """Create the video stream like the input (size, time base, SAR, colour, rotation)."""
        sideways = quarter_turns(first) % 2 == 1
        width = first.width * (2 if self.compare and not sideways else 1)
        height = first.height * (2 if self.compare and sideways else 1)
        self._pix_fmt = self.encoder.pixel_format_for(first.format.name, width, height)
        try:
            stream = self.container.add_stream(self.encoder.codec, rate=info.average_rate or None,
                                               options=self.encoder.codec_options())
        except (av.FFmpegError, ValueError) as exc:
            raise CodecError(f"{self.encoder.codec} cannot be used with the {self.container.format.name} container: {exc}") from exc
        ctx = stream.codec_context
        ctx.width, ctx.height = width, height
        ctx.pix_fmt = self._pix_fmt
        ctx.time_base = info.time_base
        stream.time_base = info.time_base
        if info.sample_aspect_ratio:
            ctx.sample_aspect_ratio = info.sample_aspect_ratio
        ctx.color_range = first.color_range
        ctx.colorspace = first.colorspace
        ctx.color_primaries = first.color_primaries
        ctx.color_trc = first.color_trc
        ctx.thread_count = 0
        if self.encoder.bitrate is not None:
            ctx.bit_rate = parse_bitrate(self.encoder.bitrate)
        if first.rotation:
            stream.set_display_rotation(first.rotation)
        self.video = stream
        audio.add_output_streams(self.routes, self.container)

    def encode(self, slot: FrameSlot, result: av.VideoFrame | np.ndarray) -> None:
        """Encode the output frame for ``slot`` (the processor's ``result``) and mux it."""
        frame = self._to_frame(slot, result)
        frame.pts = slot.pts
        frame.time_base = slot.time_base
        frame.pict_type = PictureType.I if self._keyframe_due(slot) else PictureType.NONE
        try:
            self.container.mux(self.video.encode(frame))
        except av.FFmpegError as exc:
            raise OutputError(f"cannot encode or write frame {slot.index} to {self.location.shown}: {redact(str(exc))}") from exc

    def _keyframe_due(self, slot: FrameSlot) -> bool:
        """Whether the frame of ``slot`` must be a keyframe (crash-safe MP4)."""
        interval = self.crash_safe.keyframe_interval
        if interval is None:
            return False
        at = slot.pts * slot.time_base
        if self._next_keyframe is not None and at < self._next_keyframe:
            return False
        self._next_keyframe = at + interval
        return True

    def _to_frame(self, slot: FrameSlot, result: av.VideoFrame | np.ndarray) -> av.VideoFrame:
        if self.compare:
            after = result
            if isinstance(result, av.VideoFrame):
                after = slot.rgb() if result is slot.frame else result.to_ndarray(format="rgb24")
            turns = slot.turns
            both = np.concatenate([slot.upright(), turn_upright(after, turns)], axis=1)
            return rgb_to_frame(turn_back(both, turns), like=slot.frame, pix_fmt=self._pix_fmt)
        if isinstance(result, av.VideoFrame):
            if result.format.name == self._pix_fmt:
                return result
            return result.reformat(format=self._pix_fmt)
        return rgb_to_frame(result, like=slot.frame, pix_fmt=self._pix_fmt)

    def write_audio(self, route: AudioRoute, item: av.Packet | av.AudioFrame) -> None:
        audio.write(route, item, self.container)

    def close(self, *, flush: bool = True) -> None:
        """Flush the encoders (unless ``flush`` is False) and finalise the container (trailer,
        index)."""
        try:
            if flush and self.video is not None:
                self.container.mux(self.video.encode(None))
                for route in self.routes:
                    audio.flush(route, self.container)
        finally:
            try:
                self.container.close()
            finally:
                if self._disk_sync is not None:
                    self._disk_sync.close()


class SinkStage(Stage):
    """Encode + mux thread: reads (slot, result) from ``frames`` and audio from ``audio_in``."""

    name = "sink"

    def __init__(self, flow: Flow, sink: VideoSink, info: VideoInfo, *, frames: Channel, audio_in: Channel,
                 stats: Stats):
        super().__init__(flow, None)
        self.sink = sink
        self.info = info
        self.frames = frames
        self.audio_in = audio_in
        self.stats = stats
        self._audio_ended = False

    def run(self) -> None:
        while True:
            item = self.frames.get()
            if item is END:
                break
            slot, result = item
            if self.sink.video is None:
                self.sink.configure(slot.frame, self.info)
            self._mux_audio(block=False)
            started = time.perf_counter()
            self.sink.encode(slot, result)
            done = time.perf_counter()
            self.stats.record("encode", done - started)
            self.stats.record("end_to_end", done - slot.decoded_at)
            self.stats.frames_out += 1
        if self.sink.video is not None:
            self._mux_audio(block=True)

    def _mux_audio(self, *, block: bool) -> None:
        """Mux the audio queued so far; with ``block``, everything up to the source's END."""
        while not self._audio_ended and (block or self.audio_in.qsize()):
            item = self.audio_in.get()
            if item is END:
                self._audio_ended = True
                return
            self.sink.write_audio(*item)

    def finish(self) -> None:
        """Finalise the output; when aborted on request without draining the encoders (which
        can take seconds), so that the run stops at once."""
        started = time.perf_counter()
        self.sink.close(flush=not self.flow.aborted_by_request)
        self.stats.record("finalise", time.perf_counter() - started)
