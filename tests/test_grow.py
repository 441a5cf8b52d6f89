"""Growing a trained model into a wider and deeper one of its kind (``models/grow.py``)."""

from __future__ import annotations

import pytest
import torch

from streamfilter.errors import ModelError
from streamfilter.models.config import UNetConfig
from streamfilter.models.grow import grow
from streamfilter.models.registry import build_model, get_config

SMALL = UNetConfig(name="small", crop_size=32, unshuffle=2, frame_channels=4, channels=8, encoder_blocks=1,
                   middle_blocks=1, decoder_blocks=1)
LARGE = UNetConfig(name="large", crop_size=32, unshuffle=2, frame_channels=4, channels=12, encoder_blocks=1,
                   middle_blocks=2, decoder_blocks=1)


def _window(config: UNetConfig, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    s = config.crop_size
    return torch.rand(2, 5, 3, s, s, generator=generator), torch.zeros(2, 5, 0, 16, 16)


def _trained(config: UNetConfig) -> torch.nn.Module:
    """A network whose every weight is away from its initialisation (heads included)."""
    model = build_model(config, seed=1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model


def test_grown_model_gives_the_smaller_ones_output_and_its_new_channels_learn():
    small = _trained(SMALL)
    large = grow(build_model(LARGE, seed=2), small)
    crops, heatmaps = _window(SMALL, seed=3)
    with torch.no_grad():
        expected = small(crops, heatmaps)["output"]
        got = large(crops, heatmaps)["output"]
    assert (got - expected).abs().max().item() < 1e-5
    assert not torch.equal(got, crops[:, 2]), "the grown model keeps the smaller one's restoration"

    large.train()
    large(crops, heatmaps)["output"].sub(crops[:, 2] * 0.9).abs().mean().backward()
    head = large.window.head.weight
    assert head.grad[:, SMALL.channels:].abs().sum() > 0, "the zeroed weights reading new channels get gradients"
    new_block = large.window.middle[1].body[-1].weight
    assert torch.count_nonzero(new_block) == 0 and new_block.grad.abs().sum() > 0


def test_growing_refuses_another_kind_or_a_smaller_target():
    with pytest.raises(ModelError, match="cannot start a finenet model from a unet"):
        grow(build_model(get_config("finenet-lite")), build_model(SMALL))
    with pytest.raises(ModelError, match="does not fit"):
        grow(build_model(SMALL), build_model(LARGE))
    # every tensor fits, but a coarser unshuffle reorders the channels: caught by the output check
    coarser = UNetConfig(name="coarser", crop_size=32, unshuffle=4, frame_channels=4, channels=8,
                         encoder_blocks=1, middle_blocks=1, decoder_blocks=1)
    with pytest.raises(ModelError, match="differs from it"):
        grow(build_model(coarser), _trained(SMALL))
