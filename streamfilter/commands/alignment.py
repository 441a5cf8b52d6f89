"""``facedeblur alignment``: offsets, masks and landmark dependence of a model's alignment."""

from __future__ import annotations

from pathlib import Path

import click

from .options import debug_option

FOLDER = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command(name="alignment")
@click.option("--model", "model_name", required=True, help="A registered name (shipped weights) or a checkpoint.")
@click.option("--data", type=FOLDER, help="Folder of face videos to cut the windows from.")
@click.option("--images", type=FOLDER, help="Folder of face photos, used as pseudo-videos.")
@click.option("--windows", type=click.IntRange(min=2), default=16, show_default=True,
              help="Windows to run (batches of 16; rounded up).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the windows and their blur.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path),
              help="Face-track cache (default: the user cache directory, shared with train).")
@debug_option
def alignment(model_name: str, data: Path | None, images: Path | None, windows: int, seed: int, cache: Path | None,
              debug: bool) -> None:
    """Check a model's deformable alignment on training windows synthesised from --data / --images.

    Per deformable layer: mean and largest |offset| in pixels of its feature map, and how far
    its masks moved from 0.5 (0.5 = all saturated). Then the largest output change, in 8-bit
    levels, when the landmark heatmaps are zeroed (0: the model ignores its landmarks), and
    the mean output change when every reconstruction's deep features come from another window
    (0: nothing behind the full-resolution image path, alignment included, reaches the output).
    """
    from ..cachedir import user_cache_dir
    from ..errors import UsageError
    from ..models.alignment_stats import deep_feature_effect, deformable_layers, inspect_alignment
    from ..runtime.build import resolve_model
    from ..train.dataset import fixed_batches, load_sources
    from ..train.loop import centre_slice
    from ..train.windows import WindowConfig

    if data is None and images is None:
        raise UsageError("give --data (face videos) and/or --images (face photos)")
    model, _ = resolve_model(model_name)
    config = model.config
    if not deformable_layers(model):
        raise UsageError(f"{config.name!r} has no deformable alignment to inspect")
    sources = load_sources(data, images, cache_dir=cache or user_cache_dir() / "faces", crop_size=config.crop_size,
                           max_frames=2000, log=lambda message: click.echo(message, err=True))
    window_config = WindowConfig(crop_size=config.crop_size, heatmap_size=config.heatmap_size)
    batches = [(centre_slice(batch["crops"], config.radius), centre_slice(batch["heatmaps"], config.radius))
               for batch in fixed_batches(sources, window_config, count=windows, seed=seed)]
    layers, effect = inspect_alignment(model, batches)
    click.echo(f"{config.name}: {sum(len(crops) for crops, _ in batches)} windows of {data or images}")
    click.echo(f"{'layer':<32} {'map':>5} {'|offset| mean':>14} {'max':>9} {'|mask-0.5|':>11}")
    for layer in layers:
        flag = "  offsets beyond the map" if layer.beyond_map else ""
        click.echo(f"{layer.name:<32} {layer.feature_side:>5} {layer.offset_mean:>14.3f} {layer.offset_max:>9.2f} "
                   f"{layer.mask_spread:>11.4f}{flag}")
    click.echo(f"largest output change with the heatmaps zeroed: {effect:.4f} levels")
    deep = deep_feature_effect(model, batches)
    click.echo(f"mean output change: {deep.model_change:.4f} levels from the blurred input, "
               f"{deep.deep_change:.4f} with another window's deep features")
