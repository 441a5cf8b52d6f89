"""``facedeblur models``: every registered configuration with its size and cost."""

from __future__ import annotations

import json

import click

from .options import debug_option


@click.command(name="models")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@debug_option
def models(as_json: bool, debug: bool) -> None:
    """List model configurations: parameters, GMACs per output frame, crop size and radius.

    GMACs count one frame through the per-frame part plus one window through the per-window
    part (the streaming cost of one output frame), deformable convolutions included.
    """
    from ..models.cost import model_cost
    from ..models.registry import CONFIGS

    rows = []
    for name, config in CONFIGS.items():
        cost = model_cost(config)
        rows.append(
            {
                "name": name,
                "parameters": cost.parameters,
                "gmacs_per_output_frame": round(cost.gmacs_per_output_frame, 3),
                "frame_gmacs": round(cost.frame_gmacs, 3),
                "window_gmacs": round(cost.window_gmacs, 3),
                "crop_size": config.crop_size,
                "radius": config.radius,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    header = f"{'model':<20} {'params':>10} {'GMACs/frame':>12} {'crop':>6} {'radius':>6}"
    click.echo(header)
    click.echo("-" * len(header))
    for row in rows:
        click.echo(
            f"{row['name']:<20} {row['parameters'] / 1e6:>9.2f}M {row['gmacs_per_output_frame']:>12.2f} "
            f"{row['crop_size']:>6} {row['radius']:>6}"
        )
