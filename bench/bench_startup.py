"""Start-up benchmark: what a user waits for before and around the frames.

Each case runs the installed ``facedeblur-stream`` in a fresh process, as a user would, and
records its wall time and peak resident memory (``wait4``):

- ``default`` and ``none``: the default CPU filter and ``--model none`` on the same 30-frame
  720p clip of a real face (from ``--clip``, scaled to fit and padded, H.264), alternated
  ``--repeats`` times; ``default_minus_none_s`` is the median of the per-round differences.
- ``help``: ``facedeblur-stream --help``.
- ``missing_input``: an input path that does not exist (must fail with exit 1 and one line).

Writes bench/results/startup.json (a README table is generated from it by docs/tables.py).

    python bench/bench_startup.py [--clip ../shared/data/clips/train/dpe_d.mp4] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "startup.json"
DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "clips" / "train" / "dpe_d.mp4"
WIDTH, HEIGHT, FRAMES = 1280, 720, 30


def make_clip(source: Path, path: Path) -> None:
    """The first FRAMES frames of ``source``, scaled to fit WIDTH x HEIGHT and padded, H.264."""
    with av.open(str(source)) as inp, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30, options={"preset": "veryfast", "crf": "18"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i, frame in enumerate(inp.decode(video=0)):
            if i == FRAMES:
                break
            scale = min(WIDTH / frame.width, HEIGHT / frame.height)
            w, h = int(frame.width * scale) // 2 * 2, int(frame.height * scale) // 2 * 2
            rgb = frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
            canvas = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
            y, x = (HEIGHT - h) // 2, (WIDTH - w) // 2
            canvas[y:y + h, x:x + w] = rgb
            picture = av.VideoFrame.from_ndarray(canvas, format="rgb24")
            picture.pts, picture.time_base = i, Fraction(1, 30)
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))


def timed(args: list[str]) -> dict:
    """Run ``args``; wall seconds, peak resident MB, exit code and the stderr lines."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return {"wall_s": round(wall, 4), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "exit": process.returncode,
            "stderr_lines": len(stderr.decode(errors="replace").splitlines())}


def machine() -> dict:
    """CPU model and count, platform and versions."""
    cpu = ""
    if Path("/proc/cpuinfo").is_file():
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "av": av.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="a video of a real face")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    command = shutil.which("facedeblur-stream", path=str(Path(sys.executable).parent)) or "facedeblur-stream"
    runs: dict[str, list[dict]] = {"default": [], "none": [], "help": [], "missing_input": []}
    with tempfile.TemporaryDirectory() as tmp:
        clip, out = Path(tmp) / "face720p.mp4", str(Path(tmp) / "out.mp4")
        make_clip(args.clip, clip)
        timed([command, str(clip), out, "-y", "-q"])  # first use: caches the parsed shape predictor
        for _ in range(args.repeats):
            runs["default"].append(timed([command, str(clip), out, "-y", "-q"]))
            runs["none"].append(timed([command, str(clip), out, "-y", "-q", "--model", "none"]))
            runs["help"].append(timed([command, "--help"]))
            runs["missing_input"].append(timed([command, str(Path(tmp) / "missing.mp4"), out, "-y"]))
    for name, cases in runs.items():
        if any(case["exit"] != (1 if name == "missing_input" else 0) for case in cases):
            raise SystemExit(f"{name}: unexpected exit codes {[case['exit'] for case in cases]}")
    medians = {name: statistics.median(case["wall_s"] for case in cases) for name, cases in runs.items()}
    differences = [d["wall_s"] - n["wall_s"] for d, n in zip(runs["default"], runs["none"], strict=True)]
    result = {
        "benchmark": "start-up: wall time and peak memory of fresh facedeblur-stream processes",
        "clip": {"source": args.clip.name, "width": WIDTH, "height": HEIGHT, "frames": FRAMES},
        "repeats": args.repeats,
        "machine": machine(),
        "median_wall_s": {name: round(value, 3) for name, value in medians.items()},
        "default_minus_none_s": round(statistics.median(differences), 3),
        "missing_input_lines": max(case["stderr_lines"] for case in runs["missing_input"]),
        "runs": runs,
    }
    for name, value in result["median_wall_s"].items():
        print(f"{name:>14}: median {value:.3f} s")
    print(f"default - none: {result['default_minus_none_s']:.3f} s (median of {args.repeats} rounds)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
