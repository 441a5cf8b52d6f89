"""``report.md`` (markdown tables) and ``results.json`` (every number) of an evaluation.

Scores are means over the frames of a clip (face metrics over the frames with a face), then
means over the scored clips. The gain is a model's face PSNR minus the blurred input's.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import get_args

import numpy as np

from ..errors import OutputError
from ..stats import paths_text
from ..train.degrade import BlurKind
from .blur_clip import EVAL_DEGRADE
from .metrics import PSNR_CEILING
from .runner import ClipResult, EvalOptions
from .sharp_faces import BOX_MARGIN

BLURRED = "blurred"
METRICS = ("face_psnr", "face_ssim", "frame_psnr")


def clip_means(result: ClipResult) -> dict[str, dict[str, float | None]]:
    """``{"blurred" or model: {metric: mean over frames}}`` for a scored clip."""
    return {BLURRED: result.blurred.means(), **{m: s.means() for m, s in result.models.items()}}


def overall_means(results: list[ClipResult], models: tuple[str, ...]) -> dict[str, dict[str, float | None]]:
    """Means over the scored clips, per source and metric."""
    scored = [clip_means(r) for r in results if r.skipped is None]
    table = {}
    for source in (BLURRED, *models):
        row = {}
        for metric in METRICS:
            values = [c[source][metric] for c in scored if c[source][metric] is not None]
            row[metric] = float(np.mean(values)) if values else None
        table[source] = row
    return table


INPUT_BINS = (30.0, 35.0, 40.0)
"""Edges (dB) of the blurred input's face PSNR for the gain-by-input table."""


def bin_label(index: int) -> str:
    edges = (None, *INPUT_BINS, None)
    lo, hi = edges[index], edges[index + 1]
    return f"< {hi:g} dB" if lo is None else (f">= {lo:g} dB" if hi is None else f"{lo:g}-{hi:g} dB")


def _pooled_gains(results: list[ClipResult], models: tuple[str, ...], labels: list[str], group_of) -> list[dict]:
    """Per-frame face PSNR gains pooled over the scored clips into the groups ``labels``;
    ``group_of(result, frame, blurred_psnr)`` names a frame's group. Per group: the frame
    count and each model's mean gain (None for an empty group)."""
    groups = {label: {"frames": 0, "gain": {m: [] for m in models}} for label in labels}
    for result in results:
        if result.skipped is not None:
            continue
        for frame, blurred in enumerate(result.blurred.face_psnr):
            if blurred is None:
                continue
            group = groups[group_of(result, frame, blurred)]
            group["frames"] += 1
            for model in models:
                group["gain"][model].append(result.models[model].face_psnr[frame] - blurred)
    return [{"frames": g["frames"], "gain": {m: (float(np.mean(v)) if v else None) for m, v in g["gain"].items()},
             "label": label} for label, g in groups.items()]


def gain_by_input(results: list[ClipResult], models: tuple[str, ...]) -> list[dict]:
    """Gains grouped by the blurred input's face PSNR (:data:`INPUT_BINS`): how a model does
    on heavily blurred faces and on nearly sharp ones. Each group: input, frames, gain."""
    labels = [bin_label(i) for i in range(len(INPUT_BINS) + 1)]
    groups = _pooled_gains(results, models, labels,
                           lambda _, __, blurred: labels[int(np.searchsorted(INPUT_BINS, blurred, side="right"))])
    return [{"input": g.pop("label"), **g} for g in groups]


BLUR_KINDS = get_args(BlurKind)
"""The degradation kinds a frame can get (``train.degrade``), in table order."""


def gain_by_kind(results: list[ClipResult], models: tuple[str, ...]) -> list[dict]:
    """Gains grouped by the degradation each frame got (sharp, motion kernel, frame average,
    Gaussian): whether a model leaves sharp faces alone and what it does per blur. Each group:
    kind, frames, gain."""
    groups = _pooled_gains(results, models, list(BLUR_KINDS), lambda result, frame, _: result.blur.draws[frame].kind)
    return [{"kind": g.pop("label"), **g} for g in groups]


def _group_table(title: str, key: str, groups: list[dict], models: tuple[str, ...]) -> str:
    lines = [f"| {title} | frames | " + " | ".join(f"{m} gain (dB)" for m in models) + " |",
             "|---|---:|" + "---:|" * len(models)]
    for group in groups:
        gains = " | ".join("n/a" if g is None else f"{g:+.2f}" for g in group["gain"].values())
        lines.append(f"| {group[key]} | {group['frames']} | {gains} |")
    return "\n".join(lines)


def gain_table(results: list[ClipResult], models: tuple[str, ...]) -> str:
    """Markdown table of :func:`gain_by_input`."""
    return _group_table("blurred face PSNR", "input", gain_by_input(results, models), models)


def kind_table(results: list[ClipResult], models: tuple[str, ...]) -> str:
    """Markdown table of :func:`gain_by_kind`."""
    return _group_table("degradation", "kind", gain_by_kind(results, models), models)


def clip_json(result: ClipResult) -> dict:
    entry = {"name": result.name, "frames": result.frames, "width": result.size[0], "height": result.size[1],
             "face_frames": result.face_frames, "no_face_frames": result.frames - result.face_frames,
             "skipped": result.skipped}
    if result.skipped is None:
        blur = result.blur
        entry["blur"] = {"kinds": blur.kinds(), "noise_sigma": blur.noise_sigma, "compression": blur.compression,
                         "per_frame": [{"kind": d.kind, "size": d.size} for d in blur.draws]}
        entry["scores"] = {BLURRED: result.blurred.to_json(), **{m: s.to_json() for m, s in result.models.items()}}
        entry["pipeline"] = result.pipeline
        entry["strip"] = result.strip
    return entry


def results_json(results: list[ClipResult], options: EvalOptions, *, data: Path) -> dict:
    return {
        "data": str(data),
        "options": dataclasses.asdict(options),
        "degrade": dataclasses.asdict(EVAL_DEGRADE),
        "face_box_margin": BOX_MARGIN,
        "psnr_ceiling_db": PSNR_CEILING,
        "mean": overall_means(results, options.models),
        "gain_by_input": gain_by_input(results, options.models),
        "gain_by_kind": gain_by_kind(results, options.models),
        "clips": [clip_json(r) for r in results],
    }


def gate_text(threshold: float | None) -> str:
    """``--blur-gate`` as the report states it."""
    return "of each model (its default)" if threshold is None else f"{threshold:g}"


def _cell(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _rows(means: dict[str, dict[str, float | None]], prefix: str = "") -> list[str]:
    base = means[BLURRED]["face_psnr"]
    rows = []
    for source, row in means.items():
        gain = None if source == BLURRED or base is None or row["face_psnr"] is None else row["face_psnr"] - base
        gain_text = "" if source == BLURRED else ("n/a" if gain is None else f"{gain:+.2f}")
        rows.append(f"| {prefix}{source} | {_cell(row['face_psnr'], 2)} | {gain_text} | {_cell(row['face_ssim'], 4)} | "
                    f"{_cell(row['frame_psnr'], 2)} |")
    return rows


TABLE_HEADER = "| source | face PSNR (dB) | gain (dB) | face SSIM | frame PSNR (dB) |\n|---|---:|---:|---:|---:|"


def mean_table(results: list[ClipResult], models: tuple[str, ...]) -> str:
    """The markdown table of the means over the scored clips."""
    return "\n".join([TABLE_HEADER, *_rows(overall_means(results, models))])


def face_paths_line(result: ClipResult) -> str:
    """What each model's face path did with the clip's faces, e.g. "finenet-lite: 120
    restored, 180 sharp", from the pipeline stats (models named as in the tables); empty when
    no model has a face path."""
    parts = []
    for model, stats in result.pipeline.items():
        paths = stats.get("face_paths") or {}
        if paths:
            parts.append(f"{model}: {paths_text(paths)}")
    return ("Faces per path: " + "; ".join(parts) + ".") if parts else ""


def markdown(results: list[ClipResult], options: EvalOptions, *, data: Path) -> str:
    """The report: settings, the mean table, then one table per clip."""
    scored = [r for r in results if r.skipped is None]
    lines = [
        "# facedeblur eval",
        "",
        f"Data: `{data}` ({len(scored)} of {len(results)} clips scored), first {options.max_frames} frames per clip, "
        f"seed {options.seed}, engine {options.engine}; blur: the training distribution"
        f"{' without noise or compression (--clean)' if options.clean else ''}, each frame "
        f"left sharp with p={EVAL_DEGRADE.p_sharp_center}; blur gate {gate_text(options.blur_gate)} "
        "(faces scoring below it pass through).",
        f"Face regions: 68-point boxes of the sharp frames (dlib), grown by {BOX_MARGIN:.0%} per side. "
        f"PSNR on RGB (capped at {PSNR_CEILING:.0f} dB), SSIM on BT.601 luma (Gaussian 11x11, sigma 1.5). "
        "Means over frames, then over clips. Gain: face PSNR minus the blurred input's.",
        "",
        f"## Mean over {len(scored)} clips",
        "",
        mean_table(results, options.models),
        "",
        "Gain by the blurred input's face PSNR (frames of all clips pooled):",
        "",
        gain_table(results, options.models),
        "",
        "Gain by the degradation each frame got (frames of all clips pooled):",
        "",
        kind_table(results, options.models),
    ]
    for result in results:
        lines += ["", f"## {result.name}", ""]
        if result.skipped is not None:
            lines.append(f"Skipped: {result.skipped} ({result.frames} frames).")
            continue
        blur = result.blur
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(blur.kinds().items()))
        lines += [
            f"{result.frames} frames ({result.size[0]}x{result.size[1]}), {result.face_frames} with a face, "
            f"{result.frames - result.face_frames} without (left out of face metrics). "
            f"Blur per frame: {kinds}; noise sigma {blur.noise_sigma:.4f}; compression: {blur.compression}.",
            "",
            TABLE_HEADER,
            *_rows(clip_means(result)),
        ]
        paths = face_paths_line(result)
        if paths:
            lines += ["", paths]
        if result.strip:
            lines += ["", f"![{result.name}]({result.strip})"]
    return "\n".join(lines) + "\n"


def write_report(out: Path, results: list[ClipResult], options: EvalOptions, *, data: Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``results.json`` into ``out``; their paths."""
    md, js = out / "report.md", out / "results.json"
    try:
        md.write_text(markdown(results, options, data=data), encoding="utf-8")
        js.write_text(json.dumps(results_json(results, options, data=data), indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write the report into {out}: {exc.strerror}") from exc
    return md, js
