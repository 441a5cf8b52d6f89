"""Versioned checkpoints: safetensors weights plus metadata, never unpickled.

A checkpoint file is a safetensors file whose string metadata holds:

- ``format``: ``"facedeblur-checkpoint"``
- ``format_version``: ``"1"``
- ``config_name``: the registry name the configuration was derived from
- ``config``: the full configuration as JSON (``config_to_dict``)

The architecture is rebuilt from the stored configuration, so a checkpoint of a customised
configuration loads without the registry. Loading with ``expect=`` checks that the stored
configuration equals the expected one and names the differing fields otherwise. Weights are
float32, float16 or bfloat16 and finite; a file holding others is refused. ``metadata`` reads
the configuration without torch; saving and loading the weights (here) need it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import ModelError
from .config import ModelConfig, config_to_dict
from .metadata import FORMAT, FORMAT_VERSION, read_checkpoint_config
from .registry import build_model
from .split import SplitModel

WEIGHT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def save_checkpoint(model: SplitModel, path: str | Path, *, dtype: torch.dtype | None = None) -> None:
    """Write ``model``'s weights and configuration to ``path`` (a .safetensors file); with
    ``dtype`` (e.g. ``torch.float16`` for shipped weights, half the size) floating-point tensors
    are stored in it. Loading casts them back to the model's float32."""
    config = model.config
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "config_name": config.name,
        "config": json.dumps(config_to_dict(config), sort_keys=True),
    }
    state = {name: tensor.detach().contiguous().cpu() for name, tensor in model.state_dict().items()}
    if dtype is not None:
        state = {name: tensor.to(dtype) if tensor.is_floating_point() else tensor for name, tensor in state.items()}
    save_file(state, str(path), metadata=metadata)


def load_checkpoint(path: str | Path, *, expect: ModelConfig | None = None) -> SplitModel:
    """Rebuild the model stored at ``path`` (eval mode, CPU).

    Raises ``WeightsMissingError`` if the file is missing, ``ModelError`` if it is not a
    checkpoint of this format, its configuration differs from ``expect``, its tensors do not
    fit the configuration, or a weight is not finite or of another dtype than ``WEIGHT_DTYPES``.
    """
    config = read_checkpoint_config(path, expect=expect)
    model = build_model(config)
    try:
        state = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise ModelError(f"{path} is not a safetensors checkpoint: {exc}") from exc
    _check_tensors(path, state, model)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(first[:3])
        raise ModelError(f"checkpoint {path} does not fit its configuration {config.name!r}: {detail}") from exc
    return model


def _check_tensors(path: str | Path, state: dict[str, torch.Tensor], model: SplitModel) -> None:
    """``ModelError`` naming the file and the tensor for a weight whose dtype is not one of
    ``WEIGHT_DTYPES`` or that holds NaN or infinities; integer buffers (BatchNorm's step
    count) are kept in the model's own dtype."""
    own = model.state_dict()
    for name, tensor in state.items():
        held = own.get(name)
        if held is not None and not held.is_floating_point() and tensor.dtype == held.dtype:
            continue
        if tensor.dtype not in WEIGHT_DTYPES:
            raise ModelError(f"checkpoint {path}: tensor {name} is {tensor.dtype}; "
                             "weights must be float32, float16 or bfloat16")
        if not torch.isfinite(tensor).all():
            raise ModelError(f"checkpoint {path}: tensor {name} is not finite (holds NaN or infinities)")


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 over the parameter and buffer names and bytes (hex)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
