"""Enhancement branch (sec. 3.3): align every frame of the window to frame t, fuse, reconstruct.

Every frame t' of t-2..t+2 (t itself included, as in EDVR) is aligned to t with one shared
``CascadedAlignment`` over the group (t', t); the five neighbours run as one batch. Fusion is
our choice (the paper names a "fusion module" only): a 1x1 conv over the concatenated aligned
features and a 3x3 conv. The reconstruction output is a residual added to the input frame t.
"""

from __future__ import annotations

from torch import Tensor, nn

from .blocks import Reconstruction, fusion
from .config import FineNetConfig
from .pcd import CascadedAlignment


def _pairs(x: Tensor) -> list[Tensor]:
    """(N, T, C, h, w) -> [neighbours, reference], each (N T, C, h, w), reference = frame t."""
    centre = x.shape[1] // 2
    return [x.flatten(0, 1), x[:, centre : centre + 1].expand_as(x).flatten(0, 1)]


class EnhancementBranch(nn.Module):
    def __init__(self, config: FineNetConfig, *, frames: int):
        super().__init__()
        c = config.channels
        self.align = CascadedAlignment.for_config(config, frames=2, source=0)
        self.fusion = fusion(frames * c, c)
        self.reconstruct = Reconstruction(c, config.reconstruct_blocks)

    def aligned(self, level1: Tensor, level2: Tensor, level3: Tensor, heatmaps: Tensor | None) -> Tensor:
        """Pyramid levels (N, T, C, h / 2**(l-1), ...) and heatmap features (N, T, C, h, w)
        -> the T aligned feature maps, concatenated: (N, T C, h, w)."""
        n, t = level1.shape[:2]
        pyramid = (_pairs(level1), _pairs(level2), _pairs(level3))
        aligned = self.align(pyramid, None if heatmaps is None else _pairs(heatmaps))
        return aligned.unflatten(0, (n, t)).flatten(1, 2)

    def forward(
        self, crops: Tensor, level1: Tensor, level2: Tensor, level3: Tensor, heatmaps: Tensor | None
    ) -> Tensor:
        """crops (N, T, 3, S, S) in [0, 1] + per-frame features -> enhanced frame t (N, 3, S, S)."""
        centre = crops[:, crops.shape[1] // 2]
        return centre + self.reconstruct(self.fusion(self.aligned(level1, level2, level3, heatmaps)), centre)
