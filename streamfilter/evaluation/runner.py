"""The evaluation run: for each clip of a folder, blur it, run the full pipeline per model, score.

Per clip:
1. decode the first ``max_frames`` frames (the sharp reference, RGB);
2. find the faces of the sharp frames (``sharp_faces``); a clip with no face is skipped;
3. blur it (``blur_clip``, generator seeded from ``seed`` and the clip's name) and write the
   blurred clip losslessly (FFV1, RGB);
4. for each model, run ``Pipeline`` (decode -> face stage -> model -> paste-back -> encode)
   from the blurred clip to a lossless FFV1 output, so the scores measure the model and the face
   path, not an encoder;
5. score the blurred clip and every output against the sharp frames (``scores``) and compose
   the strip of face crops (``strip``).

The lossless videos live in a temporary folder, or in ``OUT/videos`` with ``keep_videos``.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

import click
import numpy as np

from ..errors import InputError, UsageError
from ..factory import EngineName, ProcessorOptions, face_processor, make_processor
from ..faces.backend import make_backend
from ..faces.gate import BlurGate
from ..faces.types import LandmarkBackend
from ..io.folders import video_files
from ..io.sink import EncoderOptions
from ..pipeline import Pipeline
from ..processor import Processor
from ..progress import Progress
from .blur_clip import BlurredClip, blur_clip, clip_rng
from .clip_io import LOSSLESS_CODEC, LOSSLESS_PIX_FMT, Clip, decode_rgb, read_clip, write_lossless
from .oracle import OracleRestorer, oracle_crop_size
from .scores import SourceScores
from .sharp_faces import SharpFaces, find_sharp_faces
from .strip import compose, face_crop, strip_frames, write_png

log = logging.getLogger("streamfilter")

@dataclass(frozen=True, kw_only=True)
class EvalOptions:
    """models:       what ``--model`` takes (``none``, ``identity``, a registered name, a checkpoint,
                  ``oracle:S``: the sharp clip's own S-pixel crops, see :mod:`.oracle`)
    engine:       engine for every model
    seed:         blur seed (the blurred clips depend on it and on the clip names only)
    max_frames:   frames evaluated from the start of each clip
    blur_gate:    ``--blur-gate`` of the face path (0: every face restored; None: each model's
                  default, ``faces.gate.default_blur_gate``)
    strip_frames: rows of the PNG strip per clip (0: no strip)
    keep_videos:  keep the blurred clip and every model's output in OUT/videos
    clean:        no sensor noise or compression (``blur_clip``'s ``clean``): sharp frames
                  stay the clean originals
    """

    models: tuple[str, ...]
    engine: EngineName = "auto"
    seed: int = 0
    max_frames: int = 150
    blur_gate: float | None = None
    strip_frames: int = 4
    keep_videos: bool = False
    clean: bool = False

    def __post_init__(self) -> None:
        if not self.models:
            raise UsageError("give at least one --model")
        repeated = sorted({m for m in self.models if self.models.count(m) > 1})
        if repeated:
            raise UsageError(f"--model {repeated[0]!r} is given more than once")
        if self.engine not in get_args(EngineName):
            raise UsageError(f"--engine {self.engine!r} is not one of {', '.join(get_args(EngineName))}")
        if self.seed < 0:
            raise UsageError(f"--seed must be >= 0, got {self.seed}")
        if self.max_frames < 1:
            raise UsageError(f"--max-frames must be >= 1, got {self.max_frames}")
        if self.blur_gate is not None:
            BlurGate(self.blur_gate)
        if self.strip_frames < 0:
            raise UsageError(f"--strip-frames must be >= 0, got {self.strip_frames}")


@dataclass(eq=False)
class ClipResult:
    """Everything measured on one clip (``skipped`` says why a clip was not scored)."""

    name: str
    frames: int
    size: tuple[int, int]
    face_frames: int = 0
    blur: BlurredClip | None = None
    blurred: SourceScores = field(default_factory=SourceScores)
    models: dict[str, SourceScores] = field(default_factory=dict)
    pipeline: dict[str, dict] = field(default_factory=dict)
    strip: str | None = None
    skipped: str | None = None


def find_clips(data: Path) -> list[Path]:
    """The videos directly inside ``data``, sorted by name."""
    if not data.is_dir():
        raise UsageError(f"--data {data} is not a folder")
    return video_files(data, role="evaluation")


def check_out(out: Path, *, overwrite: bool) -> None:
    """Refuse a file, or a non-empty folder unless ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UsageError(f"--out {out} is not empty; pass -y/--overwrite to write into it")


def check_models(options: EvalOptions) -> None:
    """Build and release each model's processor once, so a bad model fails before any work."""
    for model in options.models:
        if oracle_crop_size(model) is None:
            make_processor(processor_options(model, options)).close()


def file_label(index: int, model: str) -> str:
    """A file-name-safe label for the ``index``-th model."""
    return f"{index}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', Path(model).name)}"


def processor_options(model: str, options: EvalOptions) -> ProcessorOptions:
    return ProcessorOptions(model=model, engine=options.engine, blur_gate=options.blur_gate)


def model_processor(model: str, options: EvalOptions, clip: Clip) -> Processor:
    """The pipeline's processor for ``model`` on ``clip`` (an oracle restores to its sharp frames)."""
    size = oracle_crop_size(model)
    if size is None:
        return make_processor(processor_options(model, options))
    return face_processor(OracleRestorer(clip.frames, size), processor_options(model, options))


def run_model(source: Path, target: Path, model: str, *, options: EvalOptions, clip: Clip, progress: bool,
              label: str) -> dict:
    """Run the full pipeline with ``model`` from ``source`` (``clip`` blurred) to a lossless ``target``; its stats."""
    pipeline = Pipeline.open(str(source), str(target), processor=model_processor(model, options, clip),
                             overwrite=True, encoder=EncoderOptions(codec=LOSSLESS_CODEC, pix_fmt=LOSSLESS_PIX_FMT))
    bar = Progress(len(clip.frames), enabled=progress, label=label)
    try:
        with pipeline:
            return pipeline.run(on_tick=bar.update).as_dict()
    finally:
        bar.close()


def score_video(path: Path, clip: Clip, faces: SharpFaces, picks: list[int]) -> tuple[SourceScores, list[np.ndarray]]:
    """Scores of the video at ``path`` against ``clip``, and its face crops at frames ``picks``."""
    scores, crops = SourceScores(), []
    count = 0
    for index, image in enumerate(decode_rgb(path)):
        if index >= len(clip.frames) or image.shape != clip.frames[index].shape:
            raise RuntimeError(f"{path.name}: frame {index} does not match the sharp clip ({image.shape})")
        scores.add(image, clip.frames[index], faces.regions[index])
        if index in picks:
            crops.append(face_crop(image, faces.regions[index][0]))
        count += 1
    if count != len(clip.frames):
        raise RuntimeError(f"{path.name} has {count} frames, the sharp clip {len(clip.frames)}")
    return scores, crops


def evaluate_clip(path: Path, options: EvalOptions, *, backend: LandmarkBackend, videos: Path, strips: Path,
                  progress: bool) -> ClipResult:
    """Blur, restore with every model and score one clip; videos go to ``videos``, the strip to ``strips``."""
    clip = read_clip(path, max_frames=options.max_frames)
    result = ClipResult(name=clip.name, frames=len(clip.frames), size=(clip.frames.shape[2], clip.frames.shape[1]))
    say = click.echo if progress else (lambda *_a, **_k: None)
    say(f"{clip.name}: {result.frames} frames, finding faces in the sharp frames", err=True)
    faces = find_sharp_faces(clip, backend)
    result.face_frames = faces.face_frames
    if not result.face_frames:
        result.skipped = "no face found in the sharp frames"
        log.warning("%s: skipped, %s", clip.name, result.skipped)
        return result
    say(f"{clip.name}: faces in {result.face_frames} frames; blurring (seed {options.seed})", err=True)
    result.blur = blur_clip(clip.frames, faces.blur_sizes(), rng=clip_rng(options.seed, clip.name),
                            clean=options.clean)
    blurred_path = videos / f"{clip.name}.blurred.mkv"
    write_lossless(blurred_path, result.blur.frames, like=clip)
    picks = strip_frames(faces, options.strip_frames)
    result.blurred, blurred_crops = score_video(blurred_path, clip, faces, picks)
    columns = [("blurred", blurred_crops)]
    for index, model in enumerate(options.models):
        target = videos / f"{clip.name}.{file_label(index, model)}.mkv"
        result.pipeline[model] = run_model(blurred_path, target, model, options=options, clip=clip,
                                           progress=progress, label=f"{clip.name} {model}")
        result.models[model], crops = score_video(target, clip, faces, picks)
        columns.append((Path(model).name, crops))
        if not options.keep_videos:
            target.unlink()
    if picks:
        columns.append(("sharp", [face_crop(clip.frames[i], faces.regions[i][0]) for i in picks]))
        strip_path = strips / f"{clip.name}.png"
        write_png(strip_path, compose(columns))
        result.strip = f"{strips.name}/{strip_path.name}"
    return result


def evaluate(data: Path, out: Path, options: EvalOptions, *, overwrite: bool = False,
             progress: bool = True) -> list[ClipResult]:
    """Evaluate every clip of ``data``; strips (and kept videos) go into ``out``."""
    clips = find_clips(data)
    check_out(out, overwrite=overwrite)
    check_models(options)
    strips = out / "strips"
    strips.mkdir(parents=True, exist_ok=True)
    backend = make_backend("dlib")
    results = []
    try:
        for number, path in enumerate(clips, 1):
            if progress:
                click.echo(f"[{number}/{len(clips)}] {path.name}", err=True)
            if options.keep_videos:
                videos = out / "videos"
                videos.mkdir(exist_ok=True)
                results.append(evaluate_clip(path, options, backend=backend, videos=videos, strips=strips,
                                             progress=progress))
                continue
            with tempfile.TemporaryDirectory(prefix="facedeblur-eval-") as tmp:
                results.append(evaluate_clip(path, options, backend=backend, videos=Path(tmp), strips=strips,
                                             progress=progress))
    finally:
        backend.close()
    if all(result.skipped for result in results):
        raise InputError(f"no face found in the first {options.max_frames} frames of any clip in {data}")
    return results
