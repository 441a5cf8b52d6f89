"""What a network's deformable alignment does on given windows.

Three questions a FineNet checkpoint should answer before anyone reads an ablation into it:
are its offsets sane (a layer whose offsets exceed its feature map samples padding, and its
saturated masks then gate nothing), does its output depend on the landmark heatmaps at all,
and does it depend on its deep features (everything behind each reconstruction, alignment
included) or only on the full-resolution image path of ``ImageRefine``?
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .blocks import Reconstruction
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


@dataclass
class _Running:
    """Sums over the forward passes one layer has seen."""

    feature_side: int
    offset_mean: float = 0.0
    offset_max: float = 0.0
    mask_spread: float = 0.0
    passes: int = 0


class AlignmentRecorder:
    """Context manager: while it is open, every forward pass of ``model`` adds the offsets and
    masks of its deformable layers to the statistics ``stats()`` returns. It reads the output
    of each layer's offset conv, so recording adds no convolution."""

    def __init__(self, model: SplitModel):
        self.layers = deformable_layers(model)
        self._running: dict[str, _Running] = {}
        self._handles: list = []

    def __enter__(self) -> AlignmentRecorder:
        self._handles = [layer.offset_mask.register_forward_hook(self._hook(name, layer))
                         for name, layer in self.layers]
        return self

    def __exit__(self, *exc_info) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, name: str, layer: ModulatedDeformConv):
        @torch.no_grad()
        def record(_conv: torch.nn.Module, _inputs: tuple[Tensor], offset_mask: Tensor) -> None:
            offsets, masks = layer.offsets_and_masks(offset_mask.float())
            offsets = offsets.abs()
            running = self._running.setdefault(name, _Running(offset_mask.shape[-1]))
            running.offset_mean += offsets.mean().item()
            running.offset_max = max(running.offset_max, offsets.max().item())
            running.mask_spread += (masks - 0.5).abs().mean().item()
            running.passes += 1
        return record

    def stats(self) -> list[LayerStats]:
        """One entry per deformable layer that ran, in module order."""
        return [LayerStats(name, r.feature_side, r.offset_mean / r.passes, r.offset_max, r.mask_spread / r.passes)
                for name, r in ((n, self._running.get(n)) for n, _ in self.layers) if r is not None]


@torch.no_grad()
def inspect_alignment(model: SplitModel, batches: list[tuple[Tensor, Tensor]]) -> tuple[list[LayerStats], float]:
    """Run ``model`` on ``batches`` of (crops (N, T, 3, S, S), heatmaps (N, T, 68, H, H)) with
    and without its heatmaps: (per deformable layer its offsets and masks with the heatmaps, in
    module order; the largest change of the output in 8-bit levels when every heatmap is zero,
    0 for a network that ignores its landmarks)."""
    was_training = model.training
    model.eval()
    recorder = AlignmentRecorder(model)
    largest = 0.0
    try:
        for crops, heatmaps in batches:
            with recorder:
                with_landmarks = model(crops, heatmaps)["output"].float()
            without = model(crops, torch.zeros_like(heatmaps))["output"].float()
            largest = max(largest, (with_landmarks - without).abs().max().item() * 255)
    finally:
        model.train(was_training)
    return recorder.stats(), largest


@dataclass(frozen=True)
class DeepFeatureEffect:
    """Mean |change| in 8-bit levels of the output over a set of windows: ``model_change``
    against the blurred centre frame (all the model does), ``deep_change`` when every
    reconstruction's deep features come from another window (what the deep path does)."""

    model_change: float
    deep_change: float


@torch.no_grad()
def deep_feature_effect(model: SplitModel, batches: list[tuple[Tensor, Tensor]]) -> DeepFeatureEffect:
    """Run ``model`` on ``batches`` of (crops (N, T, 3, S, S), heatmaps (N, T, 68, H, H)), N >= 2,
    as it is and with the output of every ``Reconstruction.body`` rolled by one window along
    the batch; a model whose output ignores its deep features gives ``deep_change`` 0."""
    if any(len(crops) < 2 for crops, _ in batches):
        raise ValueError("the deep-feature check swaps features between windows: batches need 2 or more")
    rolled = {"on": False}

    def roll(module, args, output):
        return torch.roll(output, 1, dims=0) if rolled["on"] else output

    hooks = [m.body.register_forward_hook(roll) for m in model.modules() if isinstance(m, Reconstruction)]
    was_training = model.training
    model.eval()
    model_change = deep_change = 0.0
    try:
        for crops, heatmaps in batches:
            rolled["on"] = False
            output = model(crops, heatmaps)["output"].float()
            rolled["on"] = True
            swapped = model(crops, heatmaps)["output"].float()
            centre = crops[:, crops.shape[1] // 2].float()
            model_change += (output.clamp(0, 1) - centre).abs().mean().item() * 255 / len(batches)
            deep_change += (output - swapped).abs().mean().item() * 255 / len(batches)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return DeepFeatureEffect(model_change, deep_change)
