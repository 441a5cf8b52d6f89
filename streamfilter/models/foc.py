"""Offset calculation for the deformable convolutions (sec. 3.2).

Every module here maps a list of same-sized feature maps (frame features, the upsampled offset
features of the coarser level, and at the top level the heatmap features) to an offset feature
map (N, C, h, w); ``ModulatedDeformConv`` turns that into per-tap offsets and masks.

- ``FaceAwareOffsets``: the FOC module used at the top pyramid level. Figure 4 of the paper is
  not in the text we have; our reading: the concatenated inputs, including the heatmap features
  of the frames, go through a two-scale encoder-decoder with a skip connection.
- ``SimplifiedOffsets``: the "simplified FOC with a small encoder-decoder network that does not
  use the landmark prior" of the lower levels: a one-scale encoder-decoder.
- ``TwoConvOffsets``: EDVR's two convolutions per level, for the ``finenet-nofoc`` ablation.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .blocks import ConvAct, upsample_features


class EncoderDecoder(nn.Module):
    """U-shaped offset network of ``depth`` stride-2 stages: (N, C, h, w) -> (N, C, h, w),
    h and w divisible by 2**depth."""

    def __init__(self, channels: int, depth: int):
        super().__init__()
        self.down = nn.ModuleList(ConvAct(channels, channels, stride=2) for _ in range(depth))
        self.merge = nn.ModuleList(ConvAct(2 * channels, channels) for _ in range(depth))
        self.bottom = ConvAct(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for down in self.down:
            skips.append(x)
            x = down(x)
        x = self.bottom(x)
        for merge, skip in zip(reversed(self.merge), reversed(skips), strict=True):
            x = merge(torch.cat((upsample_features(x), skip), dim=1))
        return x


class FaceAwareOffsets(nn.Module):
    """Top-level FOC: inputs (each (N, C, h, w)) -> offset feature (N, C, h, w)."""

    def __init__(self, channels: int, *, inputs: int):
        super().__init__()
        self.body = nn.Sequential(ConvAct(inputs * channels, channels), EncoderDecoder(channels, depth=2))

    def forward(self, inputs: list[Tensor]) -> Tensor:
        return self.body(torch.cat(inputs, dim=1))


class SimplifiedOffsets(nn.Module):
    """Lower-level FOC without landmarks: inputs (each (N, C, h, w)) -> (N, C, h, w)."""

    def __init__(self, channels: int, *, inputs: int):
        super().__init__()
        self.body = nn.Sequential(ConvAct(inputs * channels, channels), EncoderDecoder(channels, depth=1))

    def forward(self, inputs: list[Tensor]) -> Tensor:
        return self.body(torch.cat(inputs, dim=1))


class TwoConvOffsets(nn.Module):
    """EDVR offsets: two 3x3 convs on the concatenated inputs -> (N, C, h, w)."""

    def __init__(self, channels: int, *, inputs: int):
        super().__init__()
        self.body = nn.Sequential(ConvAct(inputs * channels, channels), ConvAct(channels, channels))

    def forward(self, inputs: list[Tensor]) -> Tensor:
        return self.body(torch.cat(inputs, dim=1))
