"""Options shared by several subcommands."""

from __future__ import annotations

import click

debug_option = click.option(
    "--debug", is_flag=True, help="Show tracebacks on failure (for bug reports)."
)
