"""FineNet (Tran et al.): enhancement + interpolation branches with face-aware alignment.

Split for streaming (see ``split.py``):

- ``FineNetFrame`` (once per frame): frame encoder (x1/4), pre-deblur (two-stage strategy,
  sec. 4.2), feature extractor and three-level pyramid, and the heatmap encoder when the
  configuration uses landmarks.
- ``FineNetWindow`` (once per output frame): enhancement branch, interpolation branch and their
  combination, or one branch alone, or early fusion, as the configuration says.
"""

from __future__ import annotations

from torch import Tensor, nn

from .blocks import initialise
from .combine import Combination, EarlyFusion
from .config import FineNetConfig, uses_heatmaps
from .enhance import EnhancementBranch
from .features import FeaturePyramid, FrameEncoder, HeatmapEncoder
from .interp import InterpolationBranch
from .predeblur import PreDeblur
from .split import SplitModel


class FineNetFrame(nn.Module):
    """crops (N, 3, S, S) in [0, 1], heatmaps (N, 68, H, H) -> level1 (N, C, S/4, S/4),
    level2 (N, C, S/8, S/8), level3 (N, C, S/16, S/16)[, heatmap features (N, C, S/4, S/4)]."""

    def __init__(self, config: FineNetConfig):
        super().__init__()
        c = config.channels
        self.encoder = FrameEncoder(c)
        self.predeblur = PreDeblur(c, config.predeblur_blocks) if config.predeblur_blocks else nn.Identity()
        self.pyramid = FeaturePyramid(c, config.extract_blocks)
        self.heatmaps = (
            HeatmapEncoder(c, heatmap_size=config.heatmap_size, feature_size=config.crop_size // 4)
            if uses_heatmaps(config)
            else None
        )
        self.output_names = ("level1", "level2", "level3") + (("heatmap_features",) if self.heatmaps else ())

    def forward(self, crops: Tensor, heatmaps: Tensor) -> tuple[Tensor, ...]:
        levels = self.pyramid(self.predeblur(self.encoder(crops)))
        if self.heatmaps is None:
            return levels
        return (*levels, self.heatmaps(heatmaps))


class FineNetWindow(nn.Module):
    """crops (N, 5, 3, S, S) + ``FineNetFrame`` outputs stacked as (N, 5, ...) -> dict with
    "output" and, when both branches exist with late fusion, "enhanced" and "interpolated"."""

    def __init__(self, config: FineNetConfig):
        super().__init__()
        frames = 2 * config.radius + 1
        both = config.branches == "both"
        self.enhance = EnhancementBranch(config, frames=frames) if config.branches != "interp" else None
        self.interp = InterpolationBranch(config) if config.branches != "enhance" else None
        late = both and config.fusion == "late"
        self.combine = Combination(config.combine_channels, config.combine_blocks) if late else None
        self.early = (
            EarlyFusion(config.channels, frames=frames, reconstruct_blocks=config.reconstruct_blocks)
            if config.fusion == "early"
            else None
        )

    def forward(
        self, crops: Tensor, level1: Tensor, level2: Tensor, level3: Tensor, heatmaps: Tensor | None = None
    ) -> dict[str, Tensor]:
        features = (level1, level2, level3, heatmaps)
        if self.early is not None:
            aligned = self.enhance.aligned(*features)
            interpolated = self.interp.interpolated(*features)
            return {"output": self.early(aligned, interpolated, crops[:, crops.shape[1] // 2])}
        if self.interp is None:
            return {"output": self.enhance(crops, *features)}
        if self.enhance is None:
            return {"output": self.interp(crops, *features)}
        enhanced = self.enhance(crops, *features)
        interpolated = self.interp(crops, *features)
        return {"output": self.combine(enhanced, interpolated), "enhanced": enhanced, "interpolated": interpolated}


def build_finenet(config: FineNetConfig) -> SplitModel:
    return initialise(SplitModel(config, FineNetFrame(config), FineNetWindow(config)))
