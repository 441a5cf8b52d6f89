"""A checkpoint's metadata and configuration, read without torch or safetensors.

A safetensors file starts with an 8-byte little-endian length and that many bytes of JSON,
whose ``__metadata__`` object holds the string metadata (``checkpoint`` describes what a
checkpoint stores there). Reading that header alone lets the ONNX Runtime path check a
shipped checkpoint's configuration without PyTorch installed; ``load_checkpoint`` reads the
weights through safetensors and checks them.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ModelError, WeightsMissingError
from .config import ModelConfig, config_from_dict, config_to_dict

FORMAT = "facedeblur-checkpoint"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 100_000_000
"""The largest header safetensors itself accepts."""


def read_metadata(path: Path) -> dict[str, str]:
    """The ``__metadata__`` of the safetensors file at ``path`` (empty when it has none)."""
    try:
        with path.open("rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            if not 2 <= size <= MAX_HEADER_BYTES:
                raise ModelError(f"{path} is not a safetensors checkpoint: header length {size}")
            text = handle.read(size)
    except OSError as exc:
        raise ModelError(f"{path} is not a safetensors checkpoint: {exc}") from exc
    try:
        header = json.loads(text) if len(text) == size and text.startswith(b"{") else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict):
        raise ModelError(f"{path} is not a safetensors checkpoint: its header is not a JSON object")
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise ModelError(f"{path} is not a safetensors checkpoint: __metadata__ is not an object")
    return metadata


def read_checkpoint_config(path: str | Path, *, expect: ModelConfig | None = None) -> ModelConfig:
    """The configuration stored in the checkpoint at ``path`` (weights are not read).

    With ``expect``, a stored configuration that differs from it is a ``ModelError`` naming the
    differing fields.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsMissingError(f"checkpoint not found: {path}")
    metadata = read_metadata(path)
    if metadata.get("format") != FORMAT:
        raise ModelError(f"{path} is not a facedeblur checkpoint (metadata format={metadata.get('format')!r})")
    version = metadata.get("format_version")
    if version != str(FORMAT_VERSION):
        raise ModelError(f"{path} has checkpoint format version {version!r}; this version reads {FORMAT_VERSION}")
    try:
        config = config_from_dict(json.loads(metadata["config"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path} has no readable model configuration") from exc
    if expect is not None and config != expect:
        raise ModelError(f"checkpoint {path} does not match configuration {expect.name!r}: "
                         f"{config_differences(config, expect)}")
    return config


def config_differences(stored: ModelConfig, wanted: ModelConfig) -> str:
    """The fields where ``stored`` differs from ``wanted``: "key=value (expected value), ..."."""
    have, want = config_to_dict(stored), config_to_dict(wanted)
    return ", ".join(f"{key}={have.get(key)!r} (expected {want.get(key)!r})"
                     for key in sorted(have.keys() | want.keys()) if have.get(key) != want.get(key))
