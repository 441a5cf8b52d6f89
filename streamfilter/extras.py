"""The optional ``torch`` extra (``pip install "facedeblur-stream[torch]"``) and the one-line
error where a command needs it but it is not installed.

The default filter (ONNX Runtime on the graphs shipped in the package) needs none of it; the
torch engine, ONNX export (so any model or checkpoint without shipped graphs), training,
``--landmarks fan``, ``facedeblur alignment`` and ``facedeblur models`` (FLOP counts) do.
"""

from __future__ import annotations

import importlib.util

from .errors import ModelError

TORCH_EXTRA_MODULES = frozenset({"torch", "onnx", "onnxscript", "onnx_ir", "safetensors", "face_alignment"})
"""Top-level modules that only the ``torch`` extra installs."""

INSTALL_HINT = 'pip install "facedeblur-stream[torch]" (see README, "Install", for the CPU build of torch)'


def require_torch(what: str) -> None:
    """``ModelError`` saying that ``what`` needs PyTorch, when it is not installed."""
    if importlib.util.find_spec("torch") is None:
        raise ModelError(f"{what} needs PyTorch, which is not installed: {INSTALL_HINT}")


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """The one-line error for an import of a module of the extra that failed (None for others)."""
    top = (exc.name or "").partition(".")[0]
    if top not in TORCH_EXTRA_MODULES:
        return None
    return f"this command needs {top}, which is not installed: {INSTALL_HINT}"
