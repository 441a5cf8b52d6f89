"""Named model configurations and the function that builds a network from a configuration.

- ``finenet``: paper-sized (64 channels, 8 deformable groups, 256 x 256 crops, 64 x 64
  heatmaps; block counts follow EDVR's deblurring model, which FineNet extends).
- ``finenet-lite``: CPU real-time variant; its sizes were chosen by measuring latency through
  ONNX Runtime on two cores (bench/bench_models.py, bench/results/models.json).
- ``finenet-lite-nofoc``: ``finenet-lite`` with EDVR's two-conv offsets and no landmarks, the
  FOC ablation at a size that trains on a CPU with the same budget as ``finenet-lite``.
- ablations of sec. 4.4 on the paper-sized model: ``finenet-nofoc`` (EDVR two-conv offsets, no
  landmarks), ``finenet-nolandmarks`` (FOC without heatmaps), ``enhance-only``,
  ``interp-only``, ``early-fusion``.
- ``dfd``: the single-frame baseline of Chrysos et al.
- ``unet``: the plain multi-frame baseline (five frames stacked, no alignment or landmarks),
  at 256-pixel crops worked on as a 64 x 64 grid (``unet.py``); ``unet-wide``: the same at 64
  channels with a fourth middle block, about twice the compute, grown from a trained ``unet``
  with ``facedeblur train --init`` (``grow.py``).

Importing this module costs no torch (the configurations are plain dataclasses): the builders
are imported by ``build_model``, so the ONNX Runtime path names and checks configurations
without PyTorch installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ModelError
from .config import DFDConfig, FineNetConfig, ModelConfig, UNetConfig, uses_heatmaps

if TYPE_CHECKING:
    from .split import SplitModel

LITE = {
    "channels": 16,
    "deformable_groups": 4,
    "crop_size": 128,
    "predeblur_blocks": 1,
    "extract_blocks": 2,
    "reconstruct_blocks": 2,
    "combine_channels": 16,
    "combine_blocks": 3,
}
"""Sizes of ``finenet-lite``, shared by its ablation ``finenet-lite-nofoc``."""

CONFIGS: dict[str, ModelConfig] = {
    config.name: config
    for config in (
        FineNetConfig(name="finenet"),
        FineNetConfig(name="finenet-lite", **LITE),
        FineNetConfig(name="finenet-lite-nofoc", offsets="edvr", landmarks=False, **LITE),
        FineNetConfig(name="finenet-nofoc", offsets="edvr", landmarks=False),
        FineNetConfig(name="finenet-nolandmarks", landmarks=False),
        FineNetConfig(name="enhance-only", branches="enhance"),
        FineNetConfig(name="interp-only", branches="interp"),
        FineNetConfig(name="early-fusion", fusion="early"),
        DFDConfig(name="dfd"),
        UNetConfig(name="unet"),
        UNetConfig(name="unet-wide", channels=64, middle_blocks=4),
    )
}


def get_config(name: str) -> ModelConfig:
    """The registered configuration ``name``; ``ModelError`` listing the names otherwise."""
    if name not in CONFIGS:
        raise ModelError(f"unknown model {name!r}; available: {', '.join(CONFIGS)}")
    return CONFIGS[name]


def uses_landmarks(config: ModelConfig) -> bool:
    """Whether the network reads the landmark heatmaps (else they need not be computed)."""
    return isinstance(config, FineNetConfig) and uses_heatmaps(config)


def build_model(config: ModelConfig, *, seed: int | None = None) -> SplitModel:
    """A freshly initialised network for ``config`` (in eval mode).

    With ``seed``, initialisation is deterministic and leaves the global RNG untouched, so that
    untrained built-in models (and the ONNX graphs cached for them) are reproducible.
    """
    import torch

    from .baselines import build_dfd
    from .finenet import build_finenet
    from .unet import build_unet

    builders = {FineNetConfig: build_finenet, DFDConfig: build_dfd, UNetConfig: build_unet}
    builder = builders.get(type(config))
    if builder is not None:
        if seed is None:
            return builder(config).eval()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return builder(config).eval()
    raise ModelError(f"not a model configuration: {config!r}")
