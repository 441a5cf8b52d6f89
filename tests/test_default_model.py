"""``--model auto``: which model it picks, and a clear error while no trained weights ship."""

from __future__ import annotations

import pytest
import torch
from media import make_clip

from streamfilter.cli import load_command, run
from streamfilter.errors import WeightsMissingError
from streamfilter.runtime import build


def test_auto_prefers_finenet_on_cuda_and_never_runs_untrained(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "SHIPPED_WEIGHTS", tmp_path)
    with pytest.raises(WeightsMissingError, match="--model none"):
        build.default_model("cpu")
    (tmp_path / "finenet-lite.safetensors").touch()
    assert build.default_model("cpu") == "finenet-lite"
    assert build.default_model("cuda:0") == "finenet-lite"
    (tmp_path / "finenet.safetensors").touch()
    assert build.default_model("cuda") == "finenet"
    assert build.default_model("cpu") == "finenet-lite"


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


def test_shipped_finenet_lite_loads_as_the_cpu_default():
    """The weights in the package are the registered finenet-lite configuration, and ``auto``
    picks them on CPU (MODEL_CARD.md says how they were trained)."""
    assert build.default_model("cpu") == "finenet-lite"
    network, weights = build.resolve_model("finenet-lite")
    assert weights == build.SHIPPED_WEIGHTS / "finenet-lite.safetensors"
    assert network.config.name == "finenet-lite"


def test_shipped_finenet_loads_as_the_cuda_default():
    """finenet's weights ship too (fp16 storage, loaded as float32): ``auto`` picks them on CUDA."""
    assert build.default_model("cuda") == "finenet"
    network, weights = build.resolve_model("finenet")
    assert weights == build.SHIPPED_WEIGHTS / "finenet.safetensors"
    assert network.config.name == "finenet"
    assert all(tensor.dtype != torch.float16 for tensor in network.state_dict().values())
