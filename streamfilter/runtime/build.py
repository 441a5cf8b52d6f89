"""``build_restorer``: from a model name or checkpoint and an engine choice to a ``Restorer``.

A model is ``auto`` (see ``default_model``), a registry name (``finenet``, ``finenet-lite``,
...; see ``facedeblur models``) or the path of a checkpoint written by
``models.checkpoint.save_checkpoint``. A registry name uses the weights shipped in
``streamfilter/weights/<name>.safetensors`` when present; a name without shipped weights is
initialised randomly (deterministically, seed 0) and a warning says so.

On ONNX Runtime, shipped weights with matching graphs shipped beside them (the default
models', ``runtime.graphs``) run on those graphs: no export, and no torch imported, so the
default CPU filter runs without PyTorch installed. Any other model is exported once, which
needs PyTorch (a one-line error says so where it is missing), into the user cache (the
package's or a checkpoint's folder may be read-only).

Engines: ``torch`` (CPU or CUDA), ``onnxruntime`` (CPU; CUDA when ONNX Runtime has its CUDA
provider), ``tensorrt`` (not available yet), ``auto`` (``onnxruntime`` on CPU, ``torch`` on
CUDA until the TensorRT engine exists).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelError, UsageError, WeightsMissingError
from ..extras import require_torch
from ..models.config import ModelConfig
from ..models.metadata import read_checkpoint_config
from ..models.registry import CONFIGS, get_config
from ..restorer import Restorer
from .graphs import shipped_graphs

if TYPE_CHECKING:
    from ..models.split import SplitModel

ENGINES = ("auto", "tensorrt", "torch", "onnxruntime")
SHIPPED_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
log = logging.getLogger(__name__)


DEFAULT_MODELS = {"cuda": "unet-wide", "cpu": "unet-wide"}
"""The model ``--model auto`` runs per device type, when its trained weights are installed:
the shipped model that gains most on the held-out training clips (MODEL_CARD.md); the shipped
``finenet`` is below it there, so it is not the CUDA default."""


def shipped_weights(name: str) -> Path:
    """Where the package keeps the trained weights of the registry model ``name``."""
    return SHIPPED_WEIGHTS / f"{name}.safetensors"


def default_model(device: str) -> str:
    """The model ``--model auto`` means on ``device`` (``DEFAULT_MODELS``), falling back to the
    CPU default when the device's default has no weights installed.
    Raises ``WeightsMissingError`` when no default model has trained weights installed
    (``auto`` never runs an untrained network)."""
    kind = "cuda" if device.startswith("cuda") else "cpu"
    for name in dict.fromkeys((DEFAULT_MODELS[kind], DEFAULT_MODELS["cpu"])):
        if shipped_weights(name).is_file():
            return name
    raise WeightsMissingError(
        f"no trained weights for the default model are installed (looked for {SHIPPED_WEIGHTS}/"
        f"{DEFAULT_MODELS[kind]}.safetensors); pass --model CHECKPOINT, or --model none to pass frames through"
    )


def model_source(model: str) -> tuple[ModelConfig, Path | None]:
    """(configuration, checkpoint path or None) for a registry name or a checkpoint path,
    read without torch (a checkpoint's configuration from its header)."""
    if model in CONFIGS:
        shipped = shipped_weights(model)
        if shipped.is_file():
            return read_checkpoint_config(shipped, expect=get_config(model)), shipped
        return get_config(model), None
    path = Path(model)
    if path.suffix == ".safetensors" or path.exists():
        return read_checkpoint_config(path), path
    raise ModelError(f"unknown model {model!r}: not a checkpoint file nor one of {', '.join(CONFIGS)}")


def load_network(config: ModelConfig, weights: Path | None) -> SplitModel:
    """The network of ``model_source``'s answer: the checkpoint's, or randomly initialised."""
    from ..models.checkpoint import load_checkpoint
    from ..models.registry import build_model

    if weights is None:
        log.warning("no trained weights for %r are installed: using a randomly initialised network", config.name)
        return build_model(config, seed=0)
    return load_checkpoint(weights, expect=config)


def resolve_model(model: str) -> tuple[SplitModel, Path | None]:
    """(network, checkpoint path or None) for a registry name or a checkpoint path."""
    config, weights = model_source(model)
    return load_network(config, weights), weights


def _device_type(device: str) -> str:
    """``cpu`` or ``cuda`` for ``cpu`` or ``cuda[:N]``; ``UsageError`` for anything else."""
    match = re.fullmatch(r"(cpu|cuda)(:\d+)?", device)
    if match is None:
        raise UsageError(f"--device {device!r} is not supported; use cpu or cuda[:N]")
    return match.group(1)


def build_restorer(model: str, engine: str = "auto", device: str = "cpu") -> Restorer:
    """A ready ``Restorer`` for ``model`` on ``engine`` and ``device``.

    ONNX Runtime on the CPU gets ``CPU_WINDOWS_IN_FLIGHT`` windows at once, each on half the
    cores (see :mod:`.onnx_engine`).

    Raises ``UsageError`` for an unknown engine or device string, ``ModelError`` for an unknown
    model, an engine unavailable here (PyTorch not installed included), or a checkpoint that
    cannot be loaded.
    """
    if engine not in ENGINES:
        raise UsageError(f"--engine {engine!r} is not one of {', '.join(ENGINES)}")
    kind = _device_type(device)
    if engine == "tensorrt":
        raise ModelError("the tensorrt engine is not available yet; use --engine onnxruntime or torch")
    if engine == "auto":
        engine = "onnxruntime" if kind == "cpu" else "torch"
    if model == "auto":
        model = default_model(device)
        log.info("model: %s (shipped weights)", model)
    config, weights = model_source(model)
    if engine == "torch":
        require_torch("--engine torch")
        import torch

        from .torch_engine import TorchRestorer

        if kind == "cuda" and not torch.cuda.is_available():
            raise ModelError(f"--device {device}: CUDA is not available on this machine")
        return TorchRestorer(load_network(config, weights), device=device)
    import onnxruntime

    from .onnx_engine import CPU_WINDOWS_IN_FLIGHT, OnnxRestorer

    providers = ["CPUExecutionProvider"]
    concurrency = CPU_WINDOWS_IN_FLIGHT
    if kind == "cuda":
        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise ModelError("this ONNX Runtime build has no CUDA provider; use --engine torch on CUDA")
        providers.insert(0, "CUDAExecutionProvider")
        concurrency = 1
    threads = max(1, usable_cores() // concurrency)
    shipped = weights is not None and weights.parent == SHIPPED_WEIGHTS
    graphs = shipped_graphs(weights) if shipped else None
    if graphs is None:
        require_torch(f"exporting the ONNX graphs of {config.name!r} (none ship for these weights)")
        from .export import cached_export

        graphs = cached_export(load_network(config, weights), weights=None if shipped else weights)
    return OnnxRestorer(config, graphs, threads=threads, providers=providers, concurrency=concurrency)


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
