"""Versioned safetensors checkpoints: round trip, mismatches, missing and foreign files."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from model_helpers import small_config, window_inputs
from safetensors.torch import save_file

from streamfilter.errors import ModelError, WeightsMissingError
from streamfilter.models.config import config_to_dict
from streamfilter.models.checkpoint import FORMAT_VERSION, load_checkpoint, read_checkpoint_config, save_checkpoint
from streamfilter.models.registry import build_model


@pytest.fixture
def saved(tmp_path):
    config = small_config()
    model = build_model(config, seed=5)
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(model, path)
    return model, path


def test_round_trip_restores_config_and_outputs(saved):
    model, path = saved
    loaded = load_checkpoint(path, expect=model.config)
    assert loaded.config == model.config
    crops, heatmaps = window_inputs(model.config)
    with torch.no_grad():
        assert torch.equal(loaded(crops, heatmaps)["output"], model(crops, heatmaps)["output"])
    assert read_checkpoint_config(path) == model.config


def test_half_precision_storage_loads_as_the_rounded_float32_weights(saved, tmp_path):
    model, path = saved
    half = tmp_path / "half.safetensors"
    save_checkpoint(model, half, dtype=torch.float16)
    assert half.stat().st_size < 0.6 * path.stat().st_size
    loaded = load_checkpoint(half, expect=model.config)
    for name, tensor in model.state_dict().items():
        restored = loaded.state_dict()[name]
        assert restored.dtype == tensor.dtype, name
        expected = tensor.half().to(tensor.dtype) if tensor.is_floating_point() else tensor
        assert torch.equal(restored, expected), name


def test_metadata_is_versioned_json(saved):
    _, path = saved
    header_size = int.from_bytes(path.read_bytes()[:8], "little")
    metadata = json.loads(path.read_bytes()[8 : 8 + header_size])["__metadata__"]
    assert metadata["format"] == "facedeblur-checkpoint"
    assert metadata["format_version"] == str(FORMAT_VERSION)
    assert metadata["config_name"] == "finenet"
    assert json.loads(metadata["config"])["channels"] == 8


def test_mismatched_config_names_the_fields(saved):
    model, path = saved
    other = dataclasses.replace(model.config, channels=16, deformable_groups=4)
    with pytest.raises(ModelError, match=r"channels=8 \(expected 16\).*deformable_groups=2 \(expected 4\)"):
        load_checkpoint(path, expect=other)


def test_missing_file_is_weights_missing(tmp_path):
    with pytest.raises(WeightsMissingError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "absent.safetensors")


def test_foreign_files_are_rejected(tmp_path):
    pickled = tmp_path / "model.safetensors"
    torch.save({"weight": torch.zeros(1)}, pickled)
    with pytest.raises(ModelError, match="not a safetensors checkpoint"):
        load_checkpoint(pickled)
    plain = tmp_path / "plain.safetensors"
    save_file({"weight": torch.zeros(1)}, str(plain))
    with pytest.raises(ModelError, match="not a facedeblur checkpoint"):
        load_checkpoint(plain)


def test_tensors_that_do_not_fit_the_config(saved, tmp_path):
    model, _ = saved
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state.pop(next(iter(state)))
    broken = tmp_path / "broken.safetensors"
    metadata = {
        "format": "facedeblur-checkpoint",
        "format_version": str(FORMAT_VERSION),
        "config_name": "finenet",
        "config": json.dumps(config_to_dict(model.config)),
    }
    save_file(state, str(broken), metadata=metadata)
    with pytest.raises(ModelError, match="does not fit its configuration"):
        load_checkpoint(broken)


def test_future_format_version_is_refused(tmp_path):
    newer = tmp_path / "newer.safetensors"
    save_file({"w": torch.zeros(1)}, str(newer), metadata={"format": "facedeblur-checkpoint", "format_version": "99"})
    with pytest.raises(ModelError, match="format version '99'"):
        load_checkpoint(newer)
