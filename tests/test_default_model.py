"""``--model auto``: which model it picks, and a clear error while no trained weights ship."""

from __future__ import annotations

import pytest
import torch
from media import make_clip

from streamfilter.cli import load_command, run
from streamfilter.errors import WeightsMissingError
from streamfilter.runtime import build


def test_auto_picks_the_device_default_and_never_runs_untrained(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "SHIPPED_WEIGHTS", tmp_path)
    monkeypatch.setattr(build, "DEFAULT_MODELS", {"cuda": "finenet", "cpu": "unet"})
    with pytest.raises(WeightsMissingError, match="--model none"):
        build.default_model("cpu")
    (tmp_path / "unet.safetensors").touch()
    assert build.default_model("cpu") == "unet"
    assert build.default_model("cuda:0") == "unet", "the CPU default stands in for missing CUDA weights"
    (tmp_path / "finenet.safetensors").touch()
    assert build.default_model("cuda") == "finenet"
    assert build.default_model("cpu") == "unet"


def test_auto_without_shipped_weights_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(build, "SHIPPED_WEIGHTS", tmp_path / "weights")
    source = tmp_path / "in.mkv"
    make_clip(source, frames=5, audio=None)
    args = [str(source), str(tmp_path / "out.mkv"), "--model", "auto"]
    assert run(load_command("stream"), args, prog_name="facedeblur-stream") == 1
    err = capsys.readouterr().err
    assert "no trained weights" in err and "--model none" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out.mkv").exists()


def test_shipped_unet_wide_is_the_default_on_both_devices():
    """The weights in the package are the registered unet-wide configuration (fp16 storage,
    loaded as float32), and ``auto`` picks them on CPU and CUDA (MODEL_CARD.md says how they
    were trained and why finenet is not the CUDA default)."""
    assert build.default_model("cpu") == build.default_model("cuda") == "unet-wide"
    network, weights = build.resolve_model("unet-wide")
    assert weights == build.SHIPPED_WEIGHTS / "unet-wide.safetensors"
    assert network.config.name == "unet-wide"
    assert all(tensor.dtype != torch.float16 for tensor in network.state_dict().values())


@pytest.mark.parametrize("name", ["unet", "finenet", "finenet-lite"])
def test_earlier_shipped_models_still_load(name):
    network, weights = build.resolve_model(name)
    assert weights == build.SHIPPED_WEIGHTS / f"{name}.safetensors"
    assert network.config.name == name
