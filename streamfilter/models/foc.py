"""Offset calculation for the deformable convolutions (sec. 3.2).

Every module here maps a list of same-sized feature maps (frame features, the upsampled offset
features of the coarser level, and at the top level the heatmap features) to an offset feature
map (N, C, h, w); ``ModulatedDeformConv`` turns that into per-tap offsets and masks.

- ``face_aware_offsets``: the FOC module used at the top pyramid level. Figure 4 of the paper is
  not in the text we have; our reading: the concatenated inputs, including the heatmap features
  of the frames, go through a two-scale encoder-decoder with a skip connection.
- ``simplified_offsets``: the "simplified FOC with a small encoder-decoder network that does not
  use the landmark prior" of the lower levels: a one-scale encoder-decoder.
- ``two_conv_offsets``: EDVR's two convolutions per level, for the ``finenet-nofoc`` ablation.
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


class OffsetNetwork(nn.Module):
    """Concatenate the inputs (each (N, C, h, w)), conv to C channels, then ``body``:
    -> offset feature (N, C, h, w)."""

    def __init__(self, channels: int, *, inputs: int, body: nn.Module):
        super().__init__()
        self.body = nn.Sequential(ConvAct(inputs * channels, channels), body)

    def forward(self, inputs: list[Tensor]) -> Tensor:
        return self.body(torch.cat(inputs, dim=1))


def face_aware_offsets(channels: int, *, inputs: int) -> OffsetNetwork:
    """Top-level FOC: a two-scale encoder-decoder (its inputs include the heatmap features)."""
    return OffsetNetwork(channels, inputs=inputs, body=EncoderDecoder(channels, depth=2))


def simplified_offsets(channels: int, *, inputs: int) -> OffsetNetwork:
    """Lower-level FOC without landmarks: a one-scale encoder-decoder."""
    return OffsetNetwork(channels, inputs=inputs, body=EncoderDecoder(channels, depth=1))


def two_conv_offsets(channels: int, *, inputs: int) -> OffsetNetwork:
    """EDVR offsets: two 3x3 convs in all."""
    return OffsetNetwork(channels, inputs=inputs, body=ConvAct(channels, channels))
