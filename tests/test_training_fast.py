"""The fast training path: window pool, bf16 autocast, the DCN under it, the plain U-Net."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from streamfilter.errors import UsageError
from streamfilter.models.config import UNetConfig
from streamfilter.models.dcn import ModulatedDeformConv
from streamfilter.train import precision
from streamfilter.train.losses import branch_loss
from streamfilter.train.loop import Trainer, TrainOptions
from streamfilter.train.objective import unchanged_weights
from streamfilter.train.pool import PoolBatches, WindowPool
from streamfilter.train.windows import WindowConfig

SMALL_UNET = UNetConfig(name="small-unet", crop_size=32, frame_channels=4, channels=8, encoder_blocks=1,
                        middle_blocks=1, decoder_blocks=1, heatmap_size=16)


@pytest.mark.slow
def test_pool_is_built_once_and_batches_are_a_function_of_seed_and_step(photo_sources, tmp_path):
    config = WindowConfig(crop_size=32, heatmap_size=16)
    messages = []
    pool = WindowPool.load_or_build(photo_sources, config, size=6, seed=1, cache_dir=tmp_path, processes=1,
                                    log=messages.append)
    again = WindowPool.load_or_build(photo_sources, config, size=6, seed=1, cache_dir=tmp_path, log=messages.append)
    assert len(messages) == 1 and pool.folder == again.folder and len(pool) == 6
    assert pool.inputs.shape == (6, 5, 32, 32, 3) and pool.points.shape == (6, 5, 68, 2)
    assert len(set(pool.inputs.reshape(6, -1).sum(1).tolist())) == 6, "six different windows"
    a = PoolBatches(pool, batch=3, seed=2, length=4)
    b = PoolBatches(again, batch=3, seed=2, length=4)
    assert torch.equal(a[1]["crops"], b[1]["crops"]) and torch.equal(a[1]["heatmaps"], b[1]["heatmaps"])
    assert not torch.equal(a[0]["crops"], a[1]["crops"])
    batch = a[0]
    assert batch["crops"].shape == (3, 5, 3, 32, 32) and batch["target"].shape == (3, 3, 32, 32)
    assert batch["heatmaps"].shape == (3, 5, 68, 16, 16) and batch["heatmaps"].amax() > 0.5
    other = WindowPool.load_or_build(photo_sources, config, size=6, seed=2, cache_dir=tmp_path, processes=2,
                                     log=messages.append)
    assert other.folder != pool.folder and not np.array_equal(other.inputs, pool.inputs)


def test_pool_windows_without_landmarks_carry_no_maps(photo_sources, tmp_path):
    config = WindowConfig(crop_size=32, heatmap_size=16, landmarks=False)
    pool = WindowPool.load_or_build(photo_sources, config, size=4, seed=0, cache_dir=tmp_path, processes=1,
                                    log=lambda m: None)
    assert pool.points is None
    assert PoolBatches(pool, batch=2, seed=0, length=1)[0]["heatmaps"].shape == (2, 5, 0, 16, 16)
    with pytest.raises(ValueError, match="larger than the pool"):
        PoolBatches(pool, batch=5, seed=0, length=1)


def test_precision_follows_the_cpu_flags(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "amx_bf16"})
    assert precision.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "avx512f"})
    assert precision.resolve_precision("auto", cpu) == "fp32"
    assert precision.resolve_precision("bf16", cpu) == "bf16"
    assert precision.resolve_precision("auto", torch.device("cuda")) == "bf16"
    with pytest.raises(UsageError, match="precision must be"):
        precision.resolve_precision("fp16", cpu)


def test_deformable_conv_under_bf16_autocast_is_close_to_fp32():
    torch.manual_seed(0)
    layer = ModulatedDeformConv(16, 16, offset_channels=16, deformable_groups=4)
    torch.nn.init.normal_(layer.offset_mask.weight, std=0.1)
    x, feature = torch.randn(2, 16, 24, 24), torch.randn(2, 16, 24, 24)
    reference = layer(x, feature)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = layer(x.requires_grad_(), feature)
    assert low.dtype == torch.bfloat16
    assert (low.float() - reference).abs().max() < 0.05 * reference.abs().max()
    low.float().square().mean().backward()
    assert x.grad.dtype == torch.float32 and layer.weight.grad.dtype == torch.float32
    assert torch.isfinite(layer.offset_mask.weight.grad).all() and layer.offset_mask.weight.grad.abs().sum() > 0


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "log.csv").open() as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("mode", ["fp32", "bf16"])
def test_unet_trains_from_a_pool(photo_sources, tmp_path, mode):
    # every batch is the whole pool of four windows: the loss must fall
    options = TrainOptions(model="unet", steps=40, batch=4, lr=1e-3, seed=0, val_windows=4, val_every=40,
                           log_every=10, workers=0, threads=1, pool=4, precision=mode, clip_grad=0.5,
                           weight_decay=1e-4)
    run = Trainer(options, photo_sources, tmp_path / "run", config=SMALL_UNET, cache_dir=tmp_path / "pools",
                  log=lambda message: None, progress=False)
    assert run.window_config.landmarks is False and run.precision == mode
    run.run(resume=False)
    rows = _rows(tmp_path / "run")
    losses = [float(r["loss"]) for r in rows if r["loss"]]
    assert losses[-1] < 0.9 * losses[0]
    assert rows[0]["val_output"] == rows[0]["val_input"], "a zeroed head starts as the centre frame"
    trained = [r for r in rows if r["windows_per_s"]]
    assert trained and all(float(r["windows_per_s"]) > 0 and 0 <= float(r["data_wait"]) < 1 for r in trained)


def test_bad_fast_path_options_are_refused():
    for changes, message in (({"pool": 2}, "pool must be"), ({"precision": "fp16"}, "precision must be"),
                             ({"clip_grad": -1.0}, "clipping"), ({"weight_decay": float("nan")}, "weight decay")):
        with pytest.raises(UsageError, match=message):
            TrainOptions(model="unet", steps=1, batch=4, **changes)


def test_unchanged_centres_weigh_more_in_the_loss():
    generator = torch.Generator().manual_seed(0)
    crops = torch.rand(3, 5, 3, 8, 8, generator=generator)
    target = torch.rand(3, 3, 8, 8, generator=generator)
    target[1] = crops[1, 2]
    weights = unchanged_weights(crops, target, 4.0)
    assert weights.tolist() == [1.0, 4.0, 1.0]
    assert unchanged_weights(crops, target, 1.0) is None
    prediction = torch.rand(3, 3, 8, 8, generator=generator)
    assert torch.allclose(branch_loss(prediction, target, torch.ones(3)), branch_loss(prediction, target))
    per_window = [branch_loss(prediction[i:i + 1], target[i:i + 1]) for i in range(3)]
    expected = (per_window[0] + 4 * per_window[1] + per_window[2]) / 6
    assert torch.allclose(branch_loss(prediction, target, weights), expected)
    with pytest.raises(UsageError, match="unchanged-centre weight"):
        TrainOptions(model="unet", steps=1, batch=4, unchanged_weight=0.0)
