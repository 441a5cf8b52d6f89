"""The ONNX graphs shipped for the default model: fresh against their weights, used without
torch, and the fallback to an export (which needs torch) where they do not fit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
from media import make_clip

from streamfilter.cli import run
from streamfilter.errors import ModelError
from streamfilter.runtime import build
from streamfilter.runtime.graphs import WEIGHTS_SHA256, file_sha256, graph_metadata, shipped_graphs
from streamfilter.runtime.ship import SHIPPED_GRAPH_MODELS, problems, shipped_weights

DEFAULT = build.DEFAULT_MODELS["cpu"]
REGENERATE = "stale shipped graphs: run `python -m streamfilter.runtime.ship` after replacing weights"


def test_shipped_graphs_record_the_sha256_of_their_weights():
    for name in SHIPPED_GRAPH_MODELS:
        weights = shipped_weights(name)
        paths = shipped_graphs(weights)
        assert paths is not None, f"{name}: {problems()} ({REGENERATE})"
        for path in (paths.frame, paths.window):
            assert graph_metadata(path)[WEIGHTS_SHA256] == file_sha256(weights), REGENERATE
    assert problems() == []


def test_graph_metadata_is_what_onnx_runtime_reads(tmp_path):
    paths = shipped_graphs(shipped_weights(DEFAULT))
    for path in (paths.frame, paths.window):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert graph_metadata(path) == dict(session.get_modelmeta().custom_metadata_map)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(paths.frame.read_bytes()[:1000])
    with pytest.raises(ValueError, match="not an ONNX model"):
        graph_metadata(broken)


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED_GRAPH_MODELS)
def test_shipped_graphs_compute_what_a_fresh_export_does(name, tmp_path):
    from streamfilter.models.checkpoint import load_checkpoint
    from streamfilter.runtime.export import export_onnx

    weights = shipped_weights(name)
    shipped = shipped_graphs(weights)
    assert shipped is not None, REGENERATE
    fresh = export_onnx(load_checkpoint(weights), tmp_path / name)
    config = build.model_source(name)[0]
    rng = np.random.default_rng(0)
    faces, frames, size = 2, 2 * config.radius + 1, config.crop_size
    crops = rng.random((faces * frames, 3, size, size), dtype=np.float32)
    sessions = {graph: [ort.InferenceSession(str(getattr(paths, graph)), providers=["CPUExecutionProvider"])
                        for paths in (shipped, fresh)] for graph in ("frame", "window")}
    heatmaps = rng.random((faces * frames, 68, config.heatmap_size, config.heatmap_size), dtype=np.float32)
    frame_inputs = {"crops": crops, "heatmaps": heatmaps}
    names = {i.name for i in sessions["frame"][0].get_inputs()}
    features = [session.run(None, {k: v for k, v in frame_inputs.items() if k in names})
                for session in sessions["frame"]]
    for ours, theirs in zip(*features, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5, err_msg=REGENERATE)
    feeds = {"crops": crops.reshape(faces, frames, 3, size, size)}
    for info, value in zip(sessions["frame"][0].get_outputs(), features[1], strict=True):
        feeds[info.name] = value.reshape(faces, frames, *value.shape[1:])
    ours, theirs = (session.run(["output"], feeds)[0] for session in sessions["window"])
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5, err_msg=REGENERATE)


@pytest.fixture
def copied_weights(tmp_path, monkeypatch):
    """The default model's shipped weights and graphs copied into a folder that stands for the
    package's."""
    folder = tmp_path / "weights"
    folder.mkdir()
    for path in build.SHIPPED_WEIGHTS.glob(f"{DEFAULT}.*"):
        shutil.copy(path, folder / path.name)
    monkeypatch.setattr(build, "SHIPPED_WEIGHTS", folder)
    monkeypatch.setenv("FACEDEBLUR_CACHE", str(tmp_path / "cache"))
    return folder


def test_matching_shipped_graphs_are_used_without_an_export(copied_weights, tmp_path):
    restorer = build.build_restorer(DEFAULT)
    assert restorer.config.name == DEFAULT
    assert not (tmp_path / "cache" / "onnx").exists()


def test_graphs_of_other_weights_are_not_used(copied_weights, caplog):
    weights = copied_weights / f"{DEFAULT}.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-1] ^= 1  # one weight's last byte: another file, still a checkpoint
    weights.write_bytes(bytes(raw))
    with caplog.at_level("WARNING", logger="streamfilter"):
        assert shipped_graphs(weights) is None
    assert f"not using the shipped ONNX graphs of {DEFAULT}.safetensors" in caplog.text
    assert "python -m streamfilter.runtime.ship" in caplog.text


def test_an_export_without_torch_is_a_one_line_error(copied_weights, monkeypatch):
    (copied_weights / f"{DEFAULT}.window.onnx").unlink()
    monkeypatch.setitem(sys.modules, "torch", None)  # find_spec and import now fail as if absent
    with pytest.raises(ModelError, match=rf"exporting the ONNX graphs of '{DEFAULT}' .* needs PyTorch, which is not "
                                         r"installed: pip install \"facedeblur-stream\[torch\]\""):
        build.build_restorer(DEFAULT)
    with pytest.raises(ModelError, match="--engine torch needs PyTorch"):
        build.build_restorer(DEFAULT, "torch")


def test_a_missing_module_of_the_torch_extra_is_one_line(capsys):
    import click

    @click.command()
    def needs_onnx() -> None:
        raise ModuleNotFoundError("No module named 'onnxscript'", name="onnxscript")

    assert run(needs_onnx, []) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs onnxscript, which is not installed" in err[0] and "[torch]" in err[0]


def test_the_default_command_imports_neither_torch_nor_onnx(tmp_path):
    """``facedeblur-stream in.mp4 out.mp4`` in a fresh interpreter: the default model's shipped graphs run
    on ONNX Runtime; torch, onnx, onnxscript and sympy are never imported, nothing is exported."""
    source, stats = tmp_path / "in.mp4", tmp_path / "stats.json"
    make_clip(source, frames=10, audio=None)
    heavy = ("torch", "onnx", "onnxscript", "sympy", "safetensors")
    code = ("import sys; from streamfilter.cli import run, load_command; "
            "code = run(load_command('stream'), sys.argv[1:]); "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules)); sys.exit(code)")
    env = {**os.environ, "FACEDEBLUR_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", code, str(source), str(tmp_path / "out.mp4"), "-q",
                             "--stats", str(stats)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"imported on the default path: {result.stdout.strip()}"
    assert json.loads(stats.read_text())["frames_out"] == 10
    assert not (tmp_path / "cache" / "onnx").exists()
