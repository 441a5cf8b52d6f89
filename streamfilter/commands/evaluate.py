"""``facedeblur eval``: synthetic blur on sharp face clips, the full pipeline per model, scores."""

from __future__ import annotations

from pathlib import Path

import click

from .options import blur_gate_option, debug_option, engine_option
from .stream import configure_logging

EXAMPLES = """\b
Examples:
  facedeblur eval --data clips/val --model none --model identity --max-frames 60
  facedeblur eval --data clips/val --model finenet-lite --model runs/best.safetensors --out eval-lite -y
  facedeblur eval --data clips/val --model finenet-lite --model oracle:128 --blur-gate 0

\b
Writes OUT/report.md (tables), OUT/results.json (every number, per frame too) and
OUT/strips/CLIP.png (face crops: blurred | each model | sharp). The blurred clips depend only
on --seed, --max-frames and the clip names, so runs on different machines compare directly.
"""


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXAMPLES)
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of sharp face clips (its videos, not subfolders).")
@click.option("--model", "models", multiple=True, required=True,
              help="Model to evaluate (repeatable): none, identity, a registered name, a checkpoint, or oracle:S "
                   "(the sharp clip's own S-pixel face crops: the most a model of that crop size can gain).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("facedeblur-eval"), show_default=True,
              help="Folder for report.md, results.json and strips/.")
@engine_option
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Blur seed.")
@click.option("--max-frames", type=click.IntRange(min=1), default=150, show_default=True, help="Frames per clip, from the start.")
@blur_gate_option
@click.option("--strip-frames", type=click.IntRange(min=0), default=4, show_default=True, help="Rows of each clip's PNG strip.")
@click.option("--keep-videos", is_flag=True, help="Keep the lossless blurred clips and model outputs in OUT/videos.")
@click.option("--clean", is_flag=True, help="No sensor noise or compression: the same blur per frame, sharp frames "
                                            "left as the clean originals (what a model does to clean footage).")
@click.option("-y", "--overwrite", is_flag=True, help="Write into a non-empty --out.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or warnings (errors only).")
@debug_option
def evaluate(data: Path, models: tuple[str, ...], out: Path, engine: str, seed: int, max_frames: int,
             blur_gate: float, strip_frames: int, keep_videos: bool, clean: bool, overwrite: bool, quiet: bool,
             debug: bool) -> None:
    """Blur each clip of --data (fixed seed), run the full filter with each --model, and report
    face-region PSNR/SSIM and whole-frame PSNR against the sharp clip."""
    from ..evaluation.report import mean_table, write_report
    from ..evaluation.runner import EvalOptions, evaluate as run_evaluation

    configure_logging(quiet=quiet, verbose=False)
    options = EvalOptions(models=models, engine=engine, seed=seed, max_frames=max_frames, blur_gate=blur_gate,
                          strip_frames=strip_frames, keep_videos=keep_videos, clean=clean)
    results = run_evaluation(data, out, options, overwrite=overwrite, progress=not quiet)
    md, _ = write_report(out, results, options, data=data)
    click.echo(mean_table(results, options.models))
    if not quiet:
        click.echo(f"facedeblur eval: report in {md}", err=True)
