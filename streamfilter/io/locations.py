"""What kind of thing an INPUT or OUTPUT argument names, and which container it implies.

``-`` is stdin/stdout, ``scheme://`` names a network stream, a name with ``-f`` set to a capture
demuxer (v4l2, avfoundation, dshow, ...) is a device, anything else is a file path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from ..errors import UsageError

LocationKind = Literal["file", "pipe", "network", "device"]

NETWORK_SCHEMES = ("rtmp", "rtmps", "rtsp", "srt", "udp", "tcp", "http", "https", "rtp")
CAPTURE_FORMATS = ("v4l2", "video4linux2", "avfoundation", "dshow", "gdigrab", "x11grab", "kmsgrab", "lavfi")
OUTPUT_FORMAT_BY_SCHEME = {
    "rtmp": "flv",
    "rtmps": "flv",
    "udp": "mpegts",
    "tcp": "mpegts",
    "srt": "mpegts",
    "rtp": "rtp_mpegts",
    "rtsp": "rtsp",
}


@dataclass(frozen=True)
class Location:
    """A parsed INPUT or OUTPUT: ``url`` is what FFmpeg opens (``pipe:0``/``pipe:1`` for ``-``)."""

    text: str
    kind: LocationKind
    url: str

    @property
    def is_live(self) -> bool:
        """Live sources (devices, network streams) must never be stalled by back-pressure."""
        return self.kind in ("network", "device")

    @property
    def path(self) -> Path | None:
        return Path(self.text) if self.kind == "file" else None


def _scheme(text: str) -> str | None:
    if "://" not in text:
        return None
    return urlsplit(text).scheme.lower()


def parse_input(text: str, *, input_format: str | None) -> Location:
    """Classify INPUT; ``input_format`` is ``-f`` (a capture format makes it a device)."""
    if text == "-":
        return Location(text, "pipe", "pipe:0")
    scheme = _scheme(text)
    if scheme is not None:
        if scheme == "file":
            return Location(text, "file", text)
        if scheme not in NETWORK_SCHEMES:
            raise UsageError(f"unsupported input URL scheme {scheme!r}; supported: {', '.join(NETWORK_SCHEMES)}")
        return Location(text, "network", text)
    if input_format is not None and input_format in CAPTURE_FORMATS:
        return Location(text, "device", text)
    return Location(text, "file", text)


def parse_output(text: str, *, output_format: str | None) -> tuple[Location, str | None]:
    """Classify OUTPUT and return it with the muxer to use (``None``: FFmpeg infers it from the
    file extension). stdout needs ``-F``; URLs default to flv (rtmp) or mpegts (udp/tcp/srt)."""
    if text == "-":
        if output_format is None:
            raise UsageError("writing to stdout ('-') needs -F/--output-format, e.g. -F nut or -F mpegts")
        return Location(text, "pipe", "pipe:1"), output_format
    scheme = _scheme(text)
    if scheme is not None and scheme != "file":
        if output_format is None and scheme not in OUTPUT_FORMAT_BY_SCHEME:
            raise UsageError(f"cannot infer the container for {scheme}:// outputs; pass -F/--output-format")
        return Location(text, "network", text), output_format or OUTPUT_FORMAT_BY_SCHEME[scheme]
    if output_format is None and not Path(text).suffix:
        raise UsageError(f"cannot infer the container from {text!r} (no extension); pass -F/--output-format")
    return Location(text, "file", text), output_format


def parse_options(pairs: tuple[str, ...] | list[str], *, flag: str) -> dict[str, str]:
    """Turn repeated ``K=V`` option values into a dict; ``flag`` names the option in errors."""
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} expects KEY=VALUE, got {pair!r}")
        options[key] = value
    return options
