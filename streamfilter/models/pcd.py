"""Pyramid, cascading and deformable alignment with FOC offsets (sec. 3.3, eqs. 3-8).

Aligns (deforms) the features of one ``source`` frame of a group of frames towards the target
frame t, coarse to fine over the three pyramid levels (3 = coarsest, 1 = finest):

    dP3 = FOC3(F^3 of the group)                          A3 = DConv(F_src^3, dP3)
    dP2 = FOC2(Conv(F^2 of the group), up(dP3))           A2 = Conv(DConv(F_src^2, dP2) + up(A3))
    dP1 = FOC1(Conv(F^1 of the group), up(dP2), H...)     A1 = Conv(DConv(F_src^1, dP1) + up(A2))

("+" is concatenation). The enhancement branch uses groups (t', t) with source t'; the
interpolation branch uses (a, b, c) with source b. Offset features are upsampled bilinearly and
multiplied by 2 (displacements double with resolution), as in EDVR; the paper leaves this open.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .blocks import ConvAct, upsample_features
from .config import FineNetConfig, OffsetsKind
from .dcn import ModulatedDeformConv
from .foc import face_aware_offsets, simplified_offsets, two_conv_offsets

Pyramid = tuple[list[Tensor], list[Tensor], list[Tensor]]
"""Per level (1, 2, 3), the group's feature maps, each (N, C, h / 2**(level-1), ...)."""


class CascadedAlignment(nn.Module):
    """forward(pyramid, heatmaps: list of (N, C, h, w) or None) -> A1: (N, C, h, w)."""

    def __init__(
        self,
        channels: int,
        *,
        frames: int,
        source: int,
        deformable_groups: int,
        offsets: OffsetsKind,
        landmarks: bool,
        max_offsets: tuple[float, float, float] = (0.0, 0.0, 0.0),
    ):
        """max_offsets: bound of each level's (1, 2, 3) offsets in pixels (0: unbounded)."""
        super().__init__()
        self.source = source
        self.landmarks = landmarks
        if offsets == "foc":
            lower, top = simplified_offsets, face_aware_offsets
        else:
            lower = top = two_conv_offsets
        self.offsets3 = lower(channels, inputs=frames)
        self.fuse2 = ConvAct(frames * channels, channels)
        self.offsets2 = lower(channels, inputs=2)
        self.fuse1 = ConvAct(frames * channels, channels)
        self.offsets1 = top(channels, inputs=2 + (frames if landmarks else 0))

        def dconv(max_offset: float) -> ModulatedDeformConv:
            return ModulatedDeformConv(
                channels, channels, offset_channels=channels, deformable_groups=deformable_groups,
                max_offset=max_offset,
            )

        self.dconv3, self.dconv2, self.dconv1 = dconv(max_offsets[2]), dconv(max_offsets[1]), dconv(max_offsets[0])
        self.merge2 = ConvAct(2 * channels, channels)
        self.merge1 = ConvAct(2 * channels, channels)

    @classmethod
    def for_config(cls, config: FineNetConfig, *, frames: int, source: int) -> CascadedAlignment:
        return cls(
            config.channels,
            frames=frames,
            source=source,
            deformable_groups=config.deformable_groups,
            offsets=config.offsets,
            landmarks=config.landmarks,
            max_offsets=tuple(config.offset_bound * config.crop_size / 2 ** (1 + level) for level in (1, 2, 3)),
        )

    def forward(self, pyramid: Pyramid, heatmaps: list[Tensor] | None) -> Tensor:
        level1, level2, level3 = pyramid
        src = self.source
        offset3 = self.offsets3(level3)
        aligned3 = self.dconv3(level3[src], offset3)

        offset2 = self.offsets2([self.fuse2(_cat(level2)), 2 * upsample_features(offset3)])
        aligned2 = self.merge2(_cat([self.dconv2(level2[src], offset2), upsample_features(aligned3)]))

        top_inputs = [self.fuse1(_cat(level1)), 2 * upsample_features(offset2)]
        if self.landmarks:
            if heatmaps is None:
                raise ValueError("this alignment uses landmark heatmaps but none were given")
            top_inputs += heatmaps
        offset1 = self.offsets1(top_inputs)
        return self.merge1(_cat([self.dconv1(level1[src], offset1), upsample_features(aligned2)]))


def _cat(tensors: list[Tensor]) -> Tensor:
    return torch.cat(tensors, dim=1)
