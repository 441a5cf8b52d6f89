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
"""

from __future__ import annotations

import torch

from ..errors import ModelError
from .baselines import build_dfd
from .config import DFDConfig, FineNetConfig, ModelConfig
from .finenet import build_finenet
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
    )
}


def get_config(name: str) -> ModelConfig:
    """The registered configuration ``name``; ``ModelError`` listing the names otherwise."""
    if name not in CONFIGS:
        raise ModelError(f"unknown model {name!r}; available: {', '.join(CONFIGS)}")
    return CONFIGS[name]


def build_model(config: ModelConfig, *, seed: int | None = None) -> SplitModel:
    """A freshly initialised network for ``config`` (in eval mode).

    With ``seed``, initialisation is deterministic and leaves the global RNG untouched, so that
    untrained built-in models (and the ONNX graphs cached for them) are reproducible.
    """
    builder = build_finenet if isinstance(config, FineNetConfig) else build_dfd
    if isinstance(config, DFDConfig | FineNetConfig):
        if seed is None:
            return builder(config).eval()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return builder(config).eval()
    raise ModelError(f"not a model configuration: {config!r}")
