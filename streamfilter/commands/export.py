"""``facedeblur export``: write a model's per-frame and per-window ONNX graphs."""

from __future__ import annotations

from pathlib import Path

import click

from .options import debug_option


@click.command(name="export")
@click.option("--model", "model_name", required=True, help="Registered model name (see 'facedeblur models').")
@click.option(
    "--weights",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Checkpoint (.safetensors) to export; its configuration must match --model.",
)
@click.option("-y", "--overwrite", is_flag=True, help="Replace existing output files.")
@debug_option
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def export(model_name: str, weights: Path | None, overwrite: bool, debug: bool, out: Path) -> None:
    """Export MODEL to ONNX (opset 19, DeformConv) as two graphs beside OUT.

    OUT.onnx becomes OUT.frame.onnx (per-frame part: crops, heatmaps -> pyramid features) and
    OUT.window.onnx (per-window part: crops and stacked features of 2r+1 frames -> restored
    frame), both with a dynamic faces axis. Without --weights the network is randomly
    initialised (useful for benchmarks and tests only).
    """
    from ..errors import OutputError
    from ..models.checkpoint import load_checkpoint
    from ..models.registry import build_model, get_config
    from ..runtime.export import export_onnx, graph_paths

    config = get_config(model_name)
    paths = graph_paths(out)
    for path in (paths.frame, paths.window):
        if path.exists() and not overwrite:
            raise click.UsageError(f"{path} exists; pass -y/--overwrite to replace it")
    if not paths.frame.parent.is_dir():
        raise OutputError(f"output directory does not exist: {paths.frame.parent}")
    model = load_checkpoint(weights, expect=config) if weights is not None else build_model(config, seed=0)
    export_onnx(model, out)
    click.echo(f"wrote {paths.frame} and {paths.window}")
