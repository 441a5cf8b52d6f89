"""Combining the enhanced and interpolated frames (sec. 3.5).

``Combination`` is the paper's late fusion: the two branch images, concatenated, go through two
stride-2 downsampling convs, nine residual blocks and two pixel-shuffle upsamplings, then the
full-resolution ``ImageRefine`` on the two images; its output is a residual added to the mean of
the two images (our choice of residual).

``EarlyFusion`` is the ablation: the five aligned feature maps of the enhancement branch and the
two interpolated ones are fused into one feature map, reconstructed once, added to frame t.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .blocks import ConvAct, ImageRefine, Reconstruction, Upsample2x, residual_stack


class Combination(nn.Module):
    """(N, 3, S, S) enhanced + (N, 3, S, S) interpolated -> (N, 3, S, S), S divisible by 4."""

    def __init__(self, channels: int, blocks: int):
        super().__init__()
        self.body = nn.Sequential(
            ConvAct(6, channels),
            ConvAct(channels, channels, stride=2),
            ConvAct(channels, channels, stride=2),
            residual_stack(channels, blocks),
            Upsample2x(channels),
            Upsample2x(channels),
        )
        self.refine = ImageRefine(channels, image_channels=6)

    def forward(self, enhanced: Tensor, interpolated: Tensor) -> Tensor:
        images = torch.cat((enhanced, interpolated), dim=1)
        return 0.5 * (enhanced + interpolated) + self.refine(self.body(images), images)


class EarlyFusion(nn.Module):
    """aligned (N, T C, h, w) + interpolated (N, 2 C, h, w) + frame t (N, 3, S, S) -> (N, 3, S, S)."""

    def __init__(self, channels: int, *, frames: int, reconstruct_blocks: int):
        super().__init__()
        self.fusion = nn.Sequential(nn.Conv2d((frames + 2) * channels, channels, 1), nn.LeakyReLU(0.1))
        self.reconstruct = Reconstruction(channels, reconstruct_blocks)

    def forward(self, aligned: Tensor, interpolated: Tensor, centre: Tensor) -> Tensor:
        return centre + self.reconstruct(self.fusion(torch.cat((aligned, interpolated), dim=1)), centre)
