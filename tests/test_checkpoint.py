"""Versioned safetensors checkpoints: round trip, mismatches, missing and foreign files."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys

import pytest
import safetensors
import torch
from model_helpers import small_config, window_inputs
from safetensors.torch import load_file, save_file

from streamfilter.errors import ModelError, WeightsMissingError
from streamfilter.models.config import config_to_dict
from streamfilter.models.checkpoint import FORMAT_VERSION, load_checkpoint, read_checkpoint_config, save_checkpoint
from streamfilter.models.registry import build_model, get_config


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


@pytest.mark.parametrize("cut", [4, 8, 40])
def test_a_torn_header_is_not_a_checkpoint(saved, tmp_path, cut):
    _, path = saved
    torn = tmp_path / "torn.safetensors"
    torn.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(ModelError, match="not a safetensors checkpoint"):
        read_checkpoint_config(torn)


def test_the_config_is_read_without_torch(saved):
    """The header is parsed by the project itself: reading a configuration imports neither
    torch nor safetensors (the ONNX Runtime path runs without them)."""
    _, path = saved
    code = ("import sys; from streamfilter.models.metadata import read_checkpoint_config; "
            f"print(read_checkpoint_config({str(path)!r}).name, 'torch' in sys.modules, 'safetensors' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["finenet", "False", "False"]


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


def save_with_tensor(model, path, name, tensor) -> None:
    """Save ``model``'s checkpoint to ``path`` with its tensor ``name`` replaced by ``tensor``."""
    save_checkpoint(model, path)
    with safetensors.safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    save_file({**load_file(str(path)), name: tensor}, str(path), metadata=metadata)


def first_weight(model) -> str:
    return next(name for name, tensor in model.state_dict().items() if tensor.is_floating_point())


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_weights_that_are_not_finite_are_refused(saved, tmp_path, bad):
    model, _ = saved
    name, path = first_weight(model), tmp_path / "poisoned.safetensors"
    weight = model.state_dict()[name].clone()
    weight.view(-1)[0] = bad
    save_with_tensor(model, path, name, weight)
    with pytest.raises(ModelError, match=rf"{re.escape(str(path))}.*{re.escape(name)}.*not finite"):
        load_checkpoint(path)


@pytest.mark.parametrize("dtype", [torch.float64, torch.int32, torch.uint8])
def test_weights_of_another_dtype_are_refused(saved, tmp_path, dtype):
    model, _ = saved
    name, path = first_weight(model), tmp_path / "odd.safetensors"
    save_with_tensor(model, path, name, model.state_dict()[name].to(dtype))
    with pytest.raises(ModelError, match=rf"{re.escape(str(path))}.*{re.escape(name)}.*{dtype}"):
        load_checkpoint(path)


def test_bfloat16_weights_load(saved, tmp_path):
    model, _ = saved
    path = tmp_path / "bf16.safetensors"
    save_checkpoint(model, path, dtype=torch.bfloat16)
    assert load_checkpoint(path, expect=model.config).config == model.config


def test_integer_buffers_load_in_their_own_dtype(tmp_path):
    model = build_model(get_config("dfd"), seed=0)
    assert any(not tensor.is_floating_point() for tensor in model.state_dict().values()), "BatchNorm step counts"
    path = tmp_path / "dfd.safetensors"
    save_checkpoint(model, path, dtype=torch.float16)
    assert load_checkpoint(path).config == model.config
