"""Console entry points: ``facedeblur-stream`` and the ``facedeblur`` command group.

Each subcommand lives in its own module under ``streamfilter.commands`` and is imported only
when invoked, so ``facedeblur models`` does not pay for PyAV or dlib start-up and a missing
optional dependency only affects the command that needs it.
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click

from .errors import FaceDeblurError
from .extras import missing_extra
from .io.locations import redact

SUBCOMMANDS = {
    "stream": ("streamfilter.commands.stream:stream", "Deblur faces in a video stream (same as facedeblur-stream)."),
    "landmarks": ("streamfilter.commands.landmarks:landmarks", "Run the face stage; write landmarks JSON or a drawing."),
    "models": ("streamfilter.commands.models:models", "List model configurations with size and cost."),
    "export": ("streamfilter.commands.export:export", "Export a model to ONNX."),
    "train": ("streamfilter.commands.train:train", "Train a model on sharp face videos."),
    "eval": ("streamfilter.commands.evaluate:evaluate", "Evaluate models end to end on synthetically blurred clips."),
    "alignment": ("streamfilter.commands.alignment:alignment",
                  "Check a model's deformable offsets and whether it uses its landmarks."),
    "mine": ("streamfilter.commands.mine:mine", "Mine training clips of sharp moving faces from videos."),
}


def load_command(name: str) -> click.Command:
    module_name, attr = SUBCOMMANDS[name][0].split(":")
    return getattr(importlib.import_module(module_name), attr)


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        try:
            return load_command(cmd_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("streamfilter.commands"):
                raise click.UsageError(f"'facedeblur {cmd_name}' is not available in this version") from exc
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, short) for name, (_, short) in sorted(SUBCOMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="facedeblur-stream")
def facedeblur() -> None:
    """Face video deblurring: streaming filter, training, evaluation and tooling."""


def run(command: click.Command, args: list[str] | None = None, prog_name: str | None = None) -> int:
    """Run a click command with the project's error contract.

    Exit 0 on success, 1 on a runtime failure, 2 on a usage error. Failures print one line on
    stderr (click's usage errors too, and a module of the optional ``torch`` extra that is not
    installed), with the secrets of URLs masked (``redact``); ``--debug`` anywhere on the
    command line adds the traceback.
    """
    args = list(sys.argv[1:] if args is None else args)
    debug = "--debug" in args
    try:
        command.main(args=args, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("facedeblur: aborted", err=True)
        return 1
    except click.ClickException as exc:
        if debug:
            traceback.print_exc()
        ctx = exc.ctx if isinstance(exc, click.UsageError) else None
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        click.echo(f"error: {redact(exc.format_message())}{hint}", err=True)
        return exc.exit_code
    except FaceDeblurError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {redact(str(exc))}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("facedeblur: interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI edge: report, never dump a traceback by default
        if debug:
            traceback.print_exc()
        extra = missing_extra(exc) if isinstance(exc, ModuleNotFoundError) else None
        if extra is not None:
            click.echo(f"error: {extra}", err=True)
        else:
            click.echo(f"internal error: {type(exc).__name__}: {redact(str(exc))} (rerun with --debug for details)",
                       err=True)
        return 1
    return 0


def stream_main() -> None:
    sys.exit(run(load_command("stream"), prog_name="facedeblur-stream"))


def facedeblur_main() -> None:
    sys.exit(run(facedeblur, prog_name="facedeblur"))
