"""``facedeblur train``: train a registered model on sharp face videos and photos."""

from __future__ import annotations

from pathlib import Path

import click

from .options import debug_option

FOLDER = click.Path(file_okay=False, path_type=Path)


@click.command(name="train")
@click.option("--data", type=FOLDER, help="Folder of sharp face videos (tracked once, then cached).")
@click.option("--images", type=FOLDER, help="Folder of sharp face photos, used as pseudo-videos.")
@click.option("--model", "model_name", default="finenet-lite", show_default=True, help="Registered model to train.")
@click.option("--out", type=FOLDER, required=True, help="Run directory: checkpoints, log.csv, model.safetensors.")
@click.option("--steps", type=int, default=20000, show_default=True, help="Optimiser steps in all phases.")
@click.option("--batch", type=int, default=8, show_default=True, help="Training windows per step.")
@click.option("--lr", type=float, default=1e-4, show_default=True, help="Initial learning rate of each phase.")
@click.option("--lr-floor", type=float, default=0.01, show_default=True, help="Final rate of the cosine decay, relative.")
@click.option("--combine-share", type=float, default=0.1, show_default=True,
              help="Share of the steps that train FineNet's combination module (after the branches).")
@click.option("--sharp-share", type=float, default=None,
              help="Share of training windows whose centre frame stays sharp (default 0.2); more teaches "
                   "the model to leave sharp faces alone.")
@click.option("--clean-share", type=float, default=None,
              help="Share of training windows left without noise and compression (default 0): clean footage, "
                   "where a sharp face must come out unchanged.")
@click.option("--unchanged-weight", type=float, default=1.0, show_default=True,
              help="Loss weight of windows whose centre frame comes in sharp and clean, relative to the "
                   "others: above 1 trades restoration of ambiguous faces for leaving sharp ones alone.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--val-data", type=FOLDER,
              help="Folder of videos for the validation PSNR in the log (default: fixed windows of the training data).")
@click.option("--val-windows", type=int, default=64, show_default=True, help="Validation windows (0: none).")
@click.option("--val-every", type=int, default=250, show_default=True, help="Steps between validations.")
@click.option("--checkpoint-minutes", type=float, default=10.0, show_default=True, help="Wall time between checkpoints.")
@click.option("--workers", type=int, default=1, show_default=True, help="Data loader processes (0: in-process).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N (bf16 autocast on CUDA).")
@click.option("--threads", type=int, default=None, help="Torch CPU threads (default: all cores).")
@click.option("--cache", type=FOLDER, help="Face-track and window-pool cache (default: the user cache directory).")
@click.option("--max-frames", type=int, default=2000, show_default=True, help="Frames read per training video.")
@click.option("--init", "init", type=click.Path(exists=True, dir_okay=False),
              help="Start from this checkpoint instead of a fresh network: the same model (fine-tuning) or a "
                   "smaller one of its kind, widened with the same output (unet into unet-wide).")
@click.option("--offset-lr-scale", type=float, default=1.0, show_default=True,
              help="Learning-rate multiplier of the offset path (offset networks, heatmap encoder).")
@click.option("--offset-bound", type=float, default=None,
              help="Bound deformable offsets to this fraction of their feature map (default: the model's).")
@click.option("--deep-supervision", type=float, default=0.0, show_default=True,
              help="Weight of a training-only loss on each branch's deep features alone (0: off).")
@click.option("--pool", type=int, default=0, show_default=True,
              help="Synthesise this many windows once (cached) and draw every batch from them (0: on the fly).")
@click.option("--precision", type=click.Choice(["auto", "bf16", "fp32"]), default="auto", show_default=True,
              help="auto: bf16 autocast on CUDA and on CPUs with bf16 hardware (AMX, AVX512-BF16), else fp32.")
@click.option("--clip-grad", type=float, default=0.0, show_default=True, help="Largest gradient norm (0: no clipping).")
@click.option("--weight-decay", type=float, default=0.0, show_default=True, help="AdamW's decoupled weight decay.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--tensorboard", type=FOLDER, help="Also write TensorBoard scalars here (needs tensorboard).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or progress messages (warnings still print).")
@debug_option
def train(data, images, model_name, out, steps, batch, lr, lr_floor, combine_share, sharp_share, clean_share,
          unchanged_weight, seed, val_data, val_windows, val_every, checkpoint_minutes, workers, device, threads, cache, max_frames, init,
          offset_lr_scale, offset_bound, deep_supervision, pool, precision, clip_grad, weight_decay, resume, tensorboard,
          quiet, debug) -> None:
    """Train MODEL on windows synthesised from sharp face videos (--data) and photos (--images).

    Blur is synthesised on the fly, frame by frame; landmarks come from the blurred frames.
    Checkpoints are written every --checkpoint-minutes and on Ctrl-C; --resume continues.

    \b
    Example:
      facedeblur train --data clips/train --images images --model finenet-lite \\
          --out runs/lite --steps 4000
    """
    import os

    import torch

    from ..cachedir import user_cache_dir
    from ..errors import UsageError
    from ..models.registry import get_config
    from ..train.dataset import load_sources
    from ..train.loop import Trainer, TrainOptions

    if data is None and images is None:
        raise UsageError("give --data (face videos) and/or --images (face photos)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: no CUDA device is available to torch")
    config = get_config(model_name)
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    options = TrainOptions(model=model_name, steps=steps, batch=batch, lr=lr, lr_floor=lr_floor,
                           combine_share=combine_share, sharp_share=sharp_share, clean_share=clean_share,
                           unchanged_weight=unchanged_weight, seed=seed, val_windows=val_windows,
                           val_every=val_every, checkpoint_minutes=checkpoint_minutes, workers=workers, device=device,
                           threads=threads, init=init, offset_lr_scale=offset_lr_scale,
                           offset_bound=offset_bound, deep_supervision=deep_supervision, pool=pool,
                           precision=precision, clip_grad=clip_grad, weight_decay=weight_decay)

    def echo(message: str) -> None:
        click.echo(message, err=True)

    log = (lambda message: None) if quiet else echo
    cache_dir = cache or user_cache_dir() / "faces"
    sources = load_sources(data, images, cache_dir=cache_dir, crop_size=config.crop_size, max_frames=max_frames, log=log)
    val_sources = None
    if val_data is not None:
        val_sources = load_sources(val_data, None, cache_dir=cache_dir, crop_size=config.crop_size,
                                   max_frames=max_frames, log=log)
    trainer = Trainer(options, sources, out, val_sources=val_sources, tensorboard=tensorboard, log=log,
                      warn=echo, progress=not quiet, cache_dir=cache_dir / "pools")
    model_path = trainer.run(resume=resume)
    click.echo(f"model checkpoint: {model_path}", err=True)
