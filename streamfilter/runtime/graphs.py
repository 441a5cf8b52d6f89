"""A model's two ONNX graphs on disk, and the graphs shipped beside a shipped checkpoint.

Torch-free (the graphs' metadata is read from their protobuf directly), so that the default CPU path runs on
the graphs shipped in the package without PyTorch installed; ``export`` writes graphs.

A shipped checkpoint ``weights/NAME.safetensors`` may have ``weights/NAME.frame.onnx`` and
``weights/NAME.window.onnx`` beside it (``python -m streamfilter.runtime.ship`` writes them).
Each records in its metadata the sha256 of the weights file it was exported from and the
exporter version; graphs whose records do not match are not used, since a replaced weights
file or a changed graph interface would otherwise run silently on the old graphs.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

EXPORTER_VERSION = "1"
"""Bump when the exported graphs' interface changes, to invalidate cached and shipped graphs."""

WEIGHTS_SHA256 = "facedeblur.weights_sha256"
EXPORTER = "facedeblur.exporter_version"
"""Metadata keys of a shipped graph."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GraphPaths:
    frame: Path
    window: Path

    def exist(self) -> bool:
        return self.frame.is_file() and self.window.is_file()


def graph_paths(out: str | Path) -> GraphPaths:
    """``dir/name.onnx`` (or ``dir/name``) -> ``dir/name.frame.onnx``, ``dir/name.window.onnx``."""
    out = Path(out)
    stem = out.with_suffix("") if out.suffix == ".onnx" else out
    return GraphPaths(stem.with_name(stem.name + ".frame.onnx"), stem.with_name(stem.name + ".window.onnx"))


def shipped_graph_paths(weights: Path) -> GraphPaths:
    """Where the graphs shipped for the checkpoint ``weights`` lie: beside it, named by its stem."""
    return graph_paths(weights.with_suffix(""))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shipped_metadata(weights: Path) -> dict[str, str]:
    """What a graph exported from the checkpoint ``weights`` records to be shipped beside it."""
    return {WEIGHTS_SHA256: file_sha256(weights), EXPORTER: EXPORTER_VERSION}


METADATA_PROPS = 14
"""Field number of ``ModelProto.metadata_props`` (repeated ``StringStringEntryProto``: key 1, value 2)."""


def _fields(data: memoryview) -> Iterator[tuple[int, int, memoryview | int]]:
    """(field number, wire type, value) of each field of one protobuf message: a memoryview for
    length-delimited fields, an int otherwise."""
    at = 0

    def varint() -> int:
        nonlocal at
        value = shift = 0
        while True:
            byte = data[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while at < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, wire, varint()
            continue
        if wire not in (1, 2, 5):
            raise ValueError(f"unsupported protobuf wire type {wire}")
        size = varint() if wire == 2 else 8 if wire == 1 else 4
        if at + size > len(data):
            raise ValueError(f"field {number} runs past the end of the message")
        value = data[at:at + size]
        at += size
        yield number, wire, value if wire == 2 else int.from_bytes(value, "little")


def graph_metadata(path: Path) -> dict[str, str]:
    """The metadata (``metadata_props``) of the ONNX graph at ``path``, read from the file's
    top-level fields without loading the graph (no ONNX Runtime session, no onnx package)."""
    data = memoryview(path.read_bytes())
    metadata = {}
    try:
        for number, wire, value in _fields(data):
            if number == METADATA_PROPS and wire == 2:
                entry = {n: bytes(v).decode() for n, w, v in _fields(value) if w == 2}
                metadata[entry.get(1, "")] = entry.get(2, "")
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path.name} is not an ONNX model: {exc}") from exc
    return metadata


def graph_mismatch(paths: GraphPaths, weights: Path) -> str | None:
    """Why the graphs at ``paths`` cannot stand for the checkpoint ``weights`` (None: they can)."""
    expected = shipped_metadata(weights)
    for path in (paths.frame, paths.window):
        recorded = graph_metadata(path)
        sha = recorded.get(WEIGHTS_SHA256)
        if sha != expected[WEIGHTS_SHA256]:
            return (f"{path.name} was exported from weights with sha256 {sha}, "
                    f"{weights.name} has {expected[WEIGHTS_SHA256]}")
        if recorded.get(EXPORTER) != EXPORTER_VERSION:
            return (f"{path.name} has exporter version {recorded.get(EXPORTER)!r}, "
                    f"this version needs {EXPORTER_VERSION!r}")
    return None


def shipped_graphs(weights: Path) -> GraphPaths | None:
    """The graphs shipped beside ``weights`` when both exist and match it; None otherwise
    (a mismatch is logged: the caller exports the graphs instead)."""
    paths = shipped_graph_paths(weights)
    if not paths.exist():
        return None
    problem = graph_mismatch(paths, weights)
    if problem is not None:
        log.warning("not using the shipped ONNX graphs of %s: %s (python -m streamfilter.runtime.ship rewrites "
                    "them)", weights.name, problem)
        return None
    return paths
