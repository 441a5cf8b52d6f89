"""What kind of thing an INPUT or OUTPUT argument names, and which container it implies.

``-`` is stdin/stdout, ``scheme://`` names a network stream, a name with ``-f`` set to a capture
demuxer (v4l2, avfoundation, dshow, ...) is a device, anything else is a file path.
Devices and network streams are live (never stalled, frames dropped when the pipeline falls
behind), except a ``-f lavfi`` filter graph: it makes frames as fast as they are read, like a
file, unless a ``realtime`` or ``arealtime`` filter paces it.
Locations are printed and logged only through :func:`redact`, which masks the secrets a URL
may carry (``Location.shown``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from ..errors import InputError, UsageError

LocationKind = Literal["file", "pipe", "network", "device"]

NETWORK_SCHEMES = ("rtmp", "rtmps", "rtsp", "srt", "udp", "tcp", "http", "https", "rtp")
CAPTURE_FORMATS = ("v4l2", "video4linux2", "avfoundation", "dshow", "gdigrab", "x11grab", "kmsgrab", "lavfi")
GRAPH_FORMAT = "lavfi"
PACING_FILTERS = ("realtime", "arealtime")
OUTPUT_FORMAT_BY_SCHEME = {
    "rtmp": "flv",
    "rtmps": "flv",
    "udp": "mpegts",
    "tcp": "mpegts",
    "srt": "mpegts",
    "rtp": "rtp_mpegts",
    "rtsp": "rtsp",
}

DEFAULT_INPUT_TIMEOUT_S = 10.0
"""Seconds a pipe or live input may send nothing, opening included, before the run ends
(``--input-timeout``); files have no limit."""

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"]*[^\s'\".,:;)\]]", re.IGNORECASE)
"""A URL in a text, without the punctuation that may follow it (``{url}: error``)."""
_FILTER_NAME = re.compile(r"\s*(?:\[[^\]]*\]\s*)*(\w+)")
"""A filter's name after its input link labels (``[in] scale=...`` -> scale)."""
_USERINFO = re.compile(r"^([^:]+://)([^/?#]*)@")
_SECRET_QUERY = re.compile(
    r"([?&;][\w.-]*?(?:pass(?:word|wd|phrase)?|pwd|key|token|secret|auth(?:orization)?|sig(?:nature)?|credentials?)=)"
    r"[^&;#]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` (a location, or a message that quotes one) with the secrets of every URL in it
    masked: the password (``user:***@``; a userinfo without one, often a key: ``***@``) and
    the values of secret query parameters (``passphrase=***``, ``token=***``, ``api_key=***``,
    ...). The rest of the URL is kept, so the location can still be told."""
    return _URL.sub(lambda match: _redact_url(match.group()), text)


def _redact_url(url: str) -> str:
    def userinfo(match: re.Match[str]) -> str:
        user, has_password, _ = match.group(2).partition(":")
        return f"{match.group(1)}{user}:***@" if has_password else f"{match.group(1)}***@"

    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub(userinfo, url, count=1))


@dataclass(frozen=True)
class Location:
    """A parsed INPUT or OUTPUT: ``url`` is what FFmpeg opens (``pipe:0``/``pipe:1`` for ``-``)."""

    text: str
    kind: LocationKind
    url: str
    graph: bool = False
    """Whether ``text`` is an FFmpeg filter graph (a ``-f lavfi`` device)."""

    @cached_property
    def is_live(self) -> bool:
        """Live sources (devices, network streams, paced filter graphs) must never be stalled
        by back-pressure (worked out once: the source asks for every frame)."""
        if self.graph:
            return not set(PACING_FILTERS).isdisjoint(graph_filters(self.text))
        return self.kind in ("network", "device")

    @property
    def waits(self) -> bool:
        """Whether reading may wait on the outside world (pipes, live sources): what
        ``--input-timeout`` limits. Files and unpaced filter graphs never do."""
        return self.kind == "pipe" or self.is_live

    @property
    def path(self) -> Path | None:
        return Path(self.text) if self.kind == "file" else None

    @property
    def shown(self) -> str:
        """``text`` as printed and logged: secrets masked (:func:`redact`)."""
        return redact(self.text)


def graph_filters(graph: str) -> list[str]:
    """The filter names in an FFmpeg filter graph description (``testsrc=rate=30,realtime`` ->
    testsrc, realtime): filters are split at the ``,`` and ``;`` outside quotes and escapes,
    then stripped of their link labels (``[in]``), arguments and ``@instance``."""
    specs, current, quoted, escaped = [], [], False, False
    for char in graph:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "'":
            quoted = not quoted
        elif char in ",;" and not quoted:
            specs.append("".join(current))
            current = []
            continue
        current.append(char)
    specs.append("".join(current))
    names = (_FILTER_NAME.match(spec) for spec in specs)
    return [match.group(1) for match in names if match]


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
        return Location(text, "device", text, graph=input_format == GRAPH_FORMAT)
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
        raise UsageError(f"cannot infer the container from {redact(text)!r} (no extension); pass -F/--output-format")
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


def file_exists(path: Path, what: str) -> bool:
    """``path.exists()``; a name the system refuses (too long, ...) is a ``UsageError``
    naming ``what`` (e.g. "output")."""
    try:
        return path.exists()
    except OSError as exc:
        raise UsageError(f"{what} {path}: {exc.strerror}") from None


def check_input(location: Location) -> None:
    """``InputError`` for an input file that does not exist (checked before a model is built)."""
    if location.kind == "file" and location.path is not None and not file_exists(location.path, "input"):
        raise InputError(f"input not found: {location.shown}")


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (equal resolved paths, or links to one file)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return a.samefile(b)
    except OSError:  # one of them does not exist
        return False


def check_paths(source: Location, sink: Location, *, overwrite: bool) -> None:
    """Refuse to overwrite an existing output without ``overwrite`` or to write over the input
    (and a file name the system refuses, e.g. too long)."""
    if sink.path is None:
        return
    exists = file_exists(sink.path, "output")
    if exists and source.path is not None and same_file(source.path, sink.path):
        raise UsageError(f"output {sink.text} is the input; choose another output")
    if exists and not overwrite:
        raise UsageError(f"output {sink.text} exists; pass -y/--overwrite to replace it")
    if sink.path.is_dir():
        raise UsageError(f"output {sink.text} is a folder")


def check_side_output(text: str, *, flag: str, source: Location, sink: Location, overwrite: bool) -> None:
    """Refuse a side output file (``--stats``) that is the input or the output, exists (without
    ``overwrite``) or cannot be written (missing or read-only folder), before anything runs."""
    path = Path(text)
    exists = file_exists(path, flag)
    for other, role in ((source, "input"), (sink, "output")):
        if other.path is not None and same_file(path, other.path):
            raise UsageError(f"{flag} {text} is the {role}; choose another file")
    if exists:
        if not overwrite:
            raise UsageError(f"{flag} {text} exists; pass -y/--overwrite to replace it")
        if not os.access(path, os.W_OK):
            raise UsageError(f"{flag} {text} is not writable")
        return
    folder = path.parent
    if not folder.is_dir():
        problem = f"{folder} is not a folder" if folder.exists() else f"folder {folder} does not exist"
        raise UsageError(f"{flag} {text}: {problem}")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{flag} {text}: folder {folder} is not writable")
