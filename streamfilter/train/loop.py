"""The training loop: phases, AdamW with cosine decay, time-interval checkpoints, resume, logs.

A run directory holds:

- ``state.pt``: step, model and optimizer state (loaded with ``weights_only=True``)
- ``model.safetensors``: the model as a project checkpoint (what ``--model`` takes), rewritten
  at every checkpoint
- ``options.json``: the options of the run (a resume must agree on everything but ``steps``)
- ``log.csv``: step, phase, learning rate, mean loss since the last row, validation PSNR of
  the output, of each branch's image and of the blurred centre frame, elapsed seconds,
  training windows per second since the last row and the share of that time spent waiting
  for data
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from ..errors import ModelError, UsageError
from ..evaluation.metrics import PSNR_CEILING
from ..models.alignment_stats import AlignmentRecorder, LayerStats
from ..models.blocks import zero_image_heads
from ..models.checkpoint import load_checkpoint, save_checkpoint
from ..models.config import FineNetConfig, ModelConfig
from ..models.grow import grow
from ..models.metadata import config_differences
from ..models.registry import build_model, get_config, uses_landmarks
from ..models.split import SplitModel
from .dataset import Sources, WindowBatches, fixed_batches
from .deep_supervision import DeepSupervision
from .objective import Phase, offset_path_parameters, phase_loss, phases_for, set_trainable
from .pool import PoolBatches, WindowPool
from .precision import PRECISIONS, autocast, resolve_precision
from .windows import WindowConfig

STATE_FILE = "state.pt"
VAL_OUTPUTS = ("output", "enhanced", "interpolated", "input")
"""Validation PSNR columns of log.csv (empty when a model has no such output)."""
RESUMABLE = ("steps",)
"""Options a resumed run may change."""


@dataclass(frozen=True, kw_only=True)
class TrainOptions:
    """model: registry name; steps: optimiser steps in all; batch: windows per step; lr: initial
    rate of each phase, decayed by a cosine to ``lr * lr_floor``; combine_share: share of the
    steps for the combination module (FineNet); sharp_share: share of windows whose centre
    frame stays sharp (``DegradeConfig.p_sharp_center``; None: the window configuration's,
    0.2 by default); clean_share: share of windows without noise or compression
    (``DegradeConfig.p_clean``; None: 0); unchanged_weight: loss weight of the windows whose
    centre frame comes in exactly as its target (``unchanged_weights``); val_windows / val_every: fixed validation
    windows and how often (steps) to score them; checkpoint_minutes: wall time between
    checkpoints; workers: data loader processes (0 = in the training process); init: a
    checkpoint to start from instead of a fresh initialisation, of the same configuration or a
    smaller one of the same kind (widened by ``grow``, same output); the schedule, phases
    included, starts over; offset_lr_scale: learning-rate
    multiplier of the parameters that reach the output only through deformable offsets and
    masks (``offset_path_parameters``), which otherwise barely move from their initialisation;
    offset_bound: the configuration's ``offset_bound`` to train with (None: the registry's);
    deep_supervision: weight of the deep-only images' loss in the branch phase
    (``DeepSupervision``; 0: off); pool: windows synthesised once and drawn from by every
    step (``WindowPool``; 0: every window synthesised on the fly); precision: 'auto' (bf16
    autocast where the hardware has it, ``precision.py``), 'bf16' or 'fp32'; clip_grad: largest
    gradient norm (0: no clipping); weight_decay: AdamW's decoupled weight decay."""

    model: str
    steps: int
    batch: int = 8
    lr: float = 1e-4
    lr_floor: float = 0.01
    combine_share: float = 0.1
    sharp_share: float | None = None
    clean_share: float | None = None
    unchanged_weight: float = 1.0
    seed: int = 0
    val_windows: int = 64
    val_every: int = 250
    log_every: int = 25
    checkpoint_minutes: float = 10.0
    workers: int = 1
    device: str = "cpu"
    threads: int = 2
    init: str | None = None
    offset_lr_scale: float = 1.0
    offset_bound: float | None = None
    deep_supervision: float = 0.0
    pool: int = 0
    precision: str = "auto"
    clip_grad: float = 0.0
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch < 1:
            raise UsageError(f"steps and batch must be >= 1 (got {self.steps}, {self.batch})")
        if not 0.0 <= self.combine_share < 1.0:
            raise UsageError(f"combine share must be in [0, 1), got {self.combine_share}")
        if self.lr <= 0 or not 0.0 < self.lr_floor <= 1.0:
            raise UsageError(f"bad learning rate {self.lr} or floor {self.lr_floor}")
        if self.sharp_share is not None and not 0.0 <= self.sharp_share <= 1.0:
            raise UsageError(f"sharp share must be in [0, 1], got {self.sharp_share}")
        if self.clean_share is not None and not 0.0 <= self.clean_share <= 1.0:
            raise UsageError(f"clean share must be in [0, 1], got {self.clean_share}")
        if not (math.isfinite(self.unchanged_weight) and self.unchanged_weight > 0):
            raise UsageError(f"unchanged-centre weight must be > 0, got {self.unchanged_weight}")
        if self.offset_lr_scale <= 0:
            raise UsageError(f"offset learning-rate scale must be > 0, got {self.offset_lr_scale}")
        if self.deep_supervision < 0:
            raise UsageError(f"deep supervision weight must be >= 0, got {self.deep_supervision}")
        if self.offset_bound is not None and not 0.0 <= self.offset_bound <= 1.0:
            raise UsageError(f"offset bound must be a fraction in [0, 1], got {self.offset_bound}")
        if self.pool < 0 or (0 < self.pool < self.batch):
            raise UsageError(f"pool must be 0 or at least the batch ({self.batch}), got {self.pool}")
        if self.precision not in PRECISIONS:
            raise UsageError(f"precision must be auto, bf16 or fp32, got {self.precision!r}")
        if not (math.isfinite(self.clip_grad) and self.clip_grad >= 0):
            raise UsageError(f"gradient clipping norm must be >= 0, got {self.clip_grad}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise UsageError(f"weight decay must be >= 0, got {self.weight_decay}")


@dataclass(frozen=True)
class Schedule:
    """Phase boundaries in steps and the learning rate at each step."""

    phases: list[Phase]
    steps: int
    lr: float
    lr_floor: float

    def bounds(self) -> list[tuple[Phase, int, int]]:
        """(phase, first step, end step) for each phase."""
        out, start = [], 0
        for i, phase in enumerate(self.phases):
            end = self.steps if i == len(self.phases) - 1 else start + round(phase.share * self.steps)
            out.append((phase, start, end))
            start = end
        return out

    def at(self, step: int) -> tuple[Phase, float]:
        for phase, start, end in self.bounds():
            if step < end:
                progress = (step - start) / max(1, end - start)
                scale = self.lr_floor + (1 - self.lr_floor) * 0.5 * (1 + math.cos(math.pi * progress))
                return phase, self.lr * scale
        raise IndexError(step)


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of (N, 3, H, W) images in [0, 1], at most ``PSNR_CEILING`` as in
    ``facedeblur eval`` (an unchanged sharp window would otherwise weigh 100 dB in the mean)."""
    mse = (prediction.clamp(0, 1) - target).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(10 ** (-PSNR_CEILING / 10)))


def centre_slice(crops: torch.Tensor, radius: int) -> torch.Tensor:
    """Frames t-radius..t+radius of (N, T, ...) windows."""
    c = crops.shape[1] // 2
    return crops[:, c - radius : c + radius + 1]


class Trainer:
    """Trains ``options.model`` on windows from ``sources``; writes into ``run_dir``."""

    def __init__(self, options: TrainOptions, sources: Sources, run_dir: Path, *, val_sources: Sources | None = None,
                 config: ModelConfig | None = None, window: WindowConfig | None = None,
                 tensorboard: Path | None = None, log: Callable[[str], None] = print,
                 warn: Callable[[str], None] | None = None, progress: bool = True,
                 cache_dir: Path | None = None):
        """``config`` overrides the registry's configuration of ``options.model`` (custom sizes);
        ``window`` the default augmentation and degradation (its geometry must match ``config``);
        ``log`` takes progress messages, ``warn`` warnings (default: ``log``); ``cache_dir``
        holds the window pool (default: the run directory)."""
        self.options = options
        self.warn = warn or log
        self.run_dir = run_dir
        self.log = log
        self.progress = progress
        self.device = torch.device(options.device)
        config = config or get_config(options.model)
        if options.offset_bound is not None:
            if not isinstance(config, FineNetConfig):
                raise UsageError(f"--offset-bound: {config.name!r} has no deformable alignment")
            config = dataclasses.replace(config, offset_bound=options.offset_bound)
        self.model: SplitModel = zero_image_heads(build_model(config, seed=options.seed)).to(self.device)
        self.deep = DeepSupervision(self.model).to(self.device) if options.deep_supervision > 0 else None
        self.radius = config.radius
        self.window_config = window or WindowConfig(crop_size=config.crop_size, heatmap_size=config.heatmap_size,
                                                    landmarks=uses_landmarks(config))
        shares = {"p_sharp_center": options.sharp_share, "p_clean": options.clean_share}
        shares = {name: value for name, value in shares.items() if value is not None}
        if shares:
            degrade = dataclasses.replace(self.window_config.degrade, **shares)
            self.window_config = dataclasses.replace(self.window_config, degrade=degrade)
        if (self.window_config.crop_size, self.window_config.heatmap_size) != (config.crop_size, config.heatmap_size):
            raise UsageError(f"training windows of {self.window_config.crop_size} px / {self.window_config.heatmap_size} px "
                             f"heatmaps do not fit {config.name!r} ({config.crop_size} / {config.heatmap_size})")
        self.schedule = Schedule(phases_for(self.model, options.combine_share), options.steps, options.lr, options.lr_floor)
        self.sources = sources
        self.val_sources = val_sources or sources
        self.writer = self._tensorboard(tensorboard) if tensorboard else None
        self.stop_requested = False
        self.diverged: list[LayerStats] = []
        self.precision = resolve_precision(options.precision, self.device)
        self.cache_dir = cache_dir

    @staticmethod
    def _tensorboard(folder: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise UsageError("--tensorboard needs the tensorboard package (pip install tensorboard)") from exc
        return SummaryWriter(str(folder))

    def _options_file(self) -> Path:
        return self.run_dir / "options.json"

    def _check_resume(self) -> None:
        """Refuse to resume with options that change the run; an option the run's options.json
        predates counts as its default."""
        defaults = {f.name: f.default for f in dataclasses.fields(TrainOptions) if f.default is not dataclasses.MISSING}
        stored = {**defaults, **json.loads(self._options_file().read_text())}
        current = dataclasses.asdict(self.options)
        differ = [k for k in current if k not in RESUMABLE + ("workers", "device", "threads", "checkpoint_minutes")
                  and stored.get(k) != current[k]]
        if differ:
            raise UsageError(
                "cannot resume: options differ from the run in " + f"{self.run_dir}: "
                + ", ".join(f"{k}={stored.get(k)!r} (now {current[k]!r})" for k in differ)
            )

    def _optimizer(self, phase: Phase) -> torch.optim.AdamW:
        """AdamW over what ``phase`` trains: one parameter group, or two when the offset path has
        its own rate (``self.lr_scales`` holds each group's multiplier of the schedule's rate)."""
        trainable = set_trainable(self.model, phase.name)
        if self.deep is not None and phase.name == "branch":
            trainable += list(self.deep.parameters())
        scale = self.options.offset_lr_scale
        if scale == 1.0:
            groups = [trainable]
        else:
            offset_path = {id(p) for p in offset_path_parameters(self.model)}
            groups = [[p for p in trainable if id(p) not in offset_path],
                      [p for p in trainable if id(p) in offset_path]]
        self.lr_scales = [1.0, scale][:len(groups)]
        return torch.optim.AdamW(
            [{"params": params, "lr": self.options.lr * s} for params, s in zip(groups, self.lr_scales)],
            betas=(0.9, 0.999), weight_decay=self.options.weight_decay,
        )

    def _save(self, step: int, phase: Phase, optimizer: torch.optim.Optimizer, elapsed: float) -> None:
        state = {"step": step, "elapsed": elapsed, "phase": phase.name, "model": self.model.state_dict(),
                 "optimizer": optimizer.state_dict()}
        if self.deep is not None:
            state["deep"] = self.deep.state_dict()
        tmp = self.run_dir / (STATE_FILE + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.run_dir / STATE_FILE)
        model_tmp = self.run_dir / "model.safetensors.tmp"
        save_checkpoint(self.model, model_tmp)
        os.replace(model_tmp, self.run_dir / "model.safetensors")

    def _validation_set(self) -> list[dict[str, torch.Tensor]]:
        count = self.options.val_windows
        if count == 0:
            return []
        return fixed_batches(self.val_sources, self.window_config, count=count, seed=self.options.seed + 7919)

    @torch.no_grad()
    def validate(self, batches: list[dict[str, torch.Tensor]]) -> dict[str, float]:
        """Mean PSNR (dB) over the validation windows of each image the model outputs
        (``output`` and, for FineNet, ``enhanced`` and ``interpolated``) and of the blurred
        centre frame (``input``). Deformable layers whose mean offset exceeds their feature
        map are listed in ``self.diverged`` (``LayerStats``)."""
        self.model.eval()
        scores: dict[str, list[torch.Tensor]] = {}
        with AlignmentRecorder(self.model) as recorder:
            for batch in batches:
                crops = centre_slice(batch["crops"], self.radius).to(self.device)
                heatmaps = centre_slice(batch["heatmaps"], self.radius).to(self.device)
                target = batch["target"].to(self.device)
                images = {**self.model(crops, heatmaps), "input": crops[:, self.radius]}
                for name, image in images.items():
                    scores.setdefault(name, []).append(psnr(image.float(), target).cpu())
        self.diverged = [layer for layer in recorder.stats() if layer.beyond_map]
        self.model.train()
        return {name: torch.cat(values).mean().item() for name, values in scores.items()}

    def run(self, *, resume: bool) -> Path:
        """Train to ``options.steps``; return the path of the final model checkpoint."""
        options = self.options
        self.run_dir.mkdir(parents=True, exist_ok=True)
        state_path = self.run_dir / STATE_FILE
        step, elapsed = 0, 0.0
        if resume:
            if not state_path.exists():
                raise UsageError(f"nothing to resume in {self.run_dir} (no {STATE_FILE})")
            self._check_resume()
            state = torch.load(state_path, map_location=self.device, weights_only=True)
            self.model.load_state_dict(state["model"])
            if self.deep is not None:
                self.deep.load_state_dict(state["deep"])
            step, elapsed = int(state["step"]), float(state["elapsed"])
        elif state_path.exists():
            raise UsageError(f"{self.run_dir} already holds a run: pass --resume to continue it, or another --out")
        elif options.init is not None:
            start = load_checkpoint(options.init)
            if start.config == self.model.config:
                self.model.load_state_dict(start.state_dict())
                self.log(f"starting from the weights of {options.init}")
            else:
                try:
                    grow(self.model, start)
                except ModelError as exc:
                    raise ModelError(f"--init {options.init}: {config_differences(start.config, self.model.config)}; "
                                     f"{exc}") from exc
                self.log(f"starting from the weights of {options.init} ({start.config.name}), grown into {options.model}")
        self._options_file().write_text(json.dumps(dataclasses.asdict(options), indent=2) + "\n")
        torch.manual_seed(options.seed + step)
        if step >= options.steps:
            self.log(f"run already at step {step} of {options.steps}")
            return self.run_dir / "model.safetensors"

        val_batches = self._validation_set()
        phase, _ = self.schedule.at(step)
        optimizer = self._optimizer(phase)
        if resume and state.get("phase") == phase.name:
            optimizer.load_state_dict(state["optimizer"])
        log_path = self.run_dir / "log.csv"
        new_log = not log_path.exists() or log_path.stat().st_size == 0
        log_file = log_path.open("a", newline="")
        writer = csv.writer(log_file)
        if new_log:
            writer.writerow(["step", "phase", "lr", "loss", *(f"val_{name}" for name in VAL_OUTPUTS), "elapsed_s",
                             "windows_per_s", "data_wait"])
            if val_batches:
                self._log_row(writer, step, phase, options.lr, [], val_batches, time.monotonic())
            log_file.flush()
        loader = self._loader(step)
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        bar = tqdm(total=options.steps, initial=step, unit="step", dynamic_ncols=True, disable=not self.progress)
        start_time, last_checkpoint = time.monotonic() - elapsed, time.monotonic()
        losses: list[float] = []
        self.model.train()
        self.log(f"precision: {self.precision}")
        self._rate_reset()
        batches = iter(loader)
        try:
            while True:
                waited = time.monotonic()
                batch = next(batches, None)
                if batch is None:
                    break
                self._waited += time.monotonic() - waited
                next_phase, lr = self.schedule.at(step)
                if next_phase != phase:
                    if losses:
                        self._log_row(writer, step, phase, self.schedule.at(step - 1)[1], losses, None, start_time)
                        losses = []
                    self._save(step, phase, optimizer, time.monotonic() - start_time)
                    phase, optimizer = next_phase, self._optimizer(next_phase)
                    self.log(f"step {step}: phase {phase.name}")
                for group, scale in zip(optimizer.param_groups, self.lr_scales, strict=True):
                    group["lr"] = lr * scale
                crops = centre_slice(batch["crops"], self.radius).to(self.device, non_blocking=True)
                heatmaps = centre_slice(batch["heatmaps"], self.radius).to(self.device, non_blocking=True)
                target = batch["target"].to(self.device, non_blocking=True)
                with autocast(self.precision, self.device):
                    loss, _ = phase_loss(self.model, phase.name, crops, heatmaps, target,
                                         unchanged_weight=options.unchanged_weight)
                    if self.deep is not None and phase.name == "branch":
                        loss = loss + options.deep_supervision * self.deep.loss(target)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if options.clip_grad > 0:
                    torch.nn.utils.clip_grad_norm_(
                        [p for group in optimizer.param_groups for p in group["params"]], options.clip_grad)
                optimizer.step()
                step += 1
                self._windows += len(target)
                losses.append(loss.item())
                bar.update(1)
                rate, wait = self._rate()
                bar.set_postfix(phase=phase.name, loss=f"{loss.item():.4f}", win_s=f"{rate:.1f}", wait=f"{wait:.0%}")
                val = (step % options.val_every == 0 or step == options.steps) and val_batches
                if step % options.log_every == 0 or val or step == options.steps:
                    row = self._log_row(writer, step, phase, lr, losses, val_batches if val else None, start_time)
                    log_file.flush()
                    losses = []
                    if val:
                        (bar.write if self.progress else self.log)(
                            f"step {step}: val PSNR {row[4]} dB (blurred input {row[7]} dB)")
                if self.stop_requested or step == options.steps or \
                        time.monotonic() - last_checkpoint > options.checkpoint_minutes * 60:
                    self._save(step, phase, optimizer, time.monotonic() - start_time)
                    last_checkpoint = time.monotonic()
                if self.stop_requested:
                    self.log(f"stopped at step {step}: checkpoint saved; continue with --resume")
                    break
        finally:
            bar.close()
            log_file.close()
            for s, handler in previous.items():
                signal.signal(s, handler)
            if self.writer:
                self.writer.close()
        return self.run_dir / "model.safetensors"

    def _rate_reset(self) -> None:
        self._rate_start, self._windows, self._waited = time.monotonic(), 0, 0.0

    def _rate(self) -> tuple[float, float]:
        """Training windows per second and the share of time spent waiting for batches, since
        the last log row."""
        elapsed = max(time.monotonic() - self._rate_start, 1e-9)
        return self._windows / elapsed, self._waited / elapsed

    def _on_signal(self, signum, frame) -> None:
        self.stop_requested = True

    def _loader(self, start: int):
        options = self.options
        if options.pool:
            pool = WindowPool.load_or_build(self.sources, self.window_config, size=options.pool, seed=options.seed,
                                            cache_dir=self.cache_dir or self.run_dir, log=self.log)
            dataset = PoolBatches(pool, batch=options.batch, seed=options.seed, length=options.steps)
        else:
            dataset = WindowBatches(self.sources, self.window_config, batch=options.batch, seed=options.seed,
                                    length=options.steps)
        kwargs = {}
        if options.workers > 0:
            kwargs = {"num_workers": options.workers, "prefetch_factor": 2, "multiprocessing_context": "fork",
                      "worker_init_fn": _ignore_signals}
        return torch.utils.data.DataLoader(dataset, batch_size=None, sampler=range(start, options.steps),
                                           pin_memory=self.device.type == "cuda", **kwargs)

    def _log_row(self, writer, step, phase, lr, losses, val_batches, start_time) -> list:
        rate, wait = self._rate() if losses else (None, None)
        scores = {}
        if val_batches:
            scores = self.validate(val_batches)
            for layer in self.diverged:
                self.warn(f"warning: step {step}: {layer.name} offsets average {layer.offset_mean:.0f} px on its "
                          f"{layer.feature_side}-px map (masks {layer.mask_spread:.2f} from 0.5): that alignment has "
                          "diverged")
        mean_loss = sum(losses) / len(losses) if losses else None

        def number(value: float | None, digits: int) -> str:
            return "" if value is None else f"{value:.{digits}f}"

        row = [step, phase.name, f"{lr:.3g}", number(mean_loss, 5),
               *(number(scores.get(name), 2) for name in VAL_OUTPUTS), f"{time.monotonic() - start_time:.0f}",
               number(rate, 2), number(wait, 3)]
        writer.writerow(row)
        if losses:
            self._rate_reset()
        if self.writer:
            if mean_loss is not None:
                self.writer.add_scalar("loss", mean_loss, step)
            self.writer.add_scalar("lr", lr, step)
            for name, value in scores.items():
                self.writer.add_scalar(f"val_psnr/{name}", value, step)
        return row


def _ignore_signals(worker_id: int) -> None:
    """Loader workers leave SIGINT/SIGTERM to the trainer, which stops them after a checkpoint."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
