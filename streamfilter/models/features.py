"""Per-frame feature extraction: frame encoder, feature pyramid and heatmap encoder.

These run once per frame (the per-frame part of FineNet) and their outputs are what the
streaming engines cache and reuse for the five windows that contain the frame.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import ConvAct, residual_stack


class FrameEncoder(nn.Module):
    """RGB crop to features at 1/4 resolution ('each frame after downsampling', sec. 3.3).

    (N, 3, S, S) -> (N, C, S/4, S/4)
    """

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            ConvAct(3, channels), ConvAct(channels, channels, stride=2), ConvAct(channels, channels, stride=2)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class FeaturePyramid(nn.Module):
    """Three-level pyramid (sec. 3.3): level 1 = the extracted features, levels 2 and 3 by
    stride-2 convolutions.

    (N, C, h, w) -> ((N, C, h, w), (N, C, h/2, w/2), (N, C, h/4, w/4))
    """

    def __init__(self, channels: int, extract_blocks: int):
        super().__init__()
        self.extract = residual_stack(channels, extract_blocks)
        self.level2 = nn.Sequential(ConvAct(channels, channels, stride=2), ConvAct(channels, channels))
        self.level3 = nn.Sequential(ConvAct(channels, channels, stride=2), ConvAct(channels, channels))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        level1 = self.extract(x)
        level2 = self.level2(level1)
        return level1, level2, self.level3(level2)


class HeatmapEncoder(nn.Module):
    """68 landmark heatmaps to feature maps at pyramid level 1 (the 'H' of sec. 3.2).

    (N, 68, H, H) -> (N, C, S/4, S/4); heatmaps of another size are resized bilinearly first.
    """

    def __init__(self, channels: int, *, heatmap_size: int, feature_size: int):
        super().__init__()
        self.resize = heatmap_size != feature_size
        self.feature_size = feature_size
        self.body = nn.Sequential(ConvAct(68, channels), ConvAct(channels, channels))

    def forward(self, heatmaps: Tensor) -> Tensor:
        if self.resize:
            size = (self.feature_size, self.feature_size)
            heatmaps = F.interpolate(heatmaps, size=size, mode="bilinear", align_corners=False)
        return self.body(heatmaps)
