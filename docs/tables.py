"""The benchmark tables of README.md, MODEL_CARD.md and docs/*.md, written from bench/results/*.json.

A generated table sits between the lines ``<!-- generated: NAME -->`` and ``<!-- /generated -->``,
where NAME is a results file's stem (``realtime`` reads bench/results/realtime.json) or
``eval-REPORT`` for the pair of ``facedeblur eval`` reports ``docs/eval/REPORT-default.json``
(default settings) and ``REPORT-all.json`` (``--blur-gate 0``); everything between the
markers is rewritten, everything outside them is left alone.

    python docs/tables.py           rewrite every generated block
    python docs/tables.py --check   exit 1, one line per block that differs from its JSON
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
EVAL_REPORTS = ROOT / "docs" / "eval"
DOCUMENTS = (ROOT / "README.md", ROOT / "MODEL_CARD.md", *sorted((ROOT / "docs").glob("*.md")))
START = re.compile(r"^<!-- generated: ([\w-]+) -->$", re.M)
BLOCK = re.compile(r"^<!-- generated: (?P<name>[\w-]+) -->\n(?P<body>.*?)^<!-- /generated -->$", re.M | re.S)


def fixed(value: float, digits: int) -> str:
    """``value`` with ``digits`` decimals, rounded half up from its JSON text (0.305 -> 0.31)."""
    return str(Decimal(str(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def spread(values: list[float], digits: int) -> str:
    """``min-max`` of ``values``, ``digits`` decimals."""
    return f"{fixed(min(values), digits)}-{fixed(max(values), digits)}"


def machine(result: dict) -> str:
    """The machine a result was measured on: its CPU model where recorded, and its CPU count."""
    info = result["machine"]
    cpus = f"{info.get('cpu_count', info.get('cpus'))} CPUs"
    return f"{info['cpu']}, {cpus}" if info.get("cpu") else cpus


def table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """A markdown table; its first ``left`` columns are left-aligned, the others right-aligned."""
    rule = "|".join(["---"] * left + ["---:"] * (len(header) - left))
    lines = ["|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|" for cells in (header, *rows)]
    return "\n".join([lines[0], f"|{rule}|", *lines[1:]]) + "\n"


def realtime(result: dict) -> str:
    """fps and ratio to the plain transcode per clip and variant, faces the default restored."""
    runs = result["results"]
    repeats = len(next(iter(runs.values()))["fps_runs"]["plain"])
    header = [f"fps (ratio to plain), {machine(result)}, best of {repeats}", "plain transcode", "`--model none`",
              "default", "`--blur-gate 0`", "faces restored by default"]
    rows = []
    for clip, run in runs.items():
        fps, ratio = run["fps"], run["ratio_to_plain"]
        cells = [fixed(fps["plain"], 1)] + [f"{fixed(fps[v], 1)} ({fixed(ratio[v], 2)})" if v in fps else ""
                                            for v in ("none", "default", "every_face")]
        paths = run["face_paths"]["default"]
        rows.append([clip.replace("_blurred", " blurred copy"), *cells,
                     f"{paths.get('restored', 0)} of {sum(paths.values())}"])
    return table(header, rows)


def windows_per_s(value: float) -> str:
    """Training rate: one decimal, two below 1 window/s."""
    return fixed(value, 1 if value >= 1 else 2)


def train(result: dict) -> str:
    """Training windows/s of both paths per model, then the bf16 exactness run."""
    models = result["models"]
    pool_key = next(k for k in next(iter(models.values()))["windows_per_hour"] if k != "reference")
    pool = int(pool_key.rsplit("_", 1)[1])
    header = [f"model ({machine(result)}, {result['machine']['threads']} threads, {result['date']})",
              "reference windows/s", "fast windows/s", "speedup", f"per hour, with a {pool:,}-window pool built first"]
    rows = [[name, windows_per_s(m["windows_per_s"]["reference"]), windows_per_s(m["windows_per_s"]["fast"]),
             f"{fixed(m['speedup'], 2)}x", f"{fixed(m['speedup_per_hour'], 2)}x"] for name, m in models.items()]
    parts = [table(header, rows)]
    for name, m in models.items():
        exact = m.get("exactness")
        if exact is None or "note" in exact:
            continue
        fast = m["fast_precision"]
        losses = {p: exact[p]["losses"] for p in ("fp32", fast)}
        parts.append(table(
            [f"exactness: {name}, {exact['steps']} steps", "fp32", fast, "difference"],
            [[f"mean loss of the {len(losses['fp32'])} logged spans: first / last",
              *(f"{v[0]} / {v[-1]}" for v in losses.values()),
              f"at most {fixed(100 * exact['largest_loss_difference'], 2)} %"],
             [f"validation PSNR (input {fixed(exact['fp32']['val_input'], 2)} dB)",
              *(f"{fixed(exact[p]['val_psnr'], 2)} dB" for p in ("fp32", fast)),
              f"{fixed(exact['val_psnr_difference_db'], 2)} dB"]]))
    return "\n".join(parts)


def models(result: dict) -> str:
    """Per-output-frame latency of every configuration through torch and ONNX Runtime."""
    header = [f"model ({machine(result)}, {result['threads']} threads)", "crop (px)", "params", "GMACs/frame",
              "torch frame / window / total ms", "ORT frame / window / total ms", "torch/ORT"]
    rows = []
    for r in result["results"]:
        t, o = r["torch_ms"], r["onnxruntime_ms"]
        rows.append([r["model"], str(r["crop_size"]), f"{fixed(r['parameters'] / 1e6, 2)}M",
                     fixed(r["gmacs_per_output_frame"], 2),
                     " / ".join(fixed(t[k], 1) for k in ("frame", "window", "total")),
                     " / ".join(fixed(o[k], 1) for k in ("frame", "window", "total")),
                     fixed(r["torch_over_onnxruntime"], 2)])
    return table(header, rows, left=len(header))


PIPELINE_VARIANTS = {
    "none": "`--model none`",
    "landmarks_only": "landmark stage alone (frames passed through)",
    "identity": "`--model identity`",
    "paste": "identity, plus paste-back of a changed face",
}


def kept(measure: dict) -> list[str]:
    """Two-thread speed-up and GIL-free share of one ``gil`` measurement (about 2 and 1: GIL released)."""
    return [f"{fixed(measure['speedup'], 2)}x", f"{fixed(100 * measure['gil_free_share'], 0)} %"]


def landmarks(result: dict) -> str:
    """The pipeline with the face stage against ``--model none``, then the face stage's parts."""
    pipeline, gil, face = result["pipeline"], result["gil"], result["per_face"]
    rounds = len(pipeline["runs_s"]["none"])
    rows = []
    for name, label in PIPELINE_VARIANTS.items():
        ratios = pipeline["ratios_per_round"].get(f"{name}_over_none")
        rows.append([label, fixed(pipeline[f"{name}_fps"], 1),
                     f"{spread(ratios, 2)} ({fixed(statistics.median(ratios), 2)})" if ratios else "",
                     fixed(pipeline["cpu_ms_per_frame"][name], 1), fixed(pipeline["cores_busy"][name], 2)])
    parts = [table([f"pipeline, {result['resolution']}, {machine(result)}", f"fps (best of {rounds})",
                    "ratio to `--model none` per round: range (median)", "CPU ms per frame", "cores busy"], rows)]
    dlib = result["landmarks"]["dlib"]
    parts.append(table(
        [f"face stage part, {machine(result)}", "ms", "two threads over one", "spinning thread's progress kept"],
        [[f"dlib tracking, per frame (detection every {dlib['detect_every']} frames)", fixed(1000 / dlib["fps"], 2),
          "", ""],
         ["dlib's HOG detector, 720p luma", "", *kept(gil["dlib_detector_720p_luma"])],
         ["dlib's shape predictor, one face", fixed(gil["dlib_shape_predictor"]["ms_per_face"], 2),
          *kept(gil["dlib_shape_predictor"])],
         ["`faces/shape_cascade.py` (the same predictor), one face", fixed(gil["shape_cascade"]["ms_per_face"], 2),
          *kept(gil["shape_cascade"])],
         ["heatmaps, 68 x 64 x 64 (threads: 8 faces at once)", fixed(face["heatmaps_68x64x64_ms"], 2),
          *kept(gil["numba_heatmaps_8x68x64x64"])],
         [f"crop, {face['crop_box_side_px']}-pixel box to 256 x 256", fixed(face["crop_256_ms"], 2), "", ""],
         ["paste-back into the RGB frame", fixed(face["paste_back_ms"], 2), "", ""],
         ["paste-back into RGB, then the frame to yuv420p", fixed(face["paste_rgb_frame_then_yuv420p_ms"], 2), "", ""],
         ["paste-back into the decoded yuv420p planes", fixed(face["paste_into_yuv420p_planes_ms"], 2), "", ""]]))
    return "\n".join(parts)


def passthrough(result: dict) -> str:
    """``--model none`` against the plain PyAV loop per resolution."""
    runs = result["results"]
    first = next(iter(runs.values()))
    header = [f"{first['frames']} frames, {machine(result)}, best of {len(first['plain_fps_runs'])}",
              "plain PyAV loop fps", "`--model none` fps", "ratio"]
    rows = [[f"{name} ({r['width']}x{r['height']})", fixed(r["plain_fps"], 1), fixed(r["pipeline_fps"], 1),
             fixed(r["ratio"], 2)] for name, r in runs.items()]
    return table(header, rows)


def soak(result: dict) -> str:
    """Resident memory over the looped stream (the first sample, minute 1 to the middle, the middle
    to the end) and the objects Python holds."""
    run = result["soak"]
    minutes = run["minutes"]
    samples = run["samples_s_mb_frames"]
    objects = run["python_objects_every_30_s"]
    rows = [["frames, mean rate", f"{run['frames']} at {fixed(run['mean_fps'], 1)} fps"],
            [f"resident memory after {samples[0][0]:g} s", f"{fixed(samples[0][1], 1)} MB"]]
    for start, stop in ((1, minutes / 2), (minutes / 2, minutes)):
        mb = [m for s, m, _ in samples if 60 * start < s <= 60 * stop]
        rows.append([f"resident memory, minute {start:g} to {stop:g}: range (mean)",
                     f"{spread(mb, 1)} MB ({fixed(statistics.fmean(mb), 1)})"])
    trend = run["rss_trend_mb_per_minute_after_first"]
    rows += [["least-squares trend after the first minute", f"{'+' * (trend >= 0)}{fixed(trend, 1)} MB per minute"],
             ["largest resident memory", f"{fixed(run['rss_mb_max'], 1)} MB"],
             ["frame slots / decoded frames held (every 30 s)",
              f"{spread([o['FrameSlot'] for o in objects], 0)} / {spread([o['VideoFrame'] for o in objects], 0)}"],
             ["objects the garbage collector tracks, first / last count",
              f"{objects[0]['tracked']} / {objects[-1]['tracked']}"]]
    return table([f"{minutes:g}-minute soak, model on every face, {machine(result)}", "measured"], rows)


def startup(result: dict) -> str:
    """Median wall time and peak memory of fresh processes per case."""
    names = {"default": "default filter", "none": "`--model none`", "help": "`--help`",
             "missing_input": "a missing input (exit 1, one line)"}
    clip = result["clip"]
    rows = []
    for name, label in names.items():
        cases = result["runs"][name]
        rows.append([label, fixed(result["median_wall_s"][name], 2),
                     spread([case["wall_s"] for case in cases], 2),
                     fixed(statistics.median(case["peak_rss_mb"] for case in cases), 0)])
    rows.append(["default minus `--model none` (median of the rounds)", fixed(result["default_minus_none_s"], 2),
                 "", ""])
    header = [f"{clip['frames']} frames of {clip['width']}x{clip['height']}, {machine(result)}, "
              f"{result['repeats']} rounds", "median s", "range s", "peak MB"]
    return table(header, rows)


RENDERERS: dict[str, Callable[[dict], str]] = {
    "realtime": realtime, "train": train, "models": models, "landmarks": landmarks, "passthrough": passthrough,
    "soak": soak, "startup": startup,
}


def signed(value: float) -> str:
    """A gain in dB: two decimals with its sign."""
    return f"{'+' * (value >= 0)}{fixed(value, 2)}"


def evaluation(default: dict, every_face: dict) -> str:
    """One model's ``facedeblur eval`` reports with its default settings and on every face: per
    clip and mean, then the gain by degradation kind and by the blurred input's face PSNR."""
    (model,) = default["options"]["models"]
    gate = default["options"]["blur_gate"]
    header = ["clip", "blurred face PSNR (dB)", f"default ({'its gate' if gate is None else f'gate {gate:g}'})",
              "every face (`--blur-gate 0`)", "faces restored (default)", "face SSIM, blurred → default"]
    rows = []
    for clip, other in zip(default["clips"], every_face["clips"], strict=True):
        before = clip["scores"]["blurred"]["mean"]
        paths = clip["pipeline"][model]["face_paths"]
        rows.append([clip["name"].rsplit(".", 1)[0], fixed(before["face_psnr"], 2),
                     f"{signed(clip['scores'][model]['mean']['face_psnr'] - before['face_psnr'])} dB",
                     f"{signed(other['scores'][model]['mean']['face_psnr'] - before['face_psnr'])} dB",
                     f"{paths.get('restored', 0)} of {sum(paths.values())}",
                     f"{fixed(before['face_ssim'], 4)} → {fixed(clip['scores'][model]['mean']['face_ssim'], 4)}"])
    before = default["mean"]["blurred"]["face_psnr"]
    rows.append(["mean", fixed(before, 2), f"**{signed(default['mean'][model]['face_psnr'] - before)} dB**",
                 f"{signed(every_face['mean'][model]['face_psnr'] - before)} dB", "", ""])
    parts = [table(header, rows)]
    for key, label in (("gain_by_kind", "kind"), ("gain_by_input", "input")):
        pairs = zip(default[key], every_face[key], strict=True)
        parts.append(table([f"{'degradation' if label == 'kind' else 'blurred face PSNR'} (frames of all clips)",
                            "frames", "default", "every face"],
                           [[a[label], str(a["frames"]), signed(a["gain"][model]), signed(b["gain"][model])]
                            for a, b in pairs]))
    return "\n".join(parts)


def load_results(folder: Path = RESULTS) -> dict[str, dict]:
    """Every results file of ``folder``, by stem."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def render(name: str, results: dict[str, dict]) -> str:
    """The body of the ``name`` block."""
    if name.startswith("eval-"):
        report = name.removeprefix("eval-")
        return evaluation(*(json.loads((EVAL_REPORTS / f"{report}-{side}.json").read_text())
                            for side in ("default", "all")))
    if name not in RENDERERS:
        raise ValueError(f"no table is generated under the name {name!r} (known: {', '.join(RENDERERS)})")
    return RENDERERS[name](results[name])


def blocks(text: str) -> list[re.Match]:
    """The generated blocks of ``text``; a start marker without its end is an error."""
    found = list(BLOCK.finditer(text))
    if len(found) != len(START.findall(text)):
        raise ValueError("a '<!-- generated: NAME -->' marker has no '<!-- /generated -->' after it")
    return found


def regenerate(text: str, results: dict[str, dict]) -> str:
    """``text`` with every generated block rewritten from ``results``."""
    blocks(text)
    return BLOCK.sub(lambda m: f"<!-- generated: {m['name']} -->\n{render(m['name'], results)}<!-- /generated -->",
                     text)


def stale(text: str, results: dict[str, dict]) -> list[str]:
    """Names of the blocks of ``text`` that differ from what ``results`` gives."""
    return [m["name"] for m in blocks(text) if m["body"] != render(m["name"], results)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale blocks and exit 1 instead of rewriting")
    args = parser.parse_args()
    results = load_results()
    failed = False
    for document in DOCUMENTS:
        text = document.read_text()
        where = document.relative_to(ROOT)
        if args.check:
            for name in stale(text, results):
                print(f"{where}: the '{name}' table differs from bench/results/{name}.json; "
                      "run python docs/tables.py", file=sys.stderr)
                failed = True
        elif (new := regenerate(text, results)) != text:
            document.write_text(new)
            print(f"rewrote {where}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
