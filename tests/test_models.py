"""FineNet and baselines: shapes of every configuration, branch behaviour, FOC, configs, cost."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from model_helpers import randomize_offsets, small_config, window_inputs
from torch.utils.flop_counter import FlopCounterMode

from streamfilter.errors import ModelError
from streamfilter.models.config import DFDConfig, FineNetConfig, config_from_dict, config_to_dict
from streamfilter.models.cost import model_cost
from streamfilter.models.dcn import ModulatedDeformConv
from streamfilter.models.foc import face_aware_offsets
from streamfilter.models.registry import CONFIGS, build_model, get_config

FINENET_NAMES = [name for name, config in CONFIGS.items() if isinstance(config, FineNetConfig)]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_named_config_builds(name):
    config = get_config(name)
    model = build_model(config)
    assert model.config is config
    assert sum(p.numel() for p in model.parameters()) > 0
    assert config.radius in (0, 2)


def test_finenet_is_paper_sized():
    config = get_config("finenet")
    assert (config.channels, config.deformable_groups, config.crop_size, config.heatmap_size) == (64, 8, 256, 64)
    assert config.combine_blocks == 9


@pytest.mark.parametrize("name", FINENET_NAMES)
def test_output_shapes_small(name):
    config = small_config(name)
    model = build_model(config, seed=0)
    crops, heatmaps = window_inputs(config, batch=2)
    with torch.no_grad():
        out = model(crops, heatmaps)
    assert out["output"].shape == (2, 3, 32, 32)
    both_late = config.branches == "both" and config.fusion == "late"
    assert set(out) == ({"output", "enhanced", "interpolated"} if both_late else {"output"})
    assert all(torch.isfinite(v).all() for v in out.values())


def test_finenet_lite_and_dfd_full_size_shapes():
    for name in ("finenet-lite", "dfd"):
        config = get_config(name)
        crops, heatmaps = window_inputs(config)
        with torch.no_grad():
            out = build_model(config, seed=0)(crops, heatmaps)["output"]
        assert out.shape == (1, 3, config.crop_size, config.crop_size)


def test_unet_starts_as_its_centre_frame_and_reads_every_frame():
    config = get_config("unet")
    model = build_model(config, seed=0)
    crops, heatmaps = window_inputs(config)
    with torch.no_grad():
        out = model(crops, heatmaps)["output"]
        assert out.shape == (1, 3, 256, 256)
        moved = crops.clone()
        moved[:, 0] = 1 - moved[:, 0]
        assert (model(moved, heatmaps)["output"] - out).abs().max() > 1e-4, "a neighbour reaches the output"
        assert torch.equal(model(crops, torch.zeros_like(heatmaps))["output"], out), "heatmaps are not read"
        model.window.head.weight.zero_()
        model.window.head.bias.zero_()
        assert torch.equal(model(crops, heatmaps)["output"], crops[:, 2])
    with pytest.raises(ModelError, match="multiple of 2 \\* unshuffle"):
        dataclasses.replace(config, crop_size=36)


def test_heatmaps_of_another_size_are_resized():
    config = small_config(heatmap_size=32)  # level-1 features are 8x8
    crops, heatmaps = window_inputs(config)
    with torch.no_grad():
        assert build_model(config, seed=0)(crops, heatmaps)["output"].shape == (1, 3, 32, 32)


def test_interpolation_branch_ignores_frame_t():
    config = small_config()
    model = build_model(config, seed=0)
    randomize_offsets(model)
    crops, heatmaps = window_inputs(config)
    changed_crops, changed_heatmaps = crops.clone(), heatmaps.clone()
    changed_crops[:, 2] = torch.rand_like(crops[:, 2])
    changed_heatmaps[:, 2] = torch.rand_like(heatmaps[:, 2])
    with torch.no_grad():
        before, after = model(crops, heatmaps), model(changed_crops, changed_heatmaps)
    assert torch.equal(before["interpolated"], after["interpolated"])
    assert not torch.allclose(before["enhanced"], after["enhanced"])  # the enhancement branch does look at t


def test_foc_output_changes_with_heatmaps():
    torch.manual_seed(0)
    foc = face_aware_offsets(8, inputs=4).eval()
    features, coarse = torch.randn(1, 8, 16, 16), torch.randn(1, 8, 16, 16)
    heat_a, heat_b = torch.rand(1, 8, 16, 16), torch.rand(1, 8, 16, 16)
    with torch.no_grad():
        first = foc([features, coarse, heat_a, heat_b])
        second = foc([features, coarse, heat_a, torch.rand(1, 8, 16, 16)])
    assert first.shape == (1, 8, 16, 16)
    assert not torch.allclose(first, second)


@pytest.mark.parametrize(
    ("name", "sees_heatmaps"), [("finenet", True), ("finenet-nolandmarks", False), ("finenet-nofoc", False)]
)
def test_model_output_depends_on_heatmaps_only_with_landmarks(name, sees_heatmaps):
    config = small_config(name)
    model = build_model(config, seed=0)
    randomize_offsets(model)
    crops, heatmaps = window_inputs(config)
    with torch.no_grad():
        first = model(crops, heatmaps)["output"]
        second = model(crops, torch.rand_like(heatmaps))["output"]
    # Deterministic CPU maths: unused heatmaps leave the output bit-identical.
    assert (not torch.equal(first, second)) == sees_heatmaps


def test_untrained_dcn_behaves_like_a_convolution():
    layer = ModulatedDeformConv(4, 4, offset_channels=4, deformable_groups=2)
    x = torch.randn(1, 4, 8, 8)
    expected = torch.nn.functional.conv2d(x, layer.weight, layer.bias, padding=1) * 0.5  # masks start at 0.5
    torch.testing.assert_close(layer(x, torch.randn(1, 4, 8, 8)), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"offsets": "flow"}, "offsets='flow'"),
        ({"branches": "all"}, "branches='all'"),
        ({"crop_size": 100}, "crop_size=100"),
        ({"channels": 10, "deformable_groups": 4}, "channels=10"),
        ({"channels": 0}, "channels=0"),
        ({"branches": "enhance", "fusion": "early"}, "fusion='early'"),
        ({"offsets": "edvr", "landmarks": True}, "landmarks=True"),
        ({"offset_bound": 1.5}, "offset_bound=1.5"),
        ({"offset_bound": -0.1}, "offset_bound=-0.1"),
    ],
)
def test_bad_config_values_are_named(overrides, message):
    with pytest.raises(ModelError, match=message.replace("(", r"\(")):
        dataclasses.replace(get_config("finenet"), **overrides)


def test_offset_bound_is_a_fraction_of_each_level_side():
    model = build_model(dataclasses.replace(get_config("finenet-lite"), offset_bound=0.25))
    align = model.window.interp.align  # 128-px crops: levels of 32, 16 and 8 px
    assert (align.dconv1.max_offset, align.dconv2.max_offset, align.dconv3.max_offset) == (8.0, 4.0, 2.0)
    assert build_model(get_config("finenet-lite")).window.enhance.align.dconv1.max_offset == 0.0


def test_config_dict_round_trip_and_unknown_fields():
    for config in CONFIGS.values():
        assert config_from_dict(config_to_dict(config)) == config
    with pytest.raises(ModelError, match="unknown model kind 'gan'"):
        config_from_dict({"kind": "gan", "name": "x"})
    with pytest.raises(ModelError, match="unknown dfd config fields: depth"):
        config_from_dict({"kind": "dfd", "name": "x", "depth": 3})
    with pytest.raises(ModelError, match="unknown model 'edvr'"):
        get_config("edvr")


def test_seeded_build_is_reproducible_and_leaves_global_rng_alone():
    config = small_config()
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first, second = build_model(config, seed=0), build_model(config, seed=0)
    assert torch.equal(torch.get_rng_state(), state)
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_cost_counts_deformable_convolutions():
    layer = ModulatedDeformConv(8, 8, offset_channels=8, deformable_groups=2)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        layer(torch.randn(1, 8, 16, 16), torch.randn(1, 8, 16, 16))
    offset_conv = 8 * 9 * (3 * 2 * 9) * 16 * 16
    deform = 8 * 9 * 8 * 16 * 16
    assert counter.get_total_flops() == 2 * (offset_conv + deform)


def test_cost_of_dfd_is_all_per_frame():
    cost = model_cost(DFDConfig(name="tiny", channels=4, blocks=1, stages=3, crop_size=16))
    assert cost.window_gmacs == 0 and cost.frame_gmacs > 0
    assert cost.gmacs_per_output_frame == cost.frame_gmacs


def test_cost_per_output_frame_counts_the_frame_part_once():
    config = small_config()
    whole = FlopCounterMode(display=False)
    crops, heatmaps = window_inputs(config)
    with whole, torch.no_grad():
        build_model(config)(crops, heatmaps)  # runs the per-frame part on all 5 frames
    cost = model_cost(config)
    frames = 2 * config.radius + 1
    assert whole.get_total_flops() / 2e9 == pytest.approx(frames * cost.frame_gmacs + cost.window_gmacs)
