"""What each model is trained to minimise, phase by phase.

FineNet with late fusion follows the paper's order (sec. 3.6): first the enhancement and
interpolation branches together with everything before them (pre-deblur, features, FOC),
each with L1 + gradient L1 (``branch`` phase); then the combination module alone, with L1
on the final output, the rest frozen (``combine`` phase). Models with one image output
(one branch, early fusion) have a single ``branch`` phase on that output; the single-frame
``dfd`` baseline is trained with the Huber loss of Chrysos et al.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from ..models.config import DFDConfig, FineNetConfig
from ..models.features import HeatmapEncoder
from ..models.pcd import CascadedAlignment
from ..models.split import SplitModel
from .losses import branch_loss, combine_loss, huber_loss


@dataclass(frozen=True)
class Phase:
    """A training phase: its name and its share of the step budget."""

    name: str
    share: float


def phases_for(model: SplitModel, combine_share: float) -> list[Phase]:
    """The phases of ``model``; ``combine_share`` of the steps go to the combination module."""
    if has_combination(model) and combine_share > 0:
        return [Phase("branch", 1.0 - combine_share), Phase("combine", combine_share)]
    return [Phase("branch", 1.0)]


def has_combination(model: SplitModel) -> bool:
    config = model.config
    return isinstance(config, FineNetConfig) and config.branches == "both" and config.fusion == "late"


def set_trainable(model: SplitModel, phase: str) -> list[nn.Parameter]:
    """Freeze what ``phase`` does not train; return the parameters it does."""
    combine = model.window.combine if has_combination(model) else None
    for parameter in model.parameters():
        parameter.requires_grad_(phase == "branch")
    if combine is not None:
        for parameter in combine.parameters():
            parameter.requires_grad_(phase == "combine")
    return [p for p in model.parameters() if p.requires_grad]


def offset_path_parameters(model: SplitModel) -> list[nn.Parameter]:
    """The parameters that reach the output only through deformable offsets and masks: each
    alignment's offset networks and the convs fusing their inputs, each deformable layer's
    offset conv, and the heatmap encoder. Their gradient passes through the zero-initialised
    offset convs, so at a shared learning rate they stay close to their initialisation."""
    modules: list[nn.Module] = []
    for module in model.modules():
        if isinstance(module, CascadedAlignment):
            modules += [module.offsets1, module.offsets2, module.offsets3, module.fuse1, module.fuse2,
                        module.dconv1.offset_mask, module.dconv2.offset_mask, module.dconv3.offset_mask]
        elif isinstance(module, HeatmapEncoder):
            modules.append(module)
    return [p for module in modules for p in module.parameters()]


def unchanged_weights(crops: Tensor, target: Tensor, weight: float) -> Tensor | None:
    """(N,) loss weights: ``weight`` for windows whose centre frame of crops (N, T, 3, S, S)
    equals its target (N, 3, S, S) (a sharp, clean centre, which must come out as it went
    in), 1 for the others; None when ``weight`` is 1."""
    if weight == 1.0:
        return None
    unchanged = (crops[:, crops.shape[1] // 2] == target).flatten(1).all(1)
    return 1.0 + (weight - 1.0) * unchanged.float()


def phase_loss(model: SplitModel, phase: str, crops: Tensor, heatmaps: Tensor, target: Tensor, *,
               unchanged_weight: float = 1.0) -> tuple[Tensor, dict[str, float]]:
    """Loss of one batch: crops (N, T, 3, S, S), heatmaps (N, T, 68, H, H), target (N, 3, S, S);
    windows whose centre comes in unchanged count ``unchanged_weight`` times (FineNet's losses).

    Returns the scalar loss and its named parts (floats, for the log).
    """
    outputs = model(crops, heatmaps)
    if isinstance(model.config, DFDConfig):
        loss = huber_loss(outputs["output"], target)
        return loss, {"huber": loss.item()}
    weights = unchanged_weights(crops, target, unchanged_weight)
    if phase == "combine":
        loss = combine_loss(outputs["output"], target, weights)
        return loss, {"combine_l1": loss.item()}
    if has_combination(model):
        enhanced = branch_loss(outputs["enhanced"], target, weights)
        interpolated = branch_loss(outputs["interpolated"], target, weights)
        return enhanced + interpolated, {"enhance": enhanced.item(), "interp": interpolated.item()}
    loss = branch_loss(outputs["output"], target, weights)
    return loss, {"output": loss.item()}
