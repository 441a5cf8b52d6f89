"""Which arithmetic a training step uses: bf16 autocast where the hardware has it, else fp32.

``auto`` picks bf16 on CUDA and on CPUs whose flags show bf16 hardware (``amx_bf16`` or
``avx512_bf16`` in /proc/cpuinfo); elsewhere bf16 is emulated and slower than fp32. Under
autocast, convolutions and matrix products run in bf16 and everything else (losses, norms,
the deformable sampling positions) in fp32; the weights and the optimiser stay fp32.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Literal, get_args

import torch

from ..errors import UsageError

Precision = Literal["auto", "bf16", "fp32"]
PRECISIONS = get_args(Precision)
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def _cpuinfo(key: str) -> str:
    """The value of the first ``key`` line of /proc/cpuinfo ('' where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    for line in text.splitlines():
        if line.startswith(key):
            return line.split(":", 1)[1].strip()
    return ""


def cpu_flags() -> set[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo does not exist)."""
    return set(_cpuinfo("flags").split())


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ('' where unknown)."""
    return _cpuinfo("model name")


def resolve_precision(choice: str, device: torch.device) -> str:
    """'bf16' or 'fp32' for ``choice`` on ``device``."""
    if choice not in PRECISIONS:
        raise UsageError(f"precision must be auto, bf16 or fp32, got {choice!r}")
    if choice != "auto":
        return choice
    if device.type == "cuda":
        return "bf16"
    return "bf16" if cpu_flags() & set(BF16_FLAGS) else "fp32"


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """The autocast context of a resolved precision."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
