"""Mine a list of videos into an output folder and write ``mining.json``.

``mining.json`` holds the configuration and, per input, its frame count, the sharpness
threshold that applied, the kept segments (clip name, source frame range, mean motion,
detector agreement) and the rejection counts: frames by :data:`.select.FRAME_REASONS`,
candidate segments (and their frames) by :data:`.select.SEGMENT_REASONS`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import InputError, OutputError, UsageError
from ..faces.backend import make_backend
from .config import MiningConfig
from .scan import VideoScan, scan_video
from .select import SEGMENT_REASONS, Selection, select_segments
from .write import landmarks_name, write_segments

SUMMARY_NAME = "mining.json"


def check_inputs(videos: Sequence[Path]) -> None:
    """Raise ``InputError`` naming every input that is not a file."""
    if not videos:
        raise UsageError("no input videos given")
    missing = [str(p) for p in videos if not p.is_file()]
    if missing:
        raise InputError(f"input not found: {', '.join(missing)}")


def prepare_output(out: Path, *, overwrite: bool) -> None:
    """Create ``out``; refuse a non-empty one unless ``overwrite``, then remove the clips and
    landmark files a previous run listed in its ``mining.json`` (nothing else is touched)."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise UsageError(f"output folder {out} is not empty (use -y to write into it)")
        remove_previous(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out}: {exc.strerror}") from exc


def remove_previous(out: Path) -> None:
    summary = out / SUMMARY_NAME
    if not summary.is_file():
        return
    try:
        previous = json.loads(summary.read_text(encoding="utf-8"))
        clips = [segment["clip"] for entry in previous["inputs"] for segment in entry["kept"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise OutputError(f"cannot read the previous {summary} to replace its clips: {exc}") from exc
    for clip in clips:
        for name in (clip, landmarks_name(clip)):
            (out / Path(name).name).unlink(missing_ok=True)
    summary.unlink()


def unique_stems(videos: Sequence[Path]) -> list[str]:
    """File stems, with ``-2``, ``-3``, ... appended to repeats so clip names never collide."""
    seen: dict[str, int] = {}
    stems = []
    for path in videos:
        count = seen.get(path.stem, 0) + 1
        seen[path.stem] = count
        stems.append(path.stem if count == 1 else f"{path.stem}-{count}")
    return stems


def summarise(scan: VideoScan, selection: Selection, clips: list[str]) -> dict:
    """The ``mining.json`` entry of one input."""
    rejected = [s for s in selection.segments if s.reason is not None]
    return {
        "input": str(scan.path),
        "frames": len(scan.frames),
        "fps": round(float(scan.rate), 4),
        "sharpness_threshold": round(selection.sharpness_threshold, 2),
        "kept_frames": sum(s.frames for s in selection.kept),
        "kept": [
            {"clip": clip, "source_frames": [s.start, s.stop], "frames": s.frames, "track_id": s.track_id,
             "motion": round(s.motion, 5), "detector_agreement": round(s.agreement, 3)}
            for clip, s in zip(clips, selection.kept)
        ],
        "rejected_frames": selection.frame_reasons,
        "rejected_segments": {
            reason: {"segments": sum(s.reason == reason for s in rejected), "frames": sum(s.frames for s in rejected if s.reason == reason)}
            for reason in SEGMENT_REASONS
        },
    }


def mine_videos(
    videos: Sequence[Path],
    out: Path,
    *,
    config: MiningConfig | None = None,
    backend: str = "dlib",
    overwrite: bool = False,
    on_video: Callable[[Path, int], Callable[[int], None] | None] | None = None,
    on_result: Callable[[dict], None] | None = None,
) -> dict:
    """Mine every video into ``out``; returns (and writes) the ``mining.json`` document.

    ``on_video(path, index)`` may return a per-frame progress callback for that video;
    ``on_result(entry)`` receives each input's summary entry as soon as it is written.
    """
    config = config or MiningConfig()
    videos = [Path(v) for v in videos]
    check_inputs(videos)
    prepare_output(out, overwrite=overwrite)
    landmarks = make_backend(backend, min_face_size=config.min_face_size)
    entries: list[dict] = []
    document = {"config": dataclasses.asdict(config), "backend": backend, "inputs": entries}
    write_summary(out, document)
    try:
        for index, (path, stem) in enumerate(zip(videos, unique_stems(videos))):
            scan = scan_video(path, landmarks, config, on_frame=on_video(path, index) if on_video else None)
            selection = select_segments(scan, config)
            clips = write_segments(scan, selection.kept, out, stem, config)
            entries.append(summarise(scan, selection, clips))
            write_summary(out, document)
            if on_result is not None:
                on_result(entries[-1])
    finally:
        landmarks.close()
    return document


def write_summary(out: Path, document: dict) -> None:
    """(Re)write ``mining.json``; rewritten after every input, so an interrupted run still
    lists the clips it wrote (and ``-y`` can replace them)."""
    try:
        (out / SUMMARY_NAME).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {out / SUMMARY_NAME}: {exc.strerror}") from exc
