"""Training throughput: the fp32 reference against the fast path, per model, in one run.

Reference: fp32 and windows synthesised on the fly by one loader process (how every model was
trained until the window pool and bf16 existed). Fast path: ``--precision auto`` (bf16 autocast
on CPUs with bf16 hardware) and a pool of windows synthesised once (``train/pool.py``).
Each model's two paths run alternately, ``--repeats`` times each, as short ``Trainer`` runs on
the same data; the figures are medians of the log's windows per second and data-wait share.
The pool's one-off synthesis is timed too, and windows per hour are given both for the step
rate alone and for a one-hour run that first builds a pool of ``--hour-pool`` windows.

Exactness (the CPU default only, where 200 steps are affordable): the same seeded run of
``--exact-steps`` steps on the same pool in fp32 and in the fast precision; the mean losses of
each logged span and the final validation PSNR are compared.

Writes bench/results/train.json (CPU model and flags, per model: windows/s of both paths,
``speedup``, data wait, exactness) and prints a markdown table.

    python bench/bench_train.py --data CLIPS/ [--images PHOTOS/] [--models unet,finenet]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from streamfilter.models.registry import get_config, uses_landmarks
from streamfilter.runtime.build import default_model
from streamfilter.train.dataset import load_sources
from streamfilter.train.loop import Trainer, TrainOptions
from streamfilter.train.pool import WindowPool
from streamfilter.train.precision import BF16_FLAGS, cpu_flags, cpu_model, resolve_precision
from streamfilter.train.windows import WindowConfig

RESULTS = Path(__file__).resolve().parent / "results" / "train.json"
STEPS = {"finenet": (4, 2), "finenet-lite": (40, 8), "unet": (40, 16), "unet-wide": (40, 16)}
"""(steps, batch) of one timed run per model; other models use (20, 8)."""


def log_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "log.csv").open() as handle:
        return list(csv.DictReader(handle))


def timed_run(model: str, sources, workdir: Path, *, steps: int, batch: int, pool: int, precision: str,
              threads: int, seed: int = 0, val_windows: int = 0, val_every: int = 10 ** 9,
              log_every: int | None = None) -> list[dict[str, str]]:
    """One short training run; its log rows."""
    run_dir = Path(tempfile.mkdtemp(dir=workdir))
    options = TrainOptions(model=model, steps=steps, batch=batch, lr=5e-4, seed=seed, val_windows=val_windows,
                           val_every=val_every, log_every=log_every or max(1, steps // 2), workers=0 if pool else 1,
                           threads=threads, pool=pool, precision=precision, clip_grad=0.5)
    Trainer(options, sources, run_dir, cache_dir=workdir / "pools", log=lambda m: None, progress=False).run(resume=False)
    return log_rows(run_dir)


def throughput(rows: list[dict[str, str]]) -> tuple[float, float]:
    """Windows per second and data-wait share of a run's last logged span, its second half
    (the first includes the warm-up of the allocator and the loader)."""
    row = [r for r in rows if r["windows_per_s"]][-1]
    return float(row["windows_per_s"]), float(row["data_wait"])


def bench_model(model: str, sources, workdir: Path, *, repeats: int, pool: int, hour_pool: int,
                threads: int) -> dict:
    steps, batch = STEPS.get(model, (20, 8))
    config = get_config(model)
    window = WindowConfig(crop_size=config.crop_size, heatmap_size=config.heatmap_size, landmarks=uses_landmarks(config))
    start = time.perf_counter()
    WindowPool.load_or_build(sources, window, size=pool, seed=0, cache_dir=workdir / "pools", log=lambda m: None)
    pool_seconds_per_window = (time.perf_counter() - start) / pool
    fast = resolve_precision("auto", torch.device("cpu"))
    runs: dict[str, list[tuple[float, float]]] = {"reference": [], "fast": []}
    for _ in range(repeats):
        runs["reference"].append(throughput(timed_run(model, sources, workdir, steps=steps, batch=batch, pool=0,
                                                      precision="fp32", threads=threads)))
        runs["fast"].append(throughput(timed_run(model, sources, workdir, steps=steps, batch=batch, pool=pool,
                                                 precision=fast, threads=threads)))
    rate = {k: statistics.median(r for r, _ in v) for k, v in runs.items()}
    wait = {k: statistics.median(w for _, w in v) for k, v in runs.items()}
    build_hours = hour_pool * pool_seconds_per_window / 3600
    fast_hour = rate["fast"] * 3600 * max(0.0, 1 - build_hours)
    return {
        "steps_per_run": steps, "batch": batch, "fast_precision": fast, "pool": pool,
        "windows_per_s": rate, "data_wait": wait,
        "runs": {k: [{"windows_per_s": r, "data_wait": w} for r, w in v] for k, v in runs.items()},
        "speedup": round(rate["fast"] / rate["reference"], 2),
        "pool_synthesis_s_per_window": round(pool_seconds_per_window, 4),
        "windows_per_hour": {"reference": round(rate["reference"] * 3600),
                             f"fast_with_pool_of_{hour_pool}": round(fast_hour)},
        "speedup_per_hour": round(fast_hour / (rate["reference"] * 3600), 2),
    }


def exactness(model: str, sources, workdir: Path, *, steps: int, pool: int, threads: int) -> dict:
    """Loss spans and final validation PSNR of the same seeded run in fp32 and the fast precision."""
    fast = resolve_precision("auto", torch.device("cpu"))
    _, batch = STEPS.get(model, (20, 8))
    result = {}
    for precision in ("fp32", fast):
        rows = timed_run(model, sources, workdir, steps=steps, batch=batch, pool=pool, precision=precision,
                         threads=threads, seed=1, val_windows=32, val_every=steps, log_every=max(1, steps // 10))
        result[precision] = {"losses": [float(r["loss"]) for r in rows if r["loss"]],
                             "val_psnr": float(rows[-1]["val_output"]), "val_input": float(rows[-1]["val_input"])}
    if fast == "fp32":
        return {"steps": steps, "note": "no bf16 hardware: the fast path is fp32", **result}
    pairs = zip(result["fp32"]["losses"], result[fast]["losses"], strict=True)
    return {"steps": steps, **result,
            "largest_loss_difference": max(abs(a - b) / a for a, b in pairs),
            "val_psnr_difference_db": result[fast]["val_psnr"] - result["fp32"]["val_psnr"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of face clips (training data)")
    parser.add_argument("--images", type=Path, help="folder of face photos")
    parser.add_argument("--models", default=f"{default_model('cpu')},finenet")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--pool", type=int, default=256, help="windows of the benchmark's pool")
    parser.add_argument("--hour-pool", type=int, default=4000, help="pool a one-hour run builds first")
    parser.add_argument("--exact-steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, help="face-track cache (default: the user cache directory)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from streamfilter.cachedir import user_cache_dir

    cache = args.cache or user_cache_dir() / "faces"
    models = args.models.split(",")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for model in models:
            crop = get_config(model).crop_size
            sources = load_sources(args.data, args.images, cache_dir=cache, crop_size=crop, max_frames=2000,
                                   log=lambda m: None)
            results[model] = bench_model(model, sources, workdir, repeats=args.repeats, pool=args.pool,
                                         hour_pool=args.hour_pool, threads=args.threads)
            if model == default_model("cpu"):
                results[model]["exactness"] = exactness(model, sources, workdir, steps=args.exact_steps,
                                                        pool=args.pool, threads=args.threads)
            print(json.dumps({model: results[model]}, indent=1), flush=True)
    flags = cpu_flags()
    payload = {
        "benchmark": "training windows per second, fp32 on-the-fly reference vs fast path (bf16 where the CPU has it, "
                     "window pool), alternating",
        "machine": {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "bf16_flags": sorted(flags & set(BF16_FLAGS)),
                    "flags": sorted(flags), "platform": platform.platform(), "torch": torch.__version__,
                    "threads": args.threads},
        "date": time.strftime("%Y-%m-%d"),
        "data": str(args.data), "images": str(args.images) if args.images else None,
        "models": results,
    }
    RESULTS.write_text(json.dumps(payload, indent=1) + "\n")
    print("| model | reference windows/s | fast windows/s | speedup | data wait (ref / fast) |")
    print("|---|---:|---:|---:|---:|")
    for model, r in results.items():
        print(f"| {model} | {r['windows_per_s']['reference']:.1f} | {r['windows_per_s']['fast']:.1f} | "
              f"{r['speedup']:.2f} | {r['data_wait']['reference']:.0%} / {r['data_wait']['fast']:.0%} |")


if __name__ == "__main__":
    main()
