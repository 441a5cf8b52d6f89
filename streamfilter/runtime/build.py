"""``build_restorer``: from a model name or checkpoint and an engine choice to a ``Restorer``.

A model is ``auto`` (see ``default_model``), a registry name (``finenet``, ``finenet-lite``,
...; see ``facedeblur models``) or the path of a checkpoint written by
``models.checkpoint.save_checkpoint``. A registry name uses the weights shipped in
``streamfilter/weights/<name>.safetensors`` when present; a name without shipped weights is
initialised randomly (deterministically, seed 0) and a warning says so. ONNX graphs of shipped
weights go to the user cache (the package folder may be read-only), those of a user's
checkpoint beside it.

Engines: ``torch`` (CPU or CUDA), ``onnxruntime`` (CPU; CUDA when ONNX Runtime has its CUDA
provider), ``tensorrt`` (not available yet), ``auto`` (``onnxruntime`` on CPU, ``torch`` on
CUDA until the TensorRT engine exists).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from ..errors import ModelError, UsageError, WeightsMissingError
from ..models.checkpoint import load_checkpoint
from ..models.registry import CONFIGS, build_model, get_config
from ..models.split import SplitModel
from ..restorer import Restorer

ENGINES = ("auto", "tensorrt", "torch", "onnxruntime")
SHIPPED_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
log = logging.getLogger(__name__)


DEFAULT_MODELS = {"cuda": "unet", "cpu": "unet"}
"""The model ``--model auto`` runs per device type, when its trained weights are installed:
the shipped model that gains most on the held-out training clips (MODEL_CARD.md); the shipped
``finenet`` is below ``unet`` there, so it is not the CUDA default."""


def default_model(device: str) -> str:
    """The model ``--model auto`` means on ``device`` (``DEFAULT_MODELS``), falling back to the
    CPU default when the device's default has no weights installed.
    Raises ``WeightsMissingError`` when no default model has trained weights installed
    (``auto`` never runs an untrained network)."""
    kind = "cuda" if device.startswith("cuda") else "cpu"
    for name in dict.fromkeys((DEFAULT_MODELS[kind], DEFAULT_MODELS["cpu"])):
        if (SHIPPED_WEIGHTS / f"{name}.safetensors").is_file():
            return name
    raise WeightsMissingError(
        f"no trained weights for the default model are installed (looked for {SHIPPED_WEIGHTS}/"
        f"{DEFAULT_MODELS[kind]}.safetensors); pass --model CHECKPOINT, or --model none to pass frames through"
    )


def resolve_model(model: str) -> tuple[SplitModel, Path | None]:
    """(network, checkpoint path or None) for a registry name or a checkpoint path."""
    if model in CONFIGS:
        shipped = SHIPPED_WEIGHTS / f"{model}.safetensors"
        if shipped.is_file():
            return load_checkpoint(shipped, expect=get_config(model)), shipped
        log.warning("no trained weights for %r are installed: using a randomly initialised network", model)
        return build_model(get_config(model), seed=0), None
    path = Path(model)
    if path.suffix == ".safetensors" or path.exists():
        return load_checkpoint(path), path
    raise ModelError(f"unknown model {model!r}: not a checkpoint file nor one of {', '.join(CONFIGS)}")


def _check_device(device: str) -> torch.device:
    try:
        parsed = torch.device(device)
    except RuntimeError as exc:
        raise UsageError(f"--device {device!r} is not a device; use cpu or cuda[:N]") from exc
    if parsed.type not in ("cpu", "cuda"):
        raise UsageError(f"--device {device!r} is not supported; use cpu or cuda[:N]")
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"--device {device}: CUDA is not available on this machine")
    return parsed


def build_restorer(model: str, engine: str = "auto", device: str = "cpu") -> Restorer:
    """A ready ``Restorer`` for ``model`` on ``engine`` and ``device``.

    ONNX Runtime on the CPU gets ``CPU_WINDOWS_IN_FLIGHT`` windows at once, each on half the
    cores (see :mod:`.onnx_engine`).

    Raises ``UsageError`` for an unknown engine or device string, ``ModelError`` for an unknown
    model, an engine unavailable here, or a checkpoint that cannot be loaded.
    """
    if engine not in ENGINES:
        raise UsageError(f"--engine {engine!r} is not one of {', '.join(ENGINES)}")
    parsed = _check_device(device)
    if engine == "tensorrt":
        raise ModelError("the tensorrt engine is not available yet; use --engine onnxruntime or torch")
    if engine == "auto":
        engine = "onnxruntime" if parsed.type == "cpu" else "torch"
    if model == "auto":
        model = default_model(str(parsed))
        log.info("model: %s (shipped weights)", model)
    network, weights = resolve_model(model)
    if engine == "torch":
        from .torch_engine import TorchRestorer

        return TorchRestorer(network, device=str(parsed))
    import onnxruntime

    from .export import cached_export
    from .onnx_engine import CPU_WINDOWS_IN_FLIGHT, OnnxRestorer

    providers = ["CPUExecutionProvider"]
    concurrency = CPU_WINDOWS_IN_FLIGHT
    if parsed.type == "cuda":
        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise ModelError("this ONNX Runtime build has no CUDA provider; use --engine torch on CUDA")
        providers.insert(0, "CUDAExecutionProvider")
        concurrency = 1
    threads = max(1, usable_cores() // concurrency)
    beside = None if weights is None or weights.parent == SHIPPED_WEIGHTS else weights
    return OnnxRestorer(network.config, cached_export(network, weights=beside), threads=threads, providers=providers,
                        concurrency=concurrency)


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
