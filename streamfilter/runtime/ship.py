"""``python -m streamfilter.runtime.ship [--check]``: (re)write the ONNX graphs shipped in the
package beside the default models' weights.

The default CPU filter runs on ONNX Runtime; with the graphs of the default models
(``DEFAULT_MODELS``) in ``streamfilter/weights/`` it needs neither an export nor PyTorch at
run time. Only those ship: the graphs hold the weights in float32, twice the fp16 checkpoint,
and the other shipped models are exported on first use as before. Each graph records the
sha256 of the weights file it came from (``runtime.graphs``), so a replaced weights file is
never run on old graphs; run this after replacing one (tests/test_shipped.py fails until
then). ``--check`` writes nothing and exits 1, one line per model, where the graphs are
missing or stale. Exporting needs the ``torch`` extra; checking does not.
"""

from __future__ import annotations

import sys

import click

from .build import DEFAULT_MODELS, shipped_weights
from .graphs import GraphPaths, graph_mismatch, shipped_graph_paths, shipped_metadata

SHIPPED_GRAPH_MODELS = tuple(sorted(set(DEFAULT_MODELS.values())))
"""The models whose graphs ship: the defaults, on every device."""


def problems() -> list[str]:
    """One line per model of ``SHIPPED_GRAPH_MODELS`` whose shipped graphs are missing or do
    not match its weights."""
    lines = []
    for name in SHIPPED_GRAPH_MODELS:
        weights = shipped_weights(name)
        paths = shipped_graph_paths(weights)
        problem = graph_mismatch(paths, weights) if paths.exist() else "its graphs are missing"
        if problem is not None:
            lines.append(f"{name}: {problem}")
    return lines


def ship(name: str) -> GraphPaths:
    """Export the shipped weights of ``name`` to its shipped graphs, recording the weights."""
    from ..models.checkpoint import load_checkpoint
    from ..models.registry import get_config
    from .export import write_graphs

    weights = shipped_weights(name)
    paths = shipped_graph_paths(weights)
    write_graphs(load_checkpoint(weights, expect=get_config(name)), paths, metadata=shipped_metadata(weights))
    return paths


@click.command()
@click.option("--check", is_flag=True, help="Write nothing; exit 1 where shipped graphs are missing or stale.")
def main(check: bool) -> None:
    """Write (or check) the ONNX graphs shipped beside the default models' weights."""
    if check:
        lines = problems()
        for line in lines:
            click.echo(line, err=True)
        sys.exit(1 if lines else 0)
    for name in SHIPPED_GRAPH_MODELS:
        paths = ship(name)
        sizes = ", ".join(f"{path.name} {path.stat().st_size / 1e6:.2f} MB" for path in (paths.frame, paths.window))
        click.echo(f"{name}: wrote {sizes}")


if __name__ == "__main__":
    from ..cli import run

    sys.exit(run(main, prog_name="python -m streamfilter.runtime.ship"))
