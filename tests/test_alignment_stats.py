"""Offset/mask statistics and the landmark-dependence check of ``models.alignment_stats``."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from model_helpers import randomize_offsets, small_config, window_inputs
from streamfilter.cli import facedeblur, run
from streamfilter.models.alignment_stats import deep_feature_effect, deformable_layers, inspect_alignment
from streamfilter.models.blocks import ImageRefine
from streamfilter.models.checkpoint import save_checkpoint
from streamfilter.models.registry import build_model, get_config


def _batches(config, count: int = 2):
    return [window_inputs(config, batch=2, seed=i) for i in range(count)]


def test_fresh_network_has_zero_offsets_and_masks_at_half():
    config = small_config("finenet")
    model = build_model(config, seed=0)
    layers, effect = inspect_alignment(model, _batches(config))
    assert [layer.name for layer in layers] == [name for name, _ in deformable_layers(model)]
    assert layers
    assert all(layer.offset_mean == 0 and layer.offset_max == 0 and layer.mask_spread == 0 for layer in layers)
    assert effect == 0


def test_offsets_larger_than_the_map_are_flagged():
    config = small_config("finenet")
    model = build_model(config, seed=0)
    name, layer = deformable_layers(model)[0]
    with torch.no_grad():
        layer.offset_mask.bias.fill_(100.0)
    stats = {s.name: s for s in inspect_alignment(model, _batches(config))[0]}
    assert stats[name].offset_mean == 100.0 and stats[name].beyond_map
    assert stats[name].mask_spread > 0.49
    assert not any(s.beyond_map for n, s in stats.items() if n != name)


def test_landmark_effect_tells_foc_from_nofoc():
    for name, expect_effect in (("finenet", True), ("finenet-nofoc", False)):
        config = small_config(name)
        model = build_model(config, seed=0)
        randomize_offsets(model)
        _, effect = inspect_alignment(model, _batches(config))
        assert (effect > 0.01) is expect_effect, (name, effect)


def test_deep_feature_effect_vanishes_when_refine_ignores_the_features():
    config = small_config("finenet")
    model = build_model(config, seed=0)
    live = deep_feature_effect(model, _batches(config))
    assert live.model_change > 0 and live.deep_change > 0
    with torch.no_grad():
        for refine in (m for m in model.modules() if isinstance(m, ImageRefine)):
            conv = refine.merge[0]
            conv.weight[:, :conv.in_channels // 2] = 0  # the half that reads the deep features
    silenced = deep_feature_effect(model, _batches(config))
    assert silenced.deep_change == 0 and silenced.model_change > 0
    one_window = [window_inputs(config, batch=1)]
    with pytest.raises(ValueError, match="2 or more"):
        deep_feature_effect(model, one_window)


def test_registered_configs_without_deformable_layers():
    assert deformable_layers(build_model(get_config("dfd"), seed=0)) == []


@pytest.mark.slow
def test_command_reports_every_layer_and_refuses_models_without_alignment(tmp_path, shared_data, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for photo in sorted((shared_data / "images").iterdir())[:2]:
        (photos / photo.name).symlink_to(photo)
    config = small_config("finenet", heatmap_size=64)
    model = build_model(config, seed=0)
    randomize_offsets(model)
    checkpoint = tmp_path / "tiny.safetensors"
    save_checkpoint(model, checkpoint)
    common = ["--images", str(photos), "--windows", "2", "--cache", str(tmp_path / "cache")]
    result = CliRunner().invoke(facedeblur, ["alignment", "--model", str(checkpoint), *common])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name, _ in deformable_layers(model):
        assert any(line.startswith(name + " ") for line in lines), name
    effect = float(lines[-2].split(":")[1].split()[0])
    assert lines[-2].startswith("largest output change with the heatmaps zeroed") and effect > 0
    assert lines[-1].startswith("mean output change:") and "with another window's deep features" in lines[-1]

    assert run(facedeblur, ["alignment", "--model", "dfd", *common]) == 2
    assert "error: 'dfd' has no deformable alignment to inspect" in capsys.readouterr().err
