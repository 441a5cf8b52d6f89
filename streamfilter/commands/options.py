"""Options shared by several subcommands."""

from __future__ import annotations

import math

import click

from ..faces.backend import BACKENDS
from ..faces.gate import DEFAULT_BLUR_GATE, MODEL_BLUR_GATES


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses nan and infinities (which it lets through)."""

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{number} is not a finite number.", param, ctx)
        return number


engine_option = click.option(
    "--engine", type=click.Choice(["auto", "torch", "onnxruntime"]), default="auto", show_default=True,
    help="auto: onnxruntime on the CPU, torch on CUDA (the TensorRT engine is not built yet).",
)

landmarks_option = click.option(
    "--landmarks", type=click.Choice(BACKENDS), default="dlib", show_default=True,
    help="Landmark backend: dlib (CPU, offline) or fan (face-alignment, needs the torch extra and its weights).",
)

debug_option = click.option(
    "--debug", is_flag=True, help="Show tracebacks on failure (for bug reports)."
)

blur_gate_option = click.option(
    "--blur-gate", type=FiniteFloatRange(min=0), default=None, metavar="SCORE",
    help="Restore only faces whose blur score (re-blur ratio, 0 sharp .. 1 no detail) reaches SCORE; "
         "sharper faces pass through untouched. 0 restores every face. Default: the model's own "
         f"threshold (unet-wide {MODEL_BLUR_GATES['unet-wide']:g}; {DEFAULT_BLUR_GATE:g} for FineNet; docs/blur-gate.md).",
)
