"""Training-only image heads that give FineNet's deep path a loss of its own.

Each branch ends in ``ImageRefine``, which sees a shallow encoding of the full-resolution
image beside the deep features (``Reconstruction.body``'s output). Trained from scratch, the
branch learns the shallow path first and silences the deep one: nothing behind the fusion
(pyramid, alignment, landmarks) reaches the output (the measurements: docs/training-status.md).

``DeepSupervision`` adds one head per branch (enhancement, interpolation) mapping the deep
features alone, (N, C, S, S), to an RGB residual for the branch's base image (frame t, the
neighbours' mean), scored with the branch loss against the sharp frame, so that the deep path
has a gradient of its own (what it changed: docs/training-status.md). The heads live in the
trainer, not in the model: checkpoints, exported graphs and inference are unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import UsageError
from ..models.blocks import Reconstruction
from ..models.split import SplitModel
from .losses import branch_loss

BRANCHES = ("enhance", "interp")


class DeepSupervision(nn.Module):
    """Auxiliary heads on the deep features of ``model``'s branches (hooks record them on
    every forward pass); ``loss(target)`` scores the last pass."""

    def __init__(self, model: SplitModel):
        super().__init__()
        reconstructions = {
            name: branch.reconstruct
            for name in BRANCHES
            if isinstance(branch := getattr(model.window, name, None), nn.Module)
            and isinstance(getattr(branch, "reconstruct", None), Reconstruction)
        }
        if not reconstructions:
            raise UsageError(f"deep supervision needs FineNet branches; {model.config.name!r} has none")
        channels = model.config.channels
        self.heads = nn.ModuleDict({name: nn.Conv2d(channels, 3, 3, padding=1) for name in reconstructions})
        for head in self.heads.values():
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        self._features: dict[str, Tensor] = {}
        self._bases: dict[str, Tensor] = {}
        for name, reconstruction in reconstructions.items():
            reconstruction.register_forward_pre_hook(self._record_base(name))
            reconstruction.body.register_forward_hook(self._record_features(name))

    def _record_base(self, name: str):
        def hook(module: nn.Module, args: tuple[Tensor, Tensor]) -> None:
            self._bases[name] = args[1]
        return hook

    def _record_features(self, name: str):
        def hook(module: nn.Module, args: tuple[Tensor], output: Tensor) -> None:
            self._features[name] = output
        return hook

    def outputs(self) -> dict[str, Tensor]:
        """Each branch's deep-only image (N, 3, S, S): base image + head(deep features)."""
        return {name: self._bases[name] + head(self._features[name]) for name, head in self.heads.items()}

    def loss(self, target: Tensor) -> Tensor:
        """Summed branch loss of the deep-only images of the last forward pass against
        ``target`` (N, 3, S, S); the recorded tensors are released."""
        losses = [branch_loss(image, target) for image in self.outputs().values()]
        self._features.clear()
        self._bases.clear()
        return torch.stack(losses).sum()
