"""Small building blocks shared by FineNet's modules and the baselines.

All blocks keep activations as (N, C, H, W) float tensors; LeakyReLU(0.1) throughout, as in
EDVR, which FineNet builds on (the paper does not name its activation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

RESIDUAL_INIT_SCALE = 0.1
"""Initial scale of residual branches (as EDVR's residual blocks): deep stacks start near identity."""


def conv3x3(in_channels: int, out_channels: int, *, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with 'same' padding (halves H and W when stride=2)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)


def scaled_init_(conv: nn.Conv2d, scale: float) -> nn.Conv2d:
    """Mark ``conv`` to start at ``scale`` times the He initialisation (see ``initialise``)."""
    conv.init_scale = scale
    return conv


def initialise(model: nn.Module) -> nn.Module:
    """He initialisation for LeakyReLU(0.1) of every conv and deformable-conv kernel, zero biases,
    times the ``init_scale`` marked by ``scaled_init_`` (0 zeroes a conv, e.g. offset predictors).

    PyTorch's default conv initialisation shrinks activations about 2.5x per layer; in FineNet's
    plain chains of 20-30 convs that leaves the image signal below the biases at the
    reconstruction, and the network cannot even overfit one batch.
    """
    with torch.no_grad():
        for module in model.modules():
            weight = getattr(module, "weight", None)
            if not isinstance(weight, nn.Parameter) or weight.dim() != 4:
                continue
            nn.init.kaiming_normal_(weight, a=0.1, nonlinearity="leaky_relu")
            weight.mul_(getattr(module, "init_scale", 1.0))
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
    return model


class ImageHead(nn.Conv2d):
    """conv3x3 from features to an RGB residual: (N, C, H, W) -> (N, 3, H, W), or to
    ``out_channels`` that a pixel shuffle turns into RGB.

    Built at a tenth of the He scale, so a random network's every path still shows in its
    output (tests of shapes, parity and dependencies use random weights). Training starts the
    heads at zero (``zero_image_heads``)."""

    def __init__(self, channels: int, out_channels: int = 3):
        super().__init__(channels, out_channels, 3, padding=1)
        self.init_scale = RESIDUAL_INIT_SCALE


def zero_image_heads(model: nn.Module) -> nn.Module:
    """Zero every ``ImageHead``: each branch then starts as exactly the image its residual is
    added to (frame t, the neighbours' mean, the branches' mean), with live features behind it.

    Started from random heads, a branch begins far below its input and escapes by shrinking
    every activation towards zero, then stays at the identity (docs/training-status.md)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, ImageHead):
                module.weight.zero_()
                module.bias.zero_()
    return model


def activation() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.1)


class ConvAct(nn.Sequential):
    """conv3x3 + LeakyReLU: (N, Ci, H, W) -> (N, Co, H / stride, W / stride)."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1):
        super().__init__(conv3x3(in_channels, out_channels, stride=stride), activation())


def fusion(in_channels: int, channels: int) -> nn.Sequential:
    """Fuse concatenated feature maps: 1x1 conv + act + 3x3 conv + act, (N, Ci, h, w) -> (N, C, h, w)."""
    return nn.Sequential(nn.Conv2d(in_channels, channels, 1), activation(), ConvAct(channels, channels))


class ResidualBlock(nn.Module):
    """x + conv(act(conv(x))), no normalisation, initialised near identity: (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            scaled_init_(conv3x3(channels, channels), RESIDUAL_INIT_SCALE),
            activation(),
            scaled_init_(conv3x3(channels, channels), RESIDUAL_INIT_SCALE),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def residual_stack(channels: int, blocks: int) -> nn.Sequential:
    """``blocks`` residual blocks in a row (an empty stack is the identity)."""
    return nn.Sequential(*(ResidualBlock(channels) for _ in range(blocks)))


class Upsample2x(nn.Sequential):
    """conv to 4C + pixel shuffle + LeakyReLU: (N, C, H, W) -> (N, C, 2H, 2W)."""

    def __init__(self, channels: int):
        super().__init__(conv3x3(channels, 4 * channels), nn.PixelShuffle(2), activation())


def upsample_features(x: Tensor) -> Tensor:
    """Bilinear x2: (N, C, H, W) -> (N, C, 2H, 2W)."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class ImageRefine(nn.Module):
    """Full-resolution end of every image output: features brought up to the image size,
    concatenated with a shallow encoding of the image the residual is added to, one conv, and
    the ``ImageHead``: features (N, C, S, S) + image (N, Ci, S, S) -> RGB residual (N, 3, S, S).

    Features at 1/4 resolution with few channels cannot carry a face's fine detail (finenet-lite
    has 16 values per 4 x 4 x 3 = 48 pixel values); without this full-resolution path its
    enhancement branch stayed at the identity (docs/training-status.md)."""

    def __init__(self, channels: int, image_channels: int = 3):
        super().__init__()
        self.image = ConvAct(image_channels, channels)
        self.merge = ConvAct(2 * channels, channels)
        self.head = ImageHead(channels)

    def forward(self, features: Tensor, image: Tensor) -> Tensor:
        return self.head(self.merge(torch.cat((features, self.image(image)), dim=1)))


class Reconstruction(nn.Module):
    """Features at 1/4 resolution to an RGB residual for ``image`` (sec. 3.3, 'reconstruction').

    residual blocks -> two pixel-shuffle x2 upsamplings -> ``ImageRefine`` with the image:
    (N, C, S/4, S/4) + (N, 3, S, S) -> (N, 3, S, S)
    """

    def __init__(self, channels: int, blocks: int):
        super().__init__()
        self.body = nn.Sequential(residual_stack(channels, blocks), Upsample2x(channels), Upsample2x(channels))
        self.refine = ImageRefine(channels)

    def forward(self, x: Tensor, image: Tensor) -> Tensor:
        return self.refine(self.body(x), image)
