"""Audio passthrough: each input audio stream is remuxed packet for packet when the output muxer
takes its codec (at its sample rate), otherwise decoded and re-encoded, with a warning, to a
codec that muxer takes (AAC for mp4/mov/mkv/flv/mpegts/nut/avi, Opus for WebM/Ogg, MP2 for
MPEG-PS), resampled when that encoder or muxer needs another sample rate, format or layout. A
muxer that holds one audio stream (FLV, so RTMP) keeps the first and drops the others with a
warning. A stream that no encoder can turn into a codec the muxer takes is dropped with a warning.

Which codecs a muxer takes is asked from FFmpeg (``avformat_query_codec``, through PyAV's
``OutputContainer.supported_codecs``), corrected by ``MUXERS`` where FFmpeg cannot answer (no
codec tag table: mpegts, mpeg, ogg) or answers yes to what the muxer then refuses or writes
unreadably (mov, flv). FFmpeg is not asked by trying a header in a scratch container:
some muxers abort the process instead of returning an error (FFmpeg 8's flvenc.c asserts on
PCM at 44.1 kHz).

The source thread hands the sink either the demuxed ``av.Packet`` (copy) or the decoded
``av.AudioFrame``s (encode) of each route, through one unbounded FIFO; its growth is bounded
by the video back-pressure (the source cannot run more than the ring ahead of the sink). The
encoder's PyAV resampler converts each frame to the encoder's rate, format, layout and frame
size; timestamps follow the decoded frames, so the audio keeps its duration and its place
against the video.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import Literal

import av

log = logging.getLogger("streamfilter")


@dataclass(frozen=True)
class MuxerAudio:
    """What one muxer takes as audio, and what audio it cannot take is re-encoded to.

    Codec names are FFmpeg's codec descriptor names (``Codec.canonical_name``: ``mp3``, not
    the ``mp3float`` decoder or the ``libmp3lame`` encoder)."""

    copies: frozenset[str] | None = None
    """Codecs copied as they are; ``None``: those FFmpeg says the muxer takes, minus ``refuses``."""
    refuses: frozenset[str] = frozenset()
    """Codecs FFmpeg says the muxer takes that it refuses or writes unreadably."""
    copy_rates: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    """Per copied codec, the only sample rates the muxer takes it at."""
    encoders: tuple[str, ...] = ("aac",)
    """Re-encode target, the first of these encoders that this FFmpeg has."""
    encoder_rates: tuple[int, ...] | None = None
    """Sample rates the re-encoded audio may have here (on top of the encoder's own list)."""
    max_streams: int | None = None
    """How many audio streams the muxer holds (``None``: any number)."""


_MPEGTS = MuxerAudio(copies=frozenset({"aac", "aac_latm", "mp2", "mp3", "ac3", "eac3", "dts", "truehd", "opus"}))
"""mpegtsenc.c: the audio codecs with an MPEG-TS stream type (anything else is written as private
data that players do not decode). The muxer has no codec tag table, so FFmpeg cannot be asked."""

_MPEG_PS = MuxerAudio(copies=frozenset({"mp1", "mp2", "mp3", "pcm_dvd", "pcm_s16be", "ac3", "dts"}), encoders=("mp2",))
"""mpegenc.c: "Unsupported audio codec. Must be one of mp1, mp2, mp3, 16-bit pcm_dvd, pcm_s16be,
ac3 or dts." (no codec tag table either); AAC is refused, so MP2, the format's own audio."""

_OGG = MuxerAudio(copies=frozenset({"vorbis", "opus", "flac", "speex"}), encoders=("libopus", "libvorbis"))
"""oggenc.c: the audio codecs it has a mapping for (no codec tag table)."""

MUXERS: Mapping[str, MuxerAudio] = MappingProxyType({
    "flv": MuxerAudio(
        copies=frozenset({"aac", "mp3"}), copy_rates={"mp3": (11025, 22050, 44100, 48000)},
        encoder_rates=(44100, 48000), max_streams=1),
    # flvenc.c get_audio_flags(): PCM only at 44.1/22.05/11.025 kHz (and FFmpeg 8 then aborts on
    # an assertion writing its header), MP3 at those rates or 48 kHz. The "enhanced FLV" codecs
    # FFmpeg lists (opus, flac, ac3, eac3) are written, but FFmpeg 8's own flv demuxer cannot
    # decode them, and RTMP services expect AAC (44.1/48 kHz) or MP3. Several audio streams are
    # written as FLV multitrack, which that demuxer cannot decode either: only the first is kept.
    "mov": MuxerAudio(refuses=frozenset({"flac", "opus"})),
    # movenc.c: FLAC and Opus are "only supported in MP4" (the header fails with EINVAL).
    "webm": MuxerAudio(encoders=("libopus", "libvorbis")),
    # matroskaenc.c: WebM takes Opus and Vorbis only (FFmpeg answers that itself).
    "mpegts": _MPEGTS, "rtp_mpegts": _MPEGTS,
    "mpeg": _MPEG_PS, "vob": _MPEG_PS, "dvd": _MPEG_PS, "svcd": _MPEG_PS, "vcd": _MPEG_PS,
    "ogg": _OGG, "ogv": _OGG,
})
"""Per muxer (``ContainerFormat.name``), where FFmpeg's answer alone is not enough. Muxers not
listed (mp4, ipod, 3gp, matroska, nut, avi, asf, ...) take what FFmpeg says they take; AAC is their
re-encode target, else Opus, else the muxer's default audio codec."""

_FALLBACK_ENCODERS = ("aac", "libopus")

MAX_ENCODER_CHANNELS = {"mp2": 2, "libmp3lame": 2, "libopus": 8, "libvorbis": 8, "aac": 8}
"""Encoders that take at most this many channels: more are downmixed to stereo."""


@dataclass(eq=False)
class AudioRoute:
    """How one input audio stream reaches the output (``mode`` decided when the sink opens)."""

    input_stream: av.audio.stream.AudioStream
    mode: Literal["copy", "encode"] = "copy"
    output_stream: av.audio.stream.AudioStream | None = field(default=None, repr=False)
    encoder: str | None = None
    """Encode mode: the encoder, and the rate, layout and sample format it is opened with."""
    rate: int | None = None
    layout: str | None = None
    sample_format: str | None = None

    @property
    def codec_name(self) -> str:
        return codec_name(self.input_stream)


def codec_name(stream: av.audio.stream.AudioStream) -> str:
    """The stream's codec descriptor name (``mp3``, ``pcm_s16le``), not its decoder's."""
    ctx = stream.codec_context
    try:
        return ctx.codec.canonical_name
    except (AttributeError, ValueError):
        return ctx.name


def _canonical(name: str) -> str | None:
    for mode in ("r", "w"):
        try:
            return av.Codec(name, mode).canonical_name
        except (av.codec.codec.UnknownCodecError, ValueError):
            continue
    return None


def _encoder(name: str) -> av.Codec | None:
    try:
        codec = av.Codec(name, "w")
    except (av.codec.codec.UnknownCodecError, ValueError):
        return None
    return codec if codec.type == "audio" else None


class MuxerPolicy:
    """What ``container``'s muxer takes (``MUXERS``, else FFmpeg's answer) and its re-encode target."""

    def __init__(self, container: av.container.OutputContainer):
        self.name = container.format.name
        self.rules = MUXERS.get(self.name, MuxerAudio())
        if self.rules.copies is not None:
            self.accepted = set(self.rules.copies)
        else:
            asked = {_canonical(name) for name in container.supported_codecs}
            self.accepted = {name for name in asked if name} - self.rules.refuses
        encoders = self.rules.encoders
        if self.name not in MUXERS:
            encoders = _FALLBACK_ENCODERS + ((container.default_audio_codec,) if container.default_audio_codec else ())
        self.encoder = next((name for name in encoders if self._can_encode(name)), None)

    def _can_encode(self, name: str) -> bool:
        codec = _encoder(name)
        return codec is not None and codec.canonical_name in self.accepted

    def refusal(self, stream: av.audio.stream.AudioStream) -> str | None:
        """Why the muxer cannot take ``stream`` as it is (``None``: it can)."""
        name = codec_name(stream)
        if name not in self.accepted:
            return name
        rates = self.rules.copy_rates.get(name)
        rate = stream.codec_context.sample_rate
        if rates is not None and rate not in rates:
            return f"{name} at {rate} Hz"
        return None

    def target_rates(self, codec: av.Codec) -> tuple[int, ...] | None:
        rates = set(codec.audio_rates or ())
        if self.rules.encoder_rates is not None:
            rates = rates & set(self.rules.encoder_rates) if rates else set(self.rules.encoder_rates)
        return tuple(sorted(rates)) or None


def pick_rate(rate: int, allowed: tuple[int, ...] | None) -> int:
    """``rate`` if allowed, else the lowest allowed rate above it (no band is lost), else the highest."""
    if not allowed or rate in allowed:
        return rate
    above = [r for r in allowed if r >= rate]
    return min(above) if above else max(allowed)


def _pick_format(decoded: str, formats: list[str]) -> str | None:
    if not formats:
        return None
    for name in (decoded, "fltp", "flt", "s16p", "s16"):
        if name in formats:
            return name
    return formats[0]


def encoder_settings(encoder: str, stream: av.audio.stream.AudioStream,
                     rates: tuple[int, ...] | None) -> tuple[int, str, str | None] | None:
    """(rate, layout, sample format) that ``encoder`` opens with for ``stream``'s audio: its rate
    unless the encoder or muxer needs another, its layout (or the default one for its channel
    count, or stereo), its sample format if the encoder takes it. ``None`` if none opens."""
    source = stream.codec_context
    codec = av.Codec(encoder, "w")
    rate = pick_rate(source.sample_rate, rates)
    sample_format = _pick_format(source.format.name if source.format else "", [f.name for f in codec.audio_formats or ()])
    channels = source.channels or 2
    layouts = [source.layout.name, f"{channels}c"] if source.layout is not None else [f"{channels}c"]
    if channels > MAX_ENCODER_CHANNELS.get(encoder, channels):
        layouts = []
    layouts += ["stereo"] if channels >= 2 else ["mono"]
    for layout in dict.fromkeys(layouts):
        ctx = av.CodecContext.create(encoder, "w")
        try:
            ctx.sample_rate, ctx.layout, ctx.time_base = rate, layout, Fraction(1, rate)
            if sample_format is not None:
                ctx.format = sample_format
            ctx.open()
        except (av.FFmpegError, ValueError):
            continue
        finally:
            del ctx
        return rate, layout, sample_format
    return None


def plan_routes(streams: list[av.audio.stream.AudioStream], container: av.container.OutputContainer) -> list[AudioRoute]:
    """Choose copy or re-encode for each audio stream; warn about each re-encode and drop."""
    policy = MuxerPolicy(container)
    routes: list[AudioRoute] = []
    for stream in streams:
        name = codec_name(stream)
        limit = policy.rules.max_streams
        if limit is not None and len(routes) >= limit:
            kept = ", ".join(f"#{route.input_stream.index}" for route in routes)
            log.warning("audio stream #%d (%s) dropped: the %s container takes %s audio stream%s (keeping %s)",
                        stream.index, name, policy.name, "one" if limit == 1 else limit, "" if limit == 1 else "s", kept)
            continue
        route = AudioRoute(stream)
        refusal = policy.refusal(stream)
        if refusal is not None:
            if not _plan_encode(route, policy, refusal):
                continue
        routes.append(route)
    return routes


def _plan_encode(route: AudioRoute, policy: MuxerPolicy, refusal: str) -> bool:
    """Set ``route`` up to re-encode (and warn), or warn that it is dropped (False)."""
    stream = route.input_stream
    if policy.encoder is None:
        log.warning("audio stream #%d (%s) dropped: the %s container cannot hold %s and no audio encoder "
                    "here gives a codec it takes", stream.index, route.codec_name, policy.name, refusal)
        return False
    codec = av.Codec(policy.encoder, "w")
    settings = encoder_settings(policy.encoder, stream, policy.target_rates(codec))
    if settings is None:
        log.warning("audio stream #%d (%s) dropped: the %s container cannot hold %s and %s cannot encode "
                    "its %d Hz, %d channel audio", stream.index, route.codec_name, policy.name, refusal,
                    codec.canonical_name, stream.codec_context.sample_rate, stream.codec_context.channels)
        return False
    route.mode = "encode"
    route.encoder = policy.encoder
    route.rate, route.layout, route.sample_format = settings
    resampled = f" at {route.rate} Hz" if route.rate != stream.codec_context.sample_rate else ""
    log.warning("audio stream #%d: the %s container cannot hold %s; re-encoding to %s%s",
                stream.index, policy.name, refusal, codec.canonical_name, resampled)
    return True


def add_output_streams(routes: list[AudioRoute], container: av.container.OutputContainer) -> None:
    """Create the output stream of every route (call before the first packet is muxed)."""
    for route in routes:
        source = route.input_stream
        if route.mode == "copy":
            route.output_stream = container.add_stream_from_template(source)
            continue
        stream = container.add_stream(route.encoder, rate=route.rate)
        ctx = stream.codec_context
        ctx.layout = route.layout
        if route.sample_format is not None:
            ctx.format = route.sample_format
        ctx.time_base = Fraction(1, route.rate)
        route.output_stream = stream


def without_repeated_config(packet: av.Packet, stream: av.audio.stream.AudioStream) -> av.Packet:
    """``packet``, or a copy of it without its ``new_extradata`` side data where that repeats
    ``stream``'s codec configuration: an RTMP server sends it again with each new publisher, and
    Matroska takes it for a change (it writes a second track list, which players read as two
    more streams)."""
    if not packet.has_sidedata("new_extradata"):
        return packet
    if bytes(packet.get_sidedata("new_extradata")) != bytes(stream.codec_context.extradata or b""):
        return packet
    plain = av.Packet(bytes(packet))
    plain.pts, plain.dts, plain.duration, plain.time_base = packet.pts, packet.dts, packet.duration, packet.time_base
    plain.is_keyframe = packet.is_keyframe
    return plain


def write(route: AudioRoute, item: av.Packet | av.AudioFrame, container: av.container.OutputContainer) -> None:
    """Mux one copied packet, or encode and mux one decoded frame."""
    stream = route.output_stream
    if route.mode == "copy":
        item.stream = stream
        container.mux(item)
        return
    container.mux(stream.encode(item))


def flush(route: AudioRoute, container: av.container.OutputContainer) -> None:
    """Emit the re-encoder's buffered packets at end of stream."""
    if route.mode == "encode" and route.output_stream is not None:
        container.mux(route.output_stream.encode(None))
