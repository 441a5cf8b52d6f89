"""ONNX export: ONNX Runtime vs torch parity, dynamic faces axis, the export command."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner
from model_helpers import randomize_offsets

from streamfilter.cli import facedeblur, run
from streamfilter.models.config import ModelConfig
from streamfilter.models.registry import build_model, get_config
from streamfilter.runtime.export import export_onnx, graph_paths


def _parity(config: ModelConfig, tmp_path, *, batch: int) -> tuple[float, float, set[str]]:
    """Max |ORT - torch| of the per-frame and per-window graphs, and the window graph's ops."""
    model = build_model(config, seed=0)
    randomize_offsets(model)
    paths = export_onnx(model, tmp_path / f"{config.name}.onnx")
    frame = ort.InferenceSession(str(paths.frame), providers=["CPUExecutionProvider"])
    window = ort.InferenceSession(str(paths.window), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(7)
    frames, size = 2 * config.radius + 1, config.crop_size
    crops = torch.rand(batch, frames, 3, size, size, generator=g)
    heatmaps = torch.rand(batch, frames, 68, config.heatmap_size, config.heatmap_size, generator=g)
    with torch.no_grad():
        features = model.frame(crops.flatten(0, 1), heatmaps.flatten(0, 1))
        expected = model.window(crops, *(f.unflatten(0, (batch, frames)) for f in features))["output"]
    frame_out = frame.run(None, {"crops": crops.flatten(0, 1).numpy(), "heatmaps": heatmaps.flatten(0, 1).numpy()})
    frame_diff = max(float(np.abs(a - b.numpy()).max()) for a, b in zip(frame_out, features, strict=True))
    feeds = {"crops": crops.numpy()}
    for info, value in zip(frame.get_outputs(), frame_out, strict=True):
        feeds[info.name] = value.reshape(batch, frames, *value.shape[1:])
    window_out = window.run(["output"], feeds)[0]
    ops = {node.op_type for node in onnx.load(str(paths.window)).graph.node}
    return frame_diff, float(np.abs(window_out - expected.numpy()).max()), ops


@pytest.mark.slow
def test_finenet_lite_onnxruntime_matches_torch(tmp_path):
    frame_diff, window_diff, ops = _parity(get_config("finenet-lite"), tmp_path, batch=3)  # exported with batch 2
    assert "DeformConv" in ops
    assert frame_diff <= 1e-4
    assert window_diff <= 1e-4


@pytest.mark.slow
def test_bounded_offsets_export_and_match_torch(tmp_path):
    # randomize_offsets gives offsets of about a pixel; the level-1 bound is 1.6 px, level 3 0.4 px
    config = dataclasses.replace(get_config("finenet-lite"), offset_bound=0.05)
    frame_diff, window_diff, ops = _parity(config, tmp_path, batch=2)
    assert {"DeformConv", "Tanh"} <= ops
    assert frame_diff <= 1e-4
    assert window_diff <= 1e-4


def test_unet_onnxruntime_matches_torch(tmp_path):
    config = dataclasses.replace(get_config("unet"), crop_size=64)
    frame_diff, window_diff, ops = _parity(config, tmp_path, batch=3)
    assert "DeformConv" not in ops
    assert frame_diff <= 1e-4
    assert window_diff <= 1e-4


@pytest.mark.slow
def test_finenet_onnxruntime_matches_torch(tmp_path):
    frame_diff, window_diff, _ = _parity(get_config("finenet"), tmp_path, batch=1)
    assert frame_diff <= 1e-4
    assert window_diff <= 1e-4


def test_graph_paths_naming(tmp_path):
    paths = graph_paths(tmp_path / "model.onnx")
    assert (paths.frame.name, paths.window.name) == ("model.frame.onnx", "model.window.onnx")
    assert graph_paths(tmp_path / "model").frame.name == "model.frame.onnx"


@pytest.mark.slow
def test_export_command_writes_two_graphs_and_refuses_overwrite(tmp_path):
    out = tmp_path / "dfd.onnx"
    result = CliRunner().invoke(facedeblur, ["export", "--model", "dfd", str(out)])
    assert result.exit_code == 0, result.output
    for path in (tmp_path / "dfd.frame.onnx", tmp_path / "dfd.window.onnx"):
        onnx.checker.check_model(onnx.load(str(path)))
    assert run(facedeblur, ["export", "--model", "dfd", str(out)]) == 2


def test_export_command_errors_are_one_line(tmp_path, capsys):
    assert run(facedeblur, ["export", "--model", "nope", str(tmp_path / "x.onnx")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown model 'nope'" in err[0]
    missing = ["--weights", str(tmp_path / "w.safetensors")]
    assert run(facedeblur, ["export", "--model", "dfd", *missing, str(tmp_path / "x.onnx")]) == 1
    assert "checkpoint not found" in capsys.readouterr().err
