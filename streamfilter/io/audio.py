"""Audio passthrough: each input audio stream is remuxed packet for packet when the output
container accepts its codec, otherwise decoded and re-encoded to AAC (with a warning).

The source thread hands the sink either the demuxed ``av.Packet`` (copy) or the decoded
``av.AudioFrame``s (encode) of each route, through one unbounded FIFO; its growth is bounded
by the video back-pressure (the source cannot run more than the ring ahead of the sink).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import av

log = logging.getLogger("streamfilter")

REENCODE_CODEC = "aac"

ACCEPTED_WITHOUT_TAG_TABLE = {
    "mpegts": {"aac", "mp3", "mp2", "ac3", "eac3", "opus", "aac_latm", "dts", "truehd"},
}
"""Muxers that take codecs FFmpeg cannot query (no codec tag table): what they really accept."""


def container_accepts(container: av.container.OutputContainer, codec_name: str) -> bool:
    """Whether ``container`` can hold ``codec_name`` packets as they are."""
    extra = ACCEPTED_WITHOUT_TAG_TABLE.get(container.format.name, set())
    return codec_name in extra or codec_name in container.supported_codecs


@dataclass(eq=False)
class AudioRoute:
    """How one input audio stream reaches the output (``mode`` decided when the sink opens)."""

    input_stream: av.audio.stream.AudioStream
    mode: Literal["copy", "encode"] = "copy"
    output_stream: av.audio.stream.AudioStream | None = field(default=None, repr=False)

    @property
    def codec_name(self) -> str:
        return self.input_stream.codec_context.name


def plan_routes(streams: list[av.audio.stream.AudioStream], container: av.container.OutputContainer) -> list[AudioRoute]:
    """Choose copy or AAC re-encode for each audio stream; warn about each re-encode."""
    routes = []
    for stream in streams:
        route = AudioRoute(stream)
        if not container_accepts(container, route.codec_name):
            if not container_accepts(container, REENCODE_CODEC):
                log.warning("audio stream #%d (%s) dropped: the %s container takes neither it nor %s",
                            stream.index, route.codec_name, container.format.name, REENCODE_CODEC)
                continue
            log.warning("audio stream #%d: the %s container cannot hold %s; re-encoding to %s",
                        stream.index, container.format.name, route.codec_name, REENCODE_CODEC)
            route.mode = "encode"
        routes.append(route)
    return routes


def add_output_streams(routes: list[AudioRoute], container: av.container.OutputContainer) -> None:
    """Create the output stream of every route (call before the first packet is muxed)."""
    for route in routes:
        source = route.input_stream
        if route.mode == "copy":
            route.output_stream = container.add_stream_from_template(source)
            continue
        stream = container.add_stream(REENCODE_CODEC, rate=source.codec_context.sample_rate)
        stream.codec_context.layout = av.AudioLayout(f"{source.codec_context.channels}c")
        route.output_stream = stream


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
