"""Pre-deblurring module: the first stage of the two-stage strategy (sec. 4.2).

The paper only says that "a small deblurring module" removes noise and partially deblurs each
frame before alignment, following EDVR. Our choice: a three-scale encoder-decoder of residual
blocks on the 1/4-resolution frame features, coarse-to-fine with additive skips. It works on
one frame at a time, so it belongs to the per-frame part that runs once per frame.
"""

from __future__ import annotations

from torch import Tensor, nn

from .blocks import ConvAct, residual_stack, upsample_features


class PreDeblur(nn.Module):
    """(N, C, h, w) -> (N, C, h, w), h and w divisible by 4."""

    def __init__(self, channels: int, blocks: int):
        super().__init__()
        self.down1 = ConvAct(channels, channels, stride=2)
        self.down2 = ConvAct(channels, channels, stride=2)
        self.fine = residual_stack(channels, blocks)
        self.middle = residual_stack(channels, blocks)
        self.coarse = residual_stack(channels, blocks)

    def forward(self, x: Tensor) -> Tensor:
        middle = self.down1(x)
        coarse = self.coarse(self.down2(middle))
        middle = self.middle(middle) + upsample_features(coarse)
        return self.fine(x) + upsample_features(middle)
