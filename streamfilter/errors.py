"""Error hierarchy. Every error the user can cause is a ``FaceDeblurError``.

The CLI turns these into one clean line on stderr and an exit code; anything else is a bug
and is reported as an internal error (with the traceback under ``--debug``).
"""

from __future__ import annotations


class FaceDeblurError(Exception):
    """Base class for all expected, user-facing failures."""

    exit_code = 1


class UsageError(FaceDeblurError, ValueError):
    """Bad option values or combinations (exit code 2)."""

    exit_code = 2


class InputError(FaceDeblurError, OSError):
    """The input cannot be opened, has no video stream, or is corrupt."""


class OutputError(FaceDeblurError, OSError):
    """The output cannot be opened, written, or finalised."""


class CodecError(FaceDeblurError, ValueError):
    """Unknown or unusable encoder, pixel format or container."""

    exit_code = 2


class ModelError(FaceDeblurError, RuntimeError):
    """A model, checkpoint or engine cannot be built, loaded or run."""


class WeightsMissingError(ModelError, FileNotFoundError):
    """Weights needed by a model or landmark backend are not on this machine."""


class StageError(FaceDeblurError, RuntimeError):
    """A pipeline stage failed; wraps the original exception as ``__cause__``."""

    def __init__(self, stage: str, error: BaseException):
        self.stage = stage
        self.error = error
        detail = error.args[0] if isinstance(error, FaceDeblurError) and error.args else f"{type(error).__name__}: {error}"
        super().__init__(f"{stage}: {detail}")
