"""The per-frame / per-window split every streaming model follows.

``frame(crops, heatmaps)`` does the work that depends on one frame only and returns a tuple of
tensors (names in ``frame.output_names``); the engines cache it per frame. ``window(crops,
*features)`` takes the window's crops and those tensors stacked along a time axis and returns a
dict with at least ``"output"``, the restored frame t (training also reads the branch outputs).
"""

from __future__ import annotations

from torch import Tensor, nn

from .config import ModelConfig


class SplitModel(nn.Module):
    """A network as a per-frame and a per-window part.

    forward(crops: (N, T, 3, S, S) float in [0, 1], heatmaps: (N, T, 68, H, H))
      -> dict of (N, 3, S, S) images, ``"output"`` being the restored centre frame.
    """

    def __init__(self, config: ModelConfig, frame: nn.Module, window: nn.Module):
        super().__init__()
        self.config = config
        self.frame = frame
        self.window = window

    def forward(self, crops: Tensor, heatmaps: Tensor) -> dict[str, Tensor]:
        n, t = crops.shape[:2]
        features = self.frame(crops.flatten(0, 1), heatmaps.flatten(0, 1))
        return self.window(crops, *(f.unflatten(0, (n, t)) for f in features))
