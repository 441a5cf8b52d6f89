"""``unet``: the plain multi-frame baseline, a two-level U-Net without alignment or landmarks.

Every crop is pixel-unshuffled by ``unshuffle`` (f), so a 256-pixel face is worked on as a
64 x 64 grid of 3 f^2 values each: the network sees the face at its crop size and pays for a
small grid. Split for streaming (``split.py``):

- ``UNetFrame`` (once per frame): unshuffle + one conv, (N, 3, S, S) -> (N, Cf, S/f, S/f).
- ``UNetWindow`` (once per output frame): the T encodings and the unshuffled centre frame
  fused by a 1x1 conv, residual blocks at S/f and (twice the channels) at S/2f, a pixel-shuffle
  upsampling added to the skip, residual blocks, then ``ImageHead`` to 3 f^2 channels shuffled
  back to an RGB residual on the centre frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import ConvAct, ImageHead, activation, conv3x3, initialise, residual_stack
from .config import UNetConfig
from .split import SplitModel


class UNetFrame(nn.Module):
    """crops (N, 3, S, S) in [0, 1], heatmaps (ignored) -> (encoded (N, Cf, S/f, S/f),)."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.unshuffle = config.unshuffle
        self.encode = ConvAct(3 * config.unshuffle ** 2, config.frame_channels)
        self.output_names = ("encoded",)

    def forward(self, crops: Tensor, heatmaps: Tensor) -> tuple[Tensor]:
        return (self.encode(F.pixel_unshuffle(crops, self.unshuffle)),)


class UNetWindow(nn.Module):
    """crops (N, T, 3, S, S) + encoded (N, T, Cf, S/f, S/f) -> {"output": (N, 3, S, S)}."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        c, f = config.channels, config.unshuffle
        frames = 2 * config.radius + 1
        self.unshuffle = f
        self.fuse = nn.Sequential(nn.Conv2d(frames * config.frame_channels + 3 * f * f, c, 1), activation())
        self.encoder = residual_stack(c, config.encoder_blocks)
        self.down = ConvAct(c, 2 * c, stride=2)
        self.middle = residual_stack(2 * c, config.middle_blocks)
        self.up = nn.Sequential(conv3x3(2 * c, 4 * c), nn.PixelShuffle(2), activation())
        self.decoder = residual_stack(c, config.decoder_blocks)
        self.head = ImageHead(c, 3 * f * f)

    def forward(self, crops: Tensor, encoded: Tensor) -> dict[str, Tensor]:
        centre = crops[:, crops.shape[1] // 2]
        x = self.fuse(torch.cat((encoded.flatten(1, 2), F.pixel_unshuffle(centre, self.unshuffle)), dim=1))
        skip = self.encoder(x)
        x = self.decoder(skip + self.up(self.middle(self.down(skip))))
        return {"output": centre + F.pixel_shuffle(self.head(x), self.unshuffle)}


def build_unet(config: UNetConfig) -> SplitModel:
    return initialise(SplitModel(config, UNetFrame(config), UNetWindow(config)))
