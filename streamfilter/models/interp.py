"""Interpolation branch (sec. 3.4): estimate frame t from its neighbours, never looking at t.

Forward interpolation deforms t-1 using the group [t-2, t-1, t+1]; backward interpolation
deforms t+1 using [t+2, t+1, t-1] (the paper's decreasing order). Both directions share one
``CascadedAlignment`` and run as one batch. The two results are fused and reconstructed; since
frame t is unused, the reconstruction's residual is added to the mean of frames t-1 and t+1
(our choice; the paper does not say what the residual is added to).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .blocks import Reconstruction, fusion
from .config import FineNetConfig
from .pcd import CascadedAlignment

FORWARD = (0, 1, 3)
"""Window indices of [t-2, t-1, t+1] in a 5-frame window."""
BACKWARD = (4, 3, 1)
"""Window indices of [t+2, t+1, t-1]."""


def _groups(x: Tensor) -> list[Tensor]:
    """(N, 5, C, h, w) -> 3 tensors (2N, C, h, w): forward group on top of the backward group."""
    return [torch.cat((x[:, f], x[:, b]), dim=0) for f, b in zip(FORWARD, BACKWARD, strict=True)]


class InterpolationBranch(nn.Module):
    def __init__(self, config: FineNetConfig):
        super().__init__()
        c = config.channels
        self.align = CascadedAlignment.for_config(config, frames=3, source=1)
        self.fusion = fusion(2 * c, c)
        self.reconstruct = Reconstruction(c, config.reconstruct_blocks)

    def interpolated(self, level1: Tensor, level2: Tensor, level3: Tensor, heatmaps: Tensor | None) -> Tensor:
        """Per-frame features (N, 5, C, ...) -> forward and backward estimates of frame t's
        features, concatenated: (N, 2 C, h, w)."""
        n = level1.shape[0]
        pyramid = (_groups(level1), _groups(level2), _groups(level3))
        both = self.align(pyramid, None if heatmaps is None else _groups(heatmaps))
        return torch.cat((both[:n], both[n:]), dim=1)

    def forward(
        self, crops: Tensor, level1: Tensor, level2: Tensor, level3: Tensor, heatmaps: Tensor | None
    ) -> Tensor:
        """crops (N, 5, 3, S, S) in [0, 1] + per-frame features -> interpolated frame t (N, 3, S, S)."""
        mean = 0.5 * (crops[:, 1] + crops[:, 3])
        return mean + self.reconstruct(self.fusion(self.interpolated(level1, level2, level3, heatmaps)), mean)
