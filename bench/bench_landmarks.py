"""Face-stage benchmarks; writes bench/results/landmarks.json.

    python bench/bench_landmarks.py [--clip PATH] [--frames N] [--out PATH]

Measures, on a 1280x720 face clip (default ``../shared/data/clips/train/liveportrait_s18.mp4``):
- landmark stage throughput per backend (tracker.update per frame, frames/s; fan only when its
  weights are in the torch hub cache, otherwise the FAN-4 forward time with random weights);
- whether dlib's detector, dlib's shape predictor, the project's evaluation of the same
  predictor (``shape_cascade``, also timed per face against dlib's) and the numba heatmap
  kernel release the GIL
  (the same work in two threads vs one: speed-up > 1 means they run in parallel; and the share
  of its normal progress a spinning Python thread keeps while the work runs);
- per-face costs of crop, heatmaps and paste-back;
- the sticky crop box trade-off: cache-hit rate of per-frame keys between consecutive windows
  vs crop-box jitter, for several tolerances;
- the pipeline with ``--model identity`` (landmarks + crops + heatmaps; unchanged faces pass
  the decoded frame through), with a restorer that brightens every face by one grey level (the
  identity's costs plus paste-back into the decoded planes, as with a real model) and with the
  landmark stage alone (frames passed through) against ``--model none`` (plain transcode), as
  ratios measured in one run; for each, the process's CPU time per frame and busy cores (CPU
  time over wall time: near the core count, no idle time is left to hide work in).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

from streamfilter.errors import WeightsMissingError
from streamfilter.factory import ProcessorOptions, make_processor
from streamfilter.faces.backend import make_backend
from streamfilter.faces.crop import crop_face
from streamfilter.faces.heatmaps import render_heatmaps
from streamfilter.faces.paste import paste_faces, pasted_change
from streamfilter.faces.processor import FaceProcessor
from streamfilter.faces.tracker import FaceTracker, TrackerConfig
from streamfilter.frames import FrameWindow
from streamfilter.io.planes import rgb_to_frame, with_change
from streamfilter.pipeline import Pipeline
from streamfilter.processor import Processor
from streamfilter.restorer import IdentityRestorer

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "clips" / "train" / "liveportrait_s18.mp4"
TOLERANCES = (0.0, 0.01, 0.02, 0.05)


def decode(path: Path, count: int) -> tuple[list[np.ndarray], list[float]]:
    frames, times = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if len(frames) == count:
                break
            frames.append(frame.to_ndarray(format="rgb24"))
            times.append(float(frame.time))
    return frames, times


def best_of(repeats: int, work: Callable[[], object]) -> float:
    """Fastest wall time of ``repeats`` runs of ``work`` (seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def thread_speedup(work: Callable[[int], object], n: int) -> dict:
    """Time 2n calls in one thread vs n calls in each of two threads."""
    serial = best_of(2, lambda: work(2 * n))

    def threaded() -> None:
        threads = [threading.Thread(target=work, args=(n,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    parallel = best_of(2, threaded)
    return {"one_thread_s": round(serial, 4), "two_threads_s": round(parallel, 4), "speedup": round(serial / parallel, 3)}


def gil_free_share(work: Callable[[int], object], n: int, spin_s: float = 0.5) -> float:
    """Progress of a pure-Python spinning thread while ``work(n)`` runs, over its progress while
    the main thread sleeps: about 1 when ``work`` releases the GIL, about 0 when it holds it.
    Less sensitive to other processes' load than the two-thread speed-up."""
    def rate(busy: Callable[[], object]) -> float:
        stop = threading.Event()
        count = [0]

        def spin() -> None:
            while not stop.is_set():
                count[0] += 1

        spinner = threading.Thread(target=spin)
        start = time.perf_counter()
        spinner.start()
        busy()
        stop.set()
        spinner.join()
        return count[0] / (time.perf_counter() - start)

    baseline = rate(lambda: time.sleep(spin_s))
    return round(rate(lambda: work(n)) / baseline, 3)


def track_all(backend, frames, times, config: TrackerConfig) -> tuple[float, list[list]]:
    tracker = FaceTracker(backend, config=config)
    start = time.perf_counter()
    tracks = [tracker.update(frame, t) for frame, t in zip(frames, times)]
    return time.perf_counter() - start, tracks


def landmark_throughput(frames, times) -> dict:
    results = {}
    dlib = make_backend("dlib")
    seconds, tracks = track_all(dlib, frames, times, TrackerConfig())
    results["dlib"] = {
        "fps": round(len(frames) / seconds, 2),
        "frames": len(frames),
        "faces_per_frame": round(float(np.mean([len(t) for t in tracks])), 3),
        "detect_every": TrackerConfig().detect_every,
    }
    try:
        fan = make_backend("fan")
    except WeightsMissingError as exc:
        results["fan"] = {"weights": f"missing ({exc})", **fan_forward_random(frames[0], tracks[0])}
    else:
        count = min(len(frames), 30)
        seconds, _ = track_all(fan, frames[:count], times[:count], TrackerConfig())
        results["fan"] = {"fps": round(count / seconds, 2), "frames": count}
    return results


def fan_forward_random(frame: np.ndarray, tracks: list) -> dict:
    """FAN-4 fit time per face with random weights (same compute as the real network)."""
    import torch
    from face_alignment.models import FAN

    from streamfilter.faces import fan_backend

    backend = fan_backend.FanBackend.__new__(fan_backend.FanBackend)
    backend._torch, backend._device = torch, torch.device("cpu")
    backend._net = FAN(fan_backend.FAN_STACKS).eval()
    boxes = [t.box for t in tracks] or [np.array([0, 0, 200, 200], np.float32)]
    backend.fit(frame, boxes)
    seconds = best_of(3, lambda: backend.fit(frame, boxes)) / len(boxes)
    return {"fit_s_per_face_random_weights": round(seconds, 4), "fps_upper_bound_one_face": round(1 / seconds, 2)}


def gil_measurements(frames) -> dict:
    import dlib

    from streamfilter.faces.dlib_backend import DlibBackend, predictor_path

    backend = DlibBackend()
    detection = backend.detect(frames[0])[0]
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(predictor_path()))
    frame = np.ascontiguousarray(frames[0])
    luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    x0, y0, x1, y1 = (int(round(float(v))) for v in detection.box)
    rect = dlib.rectangle(x0, y0, x1 - 1, y1 - 1)
    points = np.random.default_rng(0).uniform(4, 60, size=(8, 68, 2)).astype(np.float32)
    render_heatmaps(points, 64)
    work = {
        "dlib_detector_720p_luma": (lambda n: [detector.run(luma, 0, 0.0) for _ in range(n)], 4),
        "dlib_shape_predictor": (lambda n: [predictor(frame, rect) for _ in range(n)], 200),
        "shape_cascade": (lambda n: [backend.fit(frame, [detection.box]) for _ in range(n)], 200),
        "numba_heatmaps_8x68x64x64": (lambda n: [render_heatmaps(points, 64) for _ in range(n)], 100),
    }
    result = {name: {**thread_speedup(fn, n), "gil_free_share": gil_free_share(fn, n)} for name, (fn, n) in work.items()}
    for name in ("dlib_shape_predictor", "shape_cascade"):
        fn, _ = work[name]
        result[name]["ms_per_face"] = round(1e3 * best_of(3, lambda: fn(50)) / 50, 3)
    return result


def per_face_costs(frames, tracks) -> dict:
    frame, track = frames[0], tracks[0][0]
    box = track.crop_box
    crop = crop_face(frame, box, 256)
    changed = np.clip(crop.astype(np.int16) + 3, 0, 255).astype(np.uint8)
    points = np.random.default_rng(1).uniform(4, 60, size=(68, 2)).astype(np.float32)
    render_heatmaps(points, 64)
    decoded = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p")

    def paste_rgb_then_convert():
        return rgb_to_frame(paste_faces(frame, [box], crop[None], changed[None]), like=decoded, pix_fmt="yuv420p")

    def paste_into_planes():
        change = pasted_change(frame.shape[:2], [box], crop[None], changed[None], align=2)
        return with_change(decoded, change.x0, change.y0, change.values)

    return {
        "crop_box_side_px": box.side,
        "crop_256_ms": round(1e3 * best_of(20, lambda: crop_face(frame, box, 256)), 3),
        "heatmaps_68x64x64_ms": round(1e3 * best_of(20, lambda: render_heatmaps(points, 64)), 3),
        "paste_back_ms": round(1e3 * best_of(20, lambda: paste_faces(frame, [box], crop[None], changed[None])), 3),
        "paste_rgb_frame_then_yuv420p_ms": round(1e3 * best_of(20, paste_rgb_then_convert), 3),
        "paste_into_yuv420p_planes_ms": round(1e3 * best_of(20, paste_into_planes), 3),
    }


def sticky_tradeoff(frames, times, radius: int = 2) -> list[dict]:
    """Per tolerance: share of window frames whose key was already in the previous window
    (per-frame features reused) and crop-box jitter (mean |change| of centre and side per
    frame, as a fraction of the side)."""
    rows = []
    backend = make_backend("dlib")
    for tolerance in TOLERANCES:
        _, tracks = track_all(backend, frames, times, TrackerConfig(sticky_tolerance=tolerance))
        boxes = [t[0].crop_box if t else None for t in tracks]
        hits = total = 0
        moves = []
        for i in range(1, len(boxes)):
            if boxes[i] is None or boxes[i - 1] is None:
                continue
            lo, hi = max(i - radius, 0), min(i + radius, len(boxes) - 1)
            previous = {(j, boxes[i - 1]) for j in range(max(i - 1 - radius, 0), min(i - 1 + radius, len(boxes) - 1) + 1)}
            current = [(j, boxes[i]) for j in range(lo, hi + 1)]
            hits += sum(key in previous for key in current)
            total += len(current)
            a, b = boxes[i - 1], boxes[i]
            moves.append([abs(b.center[0] - a.center[0]) / a.side, abs(b.center[1] - a.center[1]) / a.side, abs(b.side - a.side) / a.side])
        moves = np.array(moves)
        rows.append({
            "tolerance": tolerance,
            "key_hit_rate": round(hits / max(total, 1), 3),
            "box_changes_per_frame": round(float((moves.sum(axis=1) > 0).mean()), 3),
            "mean_abs_move_of_side": [round(float(v), 5) for v in moves.mean(axis=0)],
            "max_abs_move_of_side": [round(float(v), 5) for v in moves.max(axis=0)],
        })
    return rows


class BrightenRestorer(IdentityRestorer):
    """Returns every centre crop one grey level brighter: paste-back runs as for a real model."""

    def restore(self, faces):
        return np.minimum(super().restore(faces), 254) + 1


class LandmarksOnly(FaceProcessor):
    """The face stage's analysis (tracking every frame) with every frame passed through."""

    def process(self, window: FrameWindow) -> av.VideoFrame:
        return window.center.frame


def pipeline_ratio(clip: Path, repeats: int) -> dict:
    """Whole-pipeline wall time (decode, processor, libx264 encode) for ``--model none``,
    landmarks only, ``--model identity`` and the brightening restorer, alternated; best of
    ``repeats``, and each round's ratios (the variants of one round ran back to back)."""
    variants: dict[str, Callable[[], Processor]] = {
        "none": lambda: make_processor(ProcessorOptions(model="none")),
        "landmarks_only": lambda: LandmarksOnly(IdentityRestorer(), backend=make_backend("dlib")),
        "identity": lambda: make_processor(ProcessorOptions(model="identity")),
        "paste": lambda: FaceProcessor(BrightenRestorer(), backend=make_backend("dlib")),
    }
    timings: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    frames = 0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            for name, build in variants.items():
                target = str(Path(tmp) / f"{name}.mp4")
                with Pipeline.open(str(clip), target, processor=build(), overwrite=True) as pipeline:
                    start, start_cpu = time.perf_counter(), time.process_time()
                    stats = pipeline.run()
                    timings[name].append(time.perf_counter() - start)
                    cpu[name].append(time.process_time() - start_cpu)
                frames = stats.frames_out
    fps = {name: frames / min(runs) for name, runs in timings.items()}
    best = {name: int(np.argmin(runs)) for name, runs in timings.items()}
    return {
        "frames": frames,
        **{f"{name}_fps": round(value, 2) for name, value in fps.items()},
        "cpu_ms_per_frame": {name: round(1e3 * cpu[name][best[name]] / frames, 1) for name in variants},
        "cores_busy": {name: round(cpu[name][best[name]] / timings[name][best[name]], 2) for name in variants},
        "ratio_identity_over_none": round(fps["identity"] / fps["none"], 3),
        "ratio_landmarks_only_over_none": round(fps["landmarks_only"] / fps["none"], 3),
        "ratio_paste_over_none": round(fps["paste"] / fps["none"], 3),
        "ratios_per_round": {f"{name}_over_none": [round(n / v, 3) for v, n in zip(timings[name], timings["none"])]
                             for name in variants if name != "none"},
        "runs_s": {name: [round(v, 3) for v in runs] for name, runs in timings.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "landmarks.json")
    args = parser.parse_args()
    frames, times = decode(args.clip, args.frames)
    result = {
        "clip": args.clip.name,
        "resolution": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(), "python": platform.python_version(),
                    "load_average_1min_at_start": round(os.getloadavg()[0], 2)},
        "landmarks": landmark_throughput(frames, times),
        "gil": gil_measurements(frames),
    }
    _, tracks = track_all(make_backend("dlib"), frames[:1], times[:1], TrackerConfig())
    result["per_face"] = per_face_costs(frames, tracks)
    result["sticky_box"] = sticky_tradeoff(frames, times)
    result["pipeline"] = pipeline_ratio(args.clip, args.repeats)
    result["machine"]["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    pipeline = result["pipeline"]
    print(f"pipeline fps ratios in one run: identity/none {pipeline['ratio_identity_over_none']}, "
          f"paste/none {pipeline['ratio_paste_over_none']}, "
          f"landmarks only/none {pipeline['ratio_landmarks_only_over_none']}")


if __name__ == "__main__":
    main()
