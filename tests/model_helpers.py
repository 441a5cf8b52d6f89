"""Helpers shared by the model, ONNX and runtime tests: tiny configurations and inputs."""

from __future__ import annotations

import dataclasses

import torch

from streamfilter.models.config import FineNetConfig
from streamfilter.models.dcn import ModulatedDeformConv
from streamfilter.models.registry import get_config


def small_config(name: str = "finenet", **overrides) -> FineNetConfig:
    """The registered FineNet variant ``name`` shrunk to 8 channels and 32 px crops."""
    sizes = dict(
        channels=8,
        deformable_groups=2,
        crop_size=32,
        heatmap_size=16,
        predeblur_blocks=1,
        extract_blocks=1,
        reconstruct_blocks=1,
        combine_channels=8,
        combine_blocks=1,
    )
    return dataclasses.replace(get_config(name), **{**sizes, **overrides})


def randomize_offsets(model: torch.nn.Module, *, std: float = 0.05, seed: int = 1) -> None:
    """Give every DCN's offset/mask conv random weights (they start at zero), so offsets of a
    few pixels, and everything that feeds them, actually change the output."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, ModulatedDeformConv):
                weight = module.offset_mask.weight
                weight.copy_(torch.randn(weight.shape, generator=generator) * std)
                module.offset_mask.bias.copy_(torch.randn(module.offset_mask.bias.shape, generator=generator))


def window_inputs(config, *, batch: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random crops (N, T, 3, S, S) in [0, 1] and heatmaps (N, T, 68, H, H)."""
    generator = torch.Generator().manual_seed(seed)
    frames = 2 * config.radius + 1
    crops = torch.rand(batch, frames, 3, config.crop_size, config.crop_size, generator=generator)
    heatmaps = torch.rand(batch, frames, 68, config.heatmap_size, config.heatmap_size, generator=generator)
    return crops, heatmaps
