"""What a network's deformable alignment does on given windows.

Two questions a FineNet checkpoint should answer before anyone reads an ablation into it:
are its offsets sane (a layer whose offsets exceed its feature map samples padding, and its
saturated masks then gate nothing), and does its output depend on the landmark heatmaps at all?
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .dcn import ModulatedDeformConv
from .split import SplitModel


@dataclass(frozen=True)
class LayerStats:
    """One deformable layer over a set of windows. offset_mean / offset_max: |offset| in pixels
    of that layer's feature map (side ``feature_side``); mask_spread: mean |mask - 0.5| (0 at
    initialisation, 0.5 when every mask is saturated at 0 or 1)."""

    name: str
    feature_side: int
    offset_mean: float
    offset_max: float
    mask_spread: float

    @property
    def beyond_map(self) -> bool:
        """True when the mean offset is larger than the feature map itself."""
        return self.offset_mean > self.feature_side


def deformable_layers(model: SplitModel) -> list[tuple[str, ModulatedDeformConv]]:
    """(qualified name, layer) of every deformable convolution of ``model``, in module order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, ModulatedDeformConv)]


class AlignmentRecorder:
    """Context manager: while it is open, every forward pass of ``model`` adds the offsets and
    masks of its deformable layers to the statistics ``stats()`` returns."""

    def __init__(self, model: SplitModel):
        self.layers = deformable_layers(model)
        self._sums: dict[str, list[float]] = {}
        self._handles: list = []

    def __enter__(self) -> AlignmentRecorder:
        self._handles = [module.register_forward_hook(self._hook(name)) for name, module in self.layers]
        return self

    def __exit__(self, *exc_info) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, name: str):
        @torch.no_grad()
        def record(module: ModulatedDeformConv, inputs: tuple[Tensor, Tensor], _output: Tensor) -> None:
            x, offset_feature = inputs
            offset_mask = module.offset_mask(offset_feature).float()
            split = 2 * module.deformable_groups * module.kernel_size**2
            offsets = offset_mask[:, :split].abs()
            spread = (torch.sigmoid(offset_mask[:, split:]) - 0.5).abs()
            entry = self._sums.setdefault(name, [x.shape[-1], 0.0, 0.0, 0.0, 0])
            entry[1] += offsets.mean().item()
            entry[2] = max(entry[2], offsets.max().item())
            entry[3] += spread.mean().item()
            entry[4] += 1
        return record

    def stats(self) -> list[LayerStats]:
        """One entry per deformable layer that ran, in module order."""
        return [LayerStats(name, int(side), total / count, peak, spread / count)
                for name, (side, total, peak, spread, count) in
                ((n, self._sums[n]) for n, _ in self.layers if n in self._sums)]


@torch.no_grad()
def alignment_stats(model: SplitModel, batches: list[tuple[Tensor, Tensor]]) -> list[LayerStats]:
    """Per deformable layer of ``model``, its offsets and masks over ``batches`` of (crops
    (N, T, 3, S, S), heatmaps (N, T, 68, H, H)); layers in module order."""
    was_training = model.training
    model.eval()
    try:
        with AlignmentRecorder(model) as recorder:
            for crops, heatmaps in batches:
                model(crops, heatmaps)
    finally:
        model.train(was_training)
    return recorder.stats()


@torch.no_grad()
def landmark_effect(model: SplitModel, batches: list[tuple[Tensor, Tensor]]) -> float:
    """Largest change of the output (8-bit levels) over ``batches`` when every heatmap is
    replaced by zeros: 0 for a network that ignores its landmarks."""
    was_training = model.training
    model.eval()
    try:
        largest = 0.0
        for crops, heatmaps in batches:
            with_landmarks = model(crops, heatmaps)["output"].float()
            without = model(crops, torch.zeros_like(heatmaps))["output"].float()
            largest = max(largest, (with_landmarks - without).abs().max().item() * 255)
        return largest
    finally:
        model.train(was_training)
