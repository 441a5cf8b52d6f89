"""Training loop: a tiny model learns, an interrupted run resumes exactly, options are checked."""

from __future__ import annotations

import csv
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from streamfilter.errors import ModelError, UsageError
from streamfilter.models.checkpoint import load_checkpoint, read_checkpoint_config
from streamfilter.models.config import DFDConfig, FineNetConfig
from streamfilter.train.dataset import Sources, WindowBatches
from streamfilter.train.deep_supervision import DeepSupervision
from streamfilter.train.degrade import DegradeConfig
from streamfilter.train.loop import Schedule, Trainer, TrainOptions
from streamfilter.train.objective import offset_path_parameters, phases_for, set_trainable
from streamfilter.models.registry import build_model
from streamfilter.train.windows import WindowConfig

TINY = FineNetConfig(
    name="tiny", channels=8, deformable_groups=2, crop_size=32, predeblur_blocks=0, extract_blocks=1,
    reconstruct_blocks=1, combine_channels=8, combine_blocks=1,
)


def options(**changes) -> TrainOptions:
    values = dict(model="finenet-lite", steps=6, batch=2, lr=2e-3, combine_share=0.34, seed=3, val_windows=4,
                  val_every=3, log_every=1, workers=0, threads=1, precision="fp32")
    return TrainOptions(**{**values, **changes})


def trainer(run_dir: Path, sources, **changes) -> Trainer:
    return Trainer(options(**changes), sources, run_dir, config=TINY, log=lambda message: None, progress=False)


def log_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "log.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_batches_are_a_function_of_seed_and_step(photo_sources):
    config = WindowConfig(crop_size=TINY.crop_size)
    a = WindowBatches(photo_sources, config, batch=2, seed=1, length=4)
    b = WindowBatches(photo_sources, config, batch=2, seed=1, length=4)
    assert torch.equal(a[2]["crops"], b[2]["crops"])
    assert torch.equal(a[2]["heatmaps"], b[2]["heatmaps"])
    assert not torch.equal(a[1]["crops"], a[2]["crops"])
    assert a[0]["crops"].shape == (2, 5, 3, TINY.crop_size, TINY.crop_size)
    assert a[0]["heatmaps"].shape == (2, 5, 68, 64, 64)


def test_schedule_phases_and_cosine_decay():
    model = build_model(TINY, seed=0)
    schedule = Schedule(phases_for(model, 0.25), steps=100, lr=1e-3, lr_floor=0.01)
    assert [(p.name, start, end) for p, start, end in schedule.bounds()] == [("branch", 0, 75), ("combine", 75, 100)]
    assert schedule.at(0) == (schedule.phases[0], pytest.approx(1e-3))
    assert schedule.at(74)[1] < 2e-5
    assert schedule.at(75) == (schedule.phases[1], pytest.approx(1e-3))
    assert schedule.at(99)[1] < schedule.at(80)[1]


def test_combine_phase_trains_only_the_combination_module():
    model = build_model(TINY, seed=0)
    trainable = set_trainable(model, "combine")
    assert {id(p) for p in trainable} == {id(p) for p in model.window.combine.parameters()}
    branch = set_trainable(model, "branch")
    assert not {id(p) for p in branch} & {id(p) for p in model.window.combine.parameters()}
    assert len(branch) + len(trainable) == len(list(model.parameters()))


FIXED_BLUR = WindowConfig(
    crop_size=TINY.crop_size, scale=0.0, shift=0.0, rotation=0.0, p_flip=0.0, colour=0.0, photo_fraction=1.0,
    degrade=DegradeConfig(p_sharp_center=0.0, p_sharp_neighbour=0.0, p_motion=0.0, p_average=0.0,
                          gaussian_sigma=(0.06, 0.06), noise_sigma=(0.0, 0.0), p_jpeg=0.0, p_h264=0.0),
)
"""One photo, one Gaussian blur, no augmentation: the centre frame is the same in every window."""


@pytest.mark.slow
def test_tiny_run_learns_a_fixed_blur(tmp_path, photo_sources):
    one_photo = Sources(clips=[], photos=photo_sources.photos[:1])
    run_dir = tmp_path / "run"
    run = Trainer(options(steps=100, lr=3e-3, combine_share=0.0, val_every=100, log_every=20, val_windows=2),
                  one_photo, run_dir, config=TINY, window=FIXED_BLUR, log=lambda message: None, progress=False)
    run.run(resume=False)
    rows = log_rows(run_dir)
    first, last = rows[0], rows[-1]
    assert first["step"] == "0" and last["step"] == "100"
    assert float(last["val_enhanced"]) > float(first["val_enhanced"]) + 1.0
    losses = [float(r["loss"]) for r in rows if r["loss"]]
    assert losses[-1] < 0.8 * losses[0]
    assert (run_dir / "model.safetensors").is_file()


@pytest.mark.slow
def test_validation_warns_about_a_diverged_alignment(tmp_path, photo_sources):
    messages = []
    run = Trainer(options(steps=1, val_every=1), photo_sources, tmp_path / "run", config=TINY,
                  log=lambda message: None, warn=messages.append, progress=False)  # as with train -q
    layer = run.model.window.interp.align.dconv1
    with torch.no_grad():
        layer.offset_mask.bias[: 2 * layer.deformable_groups * 9].fill_(500.0)
    run.run(resume=False)
    warnings = [m for m in messages if m.startswith("warning:")]
    assert warnings and all("window.interp.align.dconv1 offsets average" in m for m in warnings)
    assert [d.name for d in run.diverged] == ["window.interp.align.dconv1"]

    healthy = trainer(tmp_path / "healthy", photo_sources, steps=1, val_every=1)
    healthy.run(resume=False)
    assert healthy.diverged == []


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_weights(tmp_path, photo_sources, monkeypatch):
    straight = trainer(tmp_path / "straight", photo_sources)
    straight.run(resume=False)

    interrupted = trainer(tmp_path / "resumed", photo_sources)
    real_loader = interrupted._loader

    def loader_with_interrupt(start):
        for index, batch in enumerate(real_loader(start)):
            if index == 2:
                os.kill(os.getpid(), signal.SIGINT)
            yield batch

    monkeypatch.setattr(interrupted, "_loader", loader_with_interrupt)
    interrupted.run(resume=False)
    state = torch.load(tmp_path / "resumed" / "state.pt", weights_only=True)
    assert state["step"] == 3

    resumed = trainer(tmp_path / "resumed", photo_sources)
    resumed.run(resume=True)
    for name, tensor in straight.model.state_dict().items():
        np.testing.assert_allclose(resumed.model.state_dict()[name].numpy(), tensor.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    assert [r["step"] for r in log_rows(tmp_path / "resumed")][-1] == "6"


def test_resume_refuses_changed_options_and_fresh_run_refuses_existing(tmp_path, photo_sources):
    run_dir = tmp_path / "run"
    trainer(run_dir, photo_sources, steps=2, val_windows=0).run(resume=False)
    with pytest.raises(UsageError, match="batch=2 \\(now 3\\)"):
        trainer(run_dir, photo_sources, steps=4, batch=3, val_windows=0).run(resume=True)
    with pytest.raises(UsageError, match="--resume"):
        trainer(run_dir, photo_sources, steps=2, val_windows=0).run(resume=False)
    stored = json.loads((run_dir / "options.json").read_text())
    del stored["deep_supervision"]  # written before the option existed: its default holds
    (run_dir / "options.json").write_text(json.dumps(stored))
    trainer(run_dir, photo_sources, steps=3, val_windows=0).run(resume=True)
    with pytest.raises(UsageError, match="deep_supervision=0.0 \\(now 1.0\\)"):
        trainer(run_dir, photo_sources, steps=4, val_windows=0, deep_supervision=1.0).run(resume=True)
    with pytest.raises(UsageError, match="nothing to resume"):
        trainer(tmp_path / "empty", photo_sources, steps=2).run(resume=True)


def test_sharp_share_sets_the_sharp_centres_and_binds_a_resume(tmp_path, photo_sources):
    default = trainer(tmp_path / "default", photo_sources).window_config.degrade
    assert default.p_sharp_center == DegradeConfig().p_sharp_center
    run = trainer(tmp_path / "run", photo_sources, steps=2, val_windows=0, sharp_share=1.0)
    assert run.window_config.degrade.p_sharp_center == 1.0
    run.run(resume=False)
    with pytest.raises(UsageError, match="sharp_share=1.0 \\(now 0.5\\)"):
        trainer(tmp_path / "run", photo_sources, steps=4, val_windows=0, sharp_share=0.5).run(resume=True)
    with pytest.raises(UsageError, match="sharp share"):
        options(sharp_share=1.5)


def test_init_starts_from_a_checkpoint_and_refuses_another_configuration(tmp_path, photo_sources):
    first = trainer(tmp_path / "first", photo_sources)
    first.run(resume=False)
    tuned = trainer(tmp_path / "tuned", photo_sources, steps=1, init=str(tmp_path / "first" / "model.safetensors"))
    tuned.run(resume=False)
    rows = log_rows(tmp_path / "tuned")
    assert rows[0]["step"] == "0" and rows[0]["val_output"] == log_rows(tmp_path / "first")[-1]["val_output"], \
        "step 0 of the fine-tuning run scores the starting checkpoint"
    other = FineNetConfig(**{**TINY.__dict__, "channels": 16})
    with pytest.raises(ModelError, match="channels"):
        Trainer(options(init=str(tmp_path / "first" / "model.safetensors")), photo_sources, tmp_path / "other",
                config=other, log=lambda message: None, progress=False).run(resume=False)


@pytest.mark.slow
def test_offset_lr_scale_moves_the_offset_path_faster(tmp_path, photo_sources):
    changes = {}
    for scale in (1.0, 30.0):
        run = trainer(tmp_path / f"scale{scale}", photo_sources, steps=4, combine_share=0.0, val_windows=0,
                      offset_lr_scale=scale)
        path = offset_path_parameters(run.model)
        groups = run._optimizer(run.schedule.phases[0]).param_groups
        assert [group["lr"] for group in groups] == pytest.approx([2e-3] if scale == 1 else [2e-3, 6e-2])
        if scale != 1:
            assert {id(p) for p in groups[1]["params"]} == {id(p) for p in path}
        encoder = run.model.frame.heatmaps.body[0][0].weight
        start = encoder.detach().clone()
        run.run(resume=False)
        changes[scale] = (encoder.detach() - start).abs().mean().item()
    assert changes[30.0] > 5 * changes[1.0] > 0
    with pytest.raises(UsageError, match="offset learning-rate scale"):
        options(offset_lr_scale=0.0)


def test_offset_path_is_the_offset_networks_and_the_heatmap_encoder():
    model = build_model(TINY, seed=0)
    names = {name for name, p in model.named_parameters() if any(p is q for q in offset_path_parameters(model))}
    assert any(".heatmaps." in name for name in names)
    assert any(name.endswith("dconv1.offset_mask.weight") for name in names)
    assert any(".offsets3." in name for name in names)
    assert not any(".reconstruct." in name or name.endswith("dconv1.weight") or ".combine." in name
                   for name in names)


def test_offset_bound_option_sets_the_trained_configuration(tmp_path, photo_sources):
    run = trainer(tmp_path / "run", photo_sources, steps=1, val_windows=0, offset_bound=0.25)
    assert run.model.config.offset_bound == 0.25
    run.run(resume=False)
    assert read_checkpoint_config(tmp_path / "run" / "model.safetensors").offset_bound == 0.25
    with pytest.raises(UsageError, match="offset bound"):
        options(offset_bound=2.0)


def test_deep_supervision_trains_heads_outside_the_model_and_resumes(tmp_path, photo_sources):
    run = trainer(tmp_path / "run", photo_sources, steps=3, combine_share=0.34, val_windows=0, deep_supervision=1.0)
    assert set(run.deep.heads) == {"enhance", "interp"}
    run.run(resume=False)
    assert all(head.weight.abs().sum() > 0 for head in run.deep.heads.values())
    plain = build_model(TINY, seed=0)
    assert load_checkpoint(tmp_path / "run" / "model.safetensors").state_dict().keys() == plain.state_dict().keys()
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    resumed = trainer(tmp_path / "run", photo_sources, steps=4, combine_share=0.34, val_windows=0,
                      deep_supervision=1.0)
    resumed.run(resume=True)
    for name, head in resumed.deep.heads.items():
        assert torch.equal(head.weight, state["deep"][f"heads.{name}.weight"]), "combine phase leaves the heads alone"
    with pytest.raises(UsageError, match="deep supervision needs FineNet branches"):
        DeepSupervision(build_model(DFDConfig(name="d", channels=8, blocks=1, crop_size=32), seed=0))
    with pytest.raises(UsageError, match="deep supervision weight"):
        options(deep_supervision=-1.0)
