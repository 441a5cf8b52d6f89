"""Build the processor that the pipeline runs from the user's model/engine/face options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import UsageError
from .faces.backend import BackendName
from .faces.gate import BlurGate, default_blur_gate
from .processor import Passthrough, Processor
from .restorer import IdentityRestorer, Restorer

EngineName = Literal["auto", "tensorrt", "torch", "onnxruntime"]


@dataclass(frozen=True, kw_only=True)
class ProcessorOptions:
    """What ``--model``, ``--engine``, ``--device``, ``--landmarks``, ``--max-faces``,
    ``--min-face-size`` and ``--blur-gate`` ask for. ``model`` is ``none`` (frames pass through
    untouched, no face work), ``auto`` (the trained weights shipped for the device), a
    registered name, a checkpoint path or ``identity`` (full face path, no network).
    ``blur_gate`` None is the model's own default threshold (``gate.default_blur_gate``)."""

    model: str = "auto"
    engine: EngineName = "auto"
    device: str = "cpu"
    landmarks: BackendName = "dlib"
    max_faces: int = 4
    min_face_size: int = 40
    blur_gate: float | None = None

    def __post_init__(self) -> None:
        if self.max_faces < 1:
            raise UsageError(f"--max-faces must be >= 1, got {self.max_faces}")
        if self.min_face_size < 1:
            raise UsageError(f"--min-face-size must be >= 1, got {self.min_face_size}")
        if self.blur_gate is not None:
            BlurGate(self.blur_gate)


def face_processor(restorer: Restorer, options: ProcessorOptions) -> Processor:
    """The face path (tracking, crops, heatmaps, paste-back) around ``restorer``, with the
    landmark backend, ``max_faces``, ``min_face_size`` and blur gate of ``options``."""
    from .faces.backend import make_backend
    from .faces.processor import FaceProcessor
    from .faces.tracker import TrackerConfig

    backend = make_backend(options.landmarks, min_face_size=options.min_face_size, device=options.device)
    config = TrackerConfig(max_faces=options.max_faces, min_face_size=options.min_face_size)
    config_name = getattr(getattr(restorer, "config", None), "name", None)
    threshold = default_blur_gate(config_name) if options.blur_gate is None else options.blur_gate
    return FaceProcessor(restorer, backend=backend, tracker=config, gate=BlurGate(threshold),
                         windows_in_flight=restorer.concurrency)


def make_processor(options: ProcessorOptions) -> Processor:
    """Return the processor for ``options``: passthrough, the face path with no network, or the
    face path around the network engine for a registered model name or checkpoint path.
    Raises ``ModelError`` for an unknown model or unavailable engine."""
    if options.model == "none":
        return Passthrough()
    if options.model == "identity":
        return face_processor(IdentityRestorer(), options)
    from .runtime.build import build_restorer

    return face_processor(build_restorer(options.model, options.engine, options.device), options)
