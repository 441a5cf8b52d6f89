"""Options shared by several subcommands."""

from __future__ import annotations

import click

from ..faces.gate import DEFAULT_BLUR_GATE

debug_option = click.option(
    "--debug", is_flag=True, help="Show tracebacks on failure (for bug reports)."
)

blur_gate_option = click.option(
    "--blur-gate", type=click.FloatRange(min=0), default=DEFAULT_BLUR_GATE, show_default=True, metavar="SCORE",
    help="Restore only faces whose blur score (re-blur ratio, 0 sharp .. 1 no detail) reaches SCORE; "
         "sharper faces pass through untouched. 0 restores every face.",
)
