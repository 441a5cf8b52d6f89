"""CPU latency per output frame of every model configuration: torch vs ONNX Runtime.

For each configuration (random weights; latency does not depend on their values) this times
the per-frame part on one frame and the per-window part on one window (one face), each through
torch (eager, inference mode) and ONNX Runtime (the exported graphs, ``runtime.onnx_engine``
session settings), both with 2 threads. Latency per output frame = per-frame + per-window, the
streaming cost when each frame's per-frame work is cached. Medians over timed repeats after a
warm-up. Writes bench/results/models.json (with machine load) and prints a markdown table.

    python bench/bench_models.py [--models finenet-lite,dfd] [--repeats 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from streamfilter.models.cost import model_cost
from streamfilter.models.registry import CONFIGS, build_model
from streamfilter.runtime.export import export_onnx
from streamfilter.runtime.onnx_engine import open_session

THREADS = 2
RESULTS = Path(__file__).resolve().parent / "results" / "models.json"


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def bench_config(name: str, repeats: int, workdir: Path) -> dict:
    config = CONFIGS[name]
    model = build_model(config, seed=0)
    frames, size, hsize = 2 * config.radius + 1, config.crop_size, config.heatmap_size
    rng = np.random.default_rng(0)
    crops = rng.random((1, 3, size, size), dtype=np.float32)
    heatmaps = rng.random((1, 68, hsize, hsize), dtype=np.float32)
    window_crops = rng.random((1, frames, 3, size, size), dtype=np.float32)

    with torch.inference_mode():
        features = model.frame(torch.from_numpy(crops), torch.from_numpy(heatmaps))
        stacked = [f.unsqueeze(1).expand(-1, frames, *f.shape[1:]).contiguous() for f in features]
        torch_window_crops = torch.from_numpy(window_crops)
        torch_frame = median_ms(lambda: model.frame(torch.from_numpy(crops), torch.from_numpy(heatmaps)), repeats)
        torch_window = median_ms(lambda: model.window(torch_window_crops, *stacked), repeats)

    start = time.perf_counter()
    paths = export_onnx(model, workdir / f"{name}.onnx")
    export_s = time.perf_counter() - start
    providers = ["CPUExecutionProvider"]
    frame_session = open_session(paths.frame, threads=THREADS, providers=providers)
    window_session = open_session(paths.window, threads=THREADS, providers=providers)
    frame_inputs = {i.name for i in frame_session.get_inputs()}
    frame_feeds = {k: v for k, v in (("crops", crops), ("heatmaps", heatmaps)) if k in frame_inputs}
    window_feeds = {"crops": window_crops}
    for info, value in zip(frame_session.get_outputs(), stacked, strict=True):
        window_feeds[info.name] = value.numpy()
    window_feeds = {i.name: window_feeds[i.name] for i in window_session.get_inputs()}
    ort_frame = median_ms(lambda: frame_session.run(None, frame_feeds), repeats)
    ort_window = median_ms(lambda: window_session.run(None, window_feeds), repeats)

    cost = model_cost(config)
    torch_total, ort_total = torch_frame + torch_window, ort_frame + ort_window
    return {
        "model": name,
        "crop_size": size,
        "parameters": cost.parameters,
        "gmacs_per_output_frame": round(cost.gmacs_per_output_frame, 3),
        "torch_ms": {"frame": round(torch_frame, 2), "window": round(torch_window, 2), "total": round(torch_total, 2)},
        "onnxruntime_ms": {"frame": round(ort_frame, 2), "window": round(ort_window, 2), "total": round(ort_total, 2)},
        "torch_over_onnxruntime": round(torch_total / ort_total, 2),
        "export_s": round(export_s, 1),
        "repeats": repeats,
    }


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | crop | params | GMACs/frame | torch frame / window / total ms "
        "| ORT frame / window / total ms | torch/ORT |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t, o = r["torch_ms"], r["onnxruntime_ms"]
        lines.append(
            f"| {r['model']} | {r['crop_size']} | {r['parameters'] / 1e6:.2f}M | {r['gmacs_per_output_frame']:.2f} | "
            f"{t['frame']:.1f} / {t['window']:.1f} / {t['total']:.1f} | {o['frame']:.1f} / {o['window']:.1f} / "
            f"{o['total']:.1f} | {r['torch_over_onnxruntime']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(CONFIGS), help="comma-separated configuration names")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per measurement (median)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown models {unknown}; available: {', '.join(CONFIGS)}")
    torch.set_num_threads(THREADS)
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            rows.append(bench_config(name, args.repeats, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    result = {
        "benchmark": "per-output-frame CPU latency, one face, random weights",
        "threads": THREADS,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor()},
        "versions": {"torch": torch.__version__, "onnxruntime": ort.__version__},
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
