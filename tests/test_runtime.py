"""Restorers: per-frame cache, torch vs ONNX Runtime engines, build_restorer errors, export cache."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from click.testing import CliRunner
from model_helpers import small_config

from streamfilter.cli import facedeblur
from streamfilter.errors import ModelError, UsageError
from streamfilter.models.checkpoint import save_checkpoint
from streamfilter.models.registry import build_model
from streamfilter.restorer import FaceWindow, Restorer
from streamfilter.runtime.build import build_restorer
from streamfilter.runtime.cache import FeatureCache
from streamfilter.runtime.export import cached_export
from streamfilter.runtime.onnx_engine import OnnxRestorer
from streamfilter.runtime.torch_engine import TorchRestorer


def sliding_windows(config, *, frames: int, faces: int, seed: int = 0) -> list[list[FaceWindow]]:
    """For each output frame t of a ``frames``-long stream, one FaceWindow per face track over
    t-2..t+2 (edges replicated); keys are (track, frame index), crops and heatmaps per key fixed."""
    rng = np.random.default_rng(seed)
    size, hsize = config.crop_size, config.heatmap_size
    crops = rng.integers(0, 256, (faces, frames, size, size, 3), dtype=np.uint8)
    heatmaps = rng.random((faces, frames, 68, hsize, hsize), dtype=np.float32)
    r = config.radius
    stream = []
    for t in range(frames):
        index = [min(max(i, 0), frames - 1) for i in range(t - r, t + r + 1)]
        stream.append(
            [FaceWindow(crops[f, index], heatmaps[f, index], tuple((f, i) for i in index)) for f in range(faces)]
        )
    return stream


@pytest.fixture(scope="module", autouse=True)
def export_cache(tmp_path_factory):
    """This module's exports go to a cache of their own, not the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEDEBLUR_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    model = build_model(small_config(), seed=3)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_checkpoint(model, path)
    return model, path


def test_per_frame_work_runs_once_per_frame(checkpoint):
    model, _ = checkpoint
    restorer = TorchRestorer(model, cache_size=16)
    assert isinstance(restorer, Restorer)
    stream = sliding_windows(model.config, frames=12, faces=2)
    for windows in stream:
        out = restorer.restore(windows)
        assert out.shape == (2, 32, 32, 3) and out.dtype == np.float32 and np.array_equal(out, np.rint(out))
    assert restorer.frames_computed == 12 * 2  # not 12 * 2 * 5
    restorer.close()


def test_a_too_small_cache_recomputes_but_stays_correct(checkpoint):
    model, _ = checkpoint
    stream = sliding_windows(model.config, frames=6, faces=2)
    big, tiny = TorchRestorer(model, cache_size=64), TorchRestorer(model, cache_size=1)
    for windows in stream:
        np.testing.assert_array_equal(big.restore(windows), tiny.restore(windows))
    assert tiny.frames_computed > big.frames_computed == 12
    assert len(tiny.cache) == 1


@pytest.mark.slow
def test_onnxruntime_engine_matches_torch_engine(checkpoint):
    model, path = checkpoint
    onnx_restorer = OnnxRestorer(model.config, cached_export(model, weights=path), threads=2)
    torch_restorer = TorchRestorer(model)
    for windows in sliding_windows(model.config, frames=4, faces=3):
        diff = np.abs(onnx_restorer.restore(windows).astype(int) - torch_restorer.restore(windows).astype(int))
        assert diff.max() <= 1  # float results within 1e-4 may round to neighbouring uint8 values
    assert onnx_restorer.frames_computed == torch_restorer.frames_computed == 12


def test_concurrent_restores_give_the_sequential_results(checkpoint):
    model, path = checkpoint
    graphs = cached_export(model, weights=path)
    stream = sliding_windows(model.config, frames=16, faces=2)
    sequential = OnnxRestorer(model.config, graphs, threads=1)
    expected = [sequential.restore(windows) for windows in stream]
    shared = OnnxRestorer(model.config, graphs, threads=1, concurrency=2)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(shared.restore, stream))
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert 32 <= shared.frames_computed <= 2 * 32, "each frame's features once, or twice when two windows race"


def test_cpu_model_runs_two_windows_at_once_on_half_the_cores(monkeypatch):
    from streamfilter.factory import ProcessorOptions, make_processor
    from streamfilter.runtime import build

    monkeypatch.setattr(build, "usable_cores", lambda: 4)
    processor = make_processor(ProcessorOptions(model="finenet-lite"))
    try:
        assert processor.windows_in_flight == processor.restorer.concurrency == 2
        options = processor.restorer.window_session.get_session_options()
        assert options.intra_op_num_threads == 2
    finally:
        processor.close()


@pytest.mark.slow
def test_export_cache_lives_in_the_user_cache_and_is_reused(checkpoint, tmp_path, monkeypatch, caplog):
    """A checkpoint's graphs go to the user cache, never beside it: its folder may be read-only."""
    model, path = checkpoint
    monkeypatch.setenv("FACEDEBLUR_CACHE", str(tmp_path / "cache"))
    first = cached_export(model, weights=path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny.safetensors"]
    assert first.frame.parent == tmp_path / "cache" / "onnx" and first.frame.name.startswith("tiny.")
    stamp = first.frame.stat().st_mtime_ns
    caplog.clear()
    assert cached_export(model, weights=path) == first
    assert first.frame.stat().st_mtime_ns == stamp
    assert "exporting" not in caplog.text, "a cached export is silent"
    changed = build_model(model.config, seed=4)
    with caplog.at_level("WARNING", logger="streamfilter"):
        assert cached_export(changed, weights=path).frame != first.frame
    assert f"first use of {model.config.name} here: exporting its ONNX graphs" in caplog.text, "a new export says why it waits"


@pytest.mark.slow
def test_builtin_graphs_go_to_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEDEBLUR_CACHE", str(tmp_path))
    restorer = build_restorer("dfd", "auto", "cpu")
    assert isinstance(restorer, OnnxRestorer) and restorer.radius == 0
    assert len(list((tmp_path / "onnx").glob("dfd.*.frame.onnx"))) == 1
    config = restorer.config
    rng = np.random.default_rng(0)
    face = FaceWindow(
        rng.integers(0, 256, (1, config.crop_size, config.crop_size, 3), dtype=np.uint8),
        rng.random((1, 68, 64, 64), dtype=np.float32),
        ("only",),
    )
    assert restorer.restore([face]).shape == (1, config.crop_size, config.crop_size, 3)
    assert restorer.restore([]).shape == (0, config.crop_size, config.crop_size, 3)


def test_build_restorer_from_checkpoint_with_torch(checkpoint):
    model, path = checkpoint
    restorer = build_restorer(str(path), "torch", "cpu")
    assert isinstance(restorer, TorchRestorer) and restorer.config == model.config


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("finenet-lite", "openvino", "cpu"), UsageError, "--engine 'openvino'"),
        (("finenet-lite", "tensorrt", "cpu"), ModelError, "not available yet"),
        (("finenet-lite", "torch", "tpu"), UsageError, "--device 'tpu'"),
        (("finenet-xl", "torch", "cpu"), ModelError, "unknown model 'finenet-xl'"),
        (("missing.safetensors", "torch", "cpu"), ModelError, "checkpoint not found"),
    ],
)
def test_build_restorer_errors(args, error, message):
    with pytest.raises(error, match=message):
        build_restorer(*args)


def test_cuda_device_without_cuda_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ModelError, match="CUDA is not available"):
        build_restorer("finenet-lite", "torch", "cuda")


def test_wrong_window_shape_is_refused(checkpoint):
    model, _ = checkpoint
    restorer = TorchRestorer(model)
    window = sliding_windows(small_config(crop_size=64), frames=5, faces=1)[2][0]
    with pytest.raises(ModelError, match="needs 32px crops, got 64px"):
        restorer.restore([window])
    window = sliding_windows(small_config(heatmap_size=32), frames=5, faces=1)[2][0]
    with pytest.raises(ModelError, match=r"heatmaps must be \(68, 16, 16\) float32, got \(68, 32, 32\)"):
        restorer.restore([window])
    with pytest.raises(ValueError, match="heatmaps must hold 5 frames' maps, got 4"):
        FaceWindow(window.crops, window.heatmaps[:4], window.keys)


def test_feature_cache_is_a_bounded_lru():
    cache = FeatureCache(2)
    cache.put("a", (1,))
    cache.put("b", (2,))
    assert cache.get("a") == (1,)
    cache.put("c", (3,))  # evicts b, the least recently used
    assert cache.get("b") is None and cache.get("a") == (1,) and len(cache) == 2
    with pytest.raises(ModelError, match="capacity must be >= 1, got 0"):
        FeatureCache(0)


@pytest.mark.slow
def test_models_command_lists_every_config():
    result = CliRunner().invoke(facedeblur, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    expected = {"finenet", "finenet-lite", "finenet-nofoc", "finenet-lite-nofoc", "finenet-nolandmarks"}
    assert set(rows) == expected | {"enhance-only", "interp-only", "early-fusion", "dfd", "unet", "unet-wide"}
    assert rows["finenet"]["crop_size"] == 256 and rows["dfd"]["radius"] == 0
    assert rows["unet"]["crop_size"] == 256 and rows["unet"]["radius"] == 2
    assert rows["finenet"]["gmacs_per_output_frame"] > rows["finenet-lite"]["gmacs_per_output_frame"] > 0
    table = CliRunner().invoke(facedeblur, ["models"])
    assert table.exit_code == 0 and "finenet-lite" in table.output and "GMACs" in table.output


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["onnxruntime", "torch"])
def test_stream_runs_finenet_lite_end_to_end(shared_data, tmp_path, monkeypatch, engine):
    """``facedeblur-stream --model finenet-lite --blur-gate 0`` on 12 frames of a real face clip,
    both engines: every face goes through the network."""
    from streamfilter.cli import load_command, run
    from streamfilter.evaluation.clip_io import decode_rgb, read_clip, write_lossless

    monkeypatch.setenv("FACEDEBLUR_CACHE", str(tmp_path / "cache"))
    clip = read_clip(shared_data / "clips" / "val" / "videoretalking_5.mp4", max_frames=12)
    source, target, stats = tmp_path / "faces.mkv", tmp_path / "out.mkv", tmp_path / "stats.json"
    write_lossless(source, clip.frames, like=clip)
    args = [str(source), str(target), "--model", "finenet-lite", "--engine", engine, "-c", "ffv1", "--pix-fmt", "bgr0",
            "--blur-gate", "0"]
    assert run(load_command("stream"), [*args, "-q", "--stats", str(stats)], prog_name="facedeblur-stream") == 0
    counts = json.loads(stats.read_text())
    assert counts["faces"] == len(clip.frames) and counts["face_paths"] == {"restored": len(clip.frames)}
    result = list(decode_rgb(target))
    assert len(result) == len(clip.frames)
    assert any(not np.array_equal(a, b) for a, b in zip(result, clip.frames, strict=True))  # the network changed faces
