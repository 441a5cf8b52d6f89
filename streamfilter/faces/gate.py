"""Blur-aware gating: the network restores only the faces blurred enough to gain from it.

A restoration network leaves a small residual on every face it touches; on a sharp face that
residual is pure loss. ``BlurGate`` scores each face's centre crop with
:func:`..sharpness.blur_score` and passes faces below the threshold through untouched (their
pixels stay the decoded ones).

Each shipped model's default threshold (``MODEL_BLUR_GATES``) was set on the three held-out
training clips with that model, never on ``val/``, from its mean gain against the threshold
(docs/blur-gate.md has the tables; ``docs/gate_sweep.py`` makes them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    import numpy as np

DEFAULT_BLUR_GATE = 0.125
"""The threshold of a model without one of its own in ``MODEL_BLUR_GATES``."""

MODEL_BLUR_GATES = {"unet-wide": 0.04, "unet": 0.06, "finenet-lite": 0.125, "finenet": 0.125}
"""Each shipped model's default threshold, set on the held-out training clips with that model
(docs/blur-gate.md); a checkpoint gets the threshold of the configuration it was trained from."""


def default_blur_gate(model: str | None) -> float:
    """The default threshold for the configuration named ``model`` (None: no network)."""
    return MODEL_BLUR_GATES.get(model or "", DEFAULT_BLUR_GATE)

RESTORED = "restored"
"""Path of a face the network restored."""

SHARP = "sharp"
"""Path of a face the gate found sharp enough to pass through."""

LATE = "late"
"""Path of a blurred face left unrestored because its live frame was running out of time."""

NON_FINITE = "non_finite"
"""Path of a face the network restored to NaN or infinite values: it keeps its decoded pixels."""


@dataclass(frozen=True)
class BlurGate:
    """Restore a face when its centre crop's ``blur_score`` reaches ``threshold``.

    ``threshold`` 0 restores every face (no score computed); above 1 none.
    """

    threshold: float = DEFAULT_BLUR_GATE

    def __post_init__(self) -> None:
        if not self.threshold >= 0:
            raise UsageError(f"--blur-gate must be >= 0, got {self.threshold}")

    def path(self, crop: np.ndarray) -> str:
        """``RESTORED`` or ``SHARP`` for an (S, S, 3) uint8 RGB centre crop."""
        from ..sharpness import blur_score  # OpenCV: imported once a face is scored, not with the CLI

        if self.threshold == 0 or blur_score(crop) >= self.threshold:
            return RESTORED
        return SHARP
