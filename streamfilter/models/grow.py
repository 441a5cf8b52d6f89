"""Start a larger model from a trained smaller one of the same kind, computing the same function.

Every tensor of the smaller model is copied into the leading corner of the tensor of the same
name in the larger one (a wider conv keeps the old kernels in its first rows and columns); the
weights from new input channels into old output channels are zeroed, so the new channels cannot
change what the old ones compute, and a new residual block starts with its last conv at zero (the
identity). The new channels learn from the first step: the zeroed weights that read them get
gradients. ``grow`` checks the result on a random window and refuses models where the rule does
not hold (a different crop size, frame encoding or kind).
"""

from __future__ import annotations

import torch

from ..errors import ModelError
from .blocks import ResidualBlock
from .registry import uses_landmarks
from .split import SplitModel


def grow(model: SplitModel, smaller: SplitModel) -> SplitModel:
    """Load ``smaller``'s weights into the larger ``model`` (in place) so that both give the same
    output; ``ModelError`` when they cannot."""
    config, small_config = model.config, smaller.config
    if type(config) is not type(small_config):
        raise ModelError(f"cannot start a {config.kind} model from a {small_config.kind} checkpoint")
    old = smaller.state_dict()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            source = old.get(name)
            if source is None:
                continue
            if source.dim() != tensor.dim() or any(s > t for s, t in zip(source.shape, tensor.shape)):
                raise ModelError(f"cannot grow {small_config.name!r} into {config.name!r}: {name} "
                                 f"{tuple(source.shape)} does not fit {tuple(tensor.shape)}")
            if source.dim() == 4:
                tensor[: source.shape[0], source.shape[1]:] = 0
            tensor[tuple(slice(0, n) for n in source.shape)] = source.to(tensor.dtype)
        for prefix, module in model.named_modules():
            if isinstance(module, ResidualBlock) and f"{prefix}.body.0.weight" not in old:
                module.body[-1].weight.zero_()
                module.body[-1].bias.zero_()
    _check_same_output(model, smaller)
    return model


def _check_same_output(model: SplitModel, smaller: SplitModel) -> None:
    t, s = 2 * model.config.radius + 1, model.config.crop_size
    generator = torch.Generator().manual_seed(0)
    crops = torch.rand(1, t, 3, s, s, generator=generator)
    h = model.config.heatmap_size
    heatmaps = torch.rand(1, t, 68 if uses_landmarks(model.config) else 0, h, h, generator=generator)
    modes = model.training, smaller.training
    model.eval(), smaller.eval()
    with torch.no_grad():
        grown, reference = model(crops, heatmaps)["output"], smaller(crops, heatmaps)["output"]
    model.train(modes[0]), smaller.train(modes[1])
    if not torch.allclose(grown, reference, atol=1e-5):
        raise ModelError(f"cannot grow {smaller.config.name!r} into {model.config.name!r}: the grown model "
                         f"differs from it by up to {(grown - reference).abs().max().item():.3g}")
