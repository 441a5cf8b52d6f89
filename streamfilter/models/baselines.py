"""Single-frame baseline ``dfd``: Chrysos et al., "Deep face deblurring".

A ResNet without pooling (every block at full resolution), with skip connections from the
2nd and 3rd ResNet stages, each through batch normalisation and a learned linear (1x1) map to
the 3 output channels. Our choices where the paper is silent: a 7x7 stem, basic (two-conv)
residual blocks with batch norm, a 3x3 head on the last stage, and all outputs summed as a
residual on the input. Their loss, the Huber loss on the pixel error x,
``L(x) = |x| - 0.5 if |x| > 1 else 0.5 x**2``, lives with training.
"""

from __future__ import annotations

from torch import Tensor, nn

from .config import DFDConfig
from .split import SplitModel

SKIP_STAGES = (1, 2)
"""0-based indices of the 2nd and 3rd stages, whose outputs feed skip connections."""


class BasicBlock(nn.Module):
    """ResNet basic block: relu(x + bn(conv(relu(bn(conv(x)))))): (N, C, H, W) -> same."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(x + self.body(x))


class DeepFaceDeblur(nn.Module):
    """(N, 3, S, S) in [0, 1] -> (N, 3, S, S)."""

    def __init__(self, config: DFDConfig):
        super().__init__()
        c = config.channels
        self.stem = nn.Sequential(nn.Conv2d(3, c, 7, padding=3, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        self.stages = nn.ModuleList(
            nn.Sequential(*(BasicBlock(c) for _ in range(config.blocks))) for _ in range(config.stages)
        )
        self.skips = nn.ModuleDict({str(i): nn.Sequential(nn.BatchNorm2d(c), nn.Conv2d(c, 3, 1)) for i in SKIP_STAGES})
        self.head = nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        features = self.stem(x)
        out = x
        for index, stage in enumerate(self.stages):
            features = stage(features)
            if str(index) in self.skips:
                out = out + self.skips[str(index)](features)
        return out + self.head(features)


class DFDFrame(nn.Module):
    """All of a single-frame model's work is per frame: crops (N, 3, S, S) -> (restored,)."""

    def __init__(self, config: DFDConfig):
        super().__init__()
        self.net = DeepFaceDeblur(config)
        self.output_names = ("restored",)

    def forward(self, crops: Tensor, heatmaps: Tensor) -> tuple[Tensor]:
        return (self.net(crops),)


class DFDWindow(nn.Module):
    """restored (N, 1, 3, S, S) -> {"output": (N, 3, S, S)}; the crops are not needed."""

    def forward(self, crops: Tensor, restored: Tensor) -> dict[str, Tensor]:
        return {"output": restored[:, 0]}


def build_dfd(config: DFDConfig) -> SplitModel:
    return SplitModel(config, DFDFrame(config), DFDWindow())
