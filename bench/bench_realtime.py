"""Real-time benchmark; writes bench/results/realtime.json.

    python bench/bench_realtime.py [--clip PATH] [--repeats N] [--soak-minutes M]

At 720p (``../shared/data/clips/train/liveportrait_s18.mp4``, one face) and 1080p (the same
clip resized with Lanczos and re-encoded at crf 12), measured in one run, variants alternated,
best of ``--repeats``, processor construction (model load, ONNX session) not timed:

- ``plain``: PyAV decode -> libx264 encode, one loop (``bench_passthrough.plain_loop``, the
  same preset and crf as the pipeline runs);
- ``none``: the pipeline with ``--model none``;
- ``default``: the pipeline as ``facedeblur-stream in out`` runs it (shipped model, default
  blur gate: on this sharp clip most faces pass through);
- ``every_face``: ``--blur-gate 0``, the model on every face (the upper bound of its cost).

and, on the 720p clip blurred as ``facedeblur eval`` blurs it (seed 0, the training blur
distribution with 35 % of the frames left sharp; re-encoded at crf 12) and on that blurred
clip resized to 1080p, ``plain`` and ``default``: what the default filter costs on footage
with motion blur, where the gate sends the blurred faces to the model.

Reported: fps, ratios to ``plain``, per-stage latency and face paths of the model runs.

``--soak-minutes M`` instead streams the 720p clip, looped by remuxing its packets into a named
pipe, through the ``every_face`` pipeline for M minutes, samples the process's resident memory
every 5 seconds (and, every 30 s, how many frame slots, frames and face cuts Python holds)
and writes bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from bench_passthrough import CRF, PRESET, machine, plain_loop, write_result

from streamfilter.evaluation.blur_clip import blur_clip, clip_rng
from streamfilter.evaluation.clip_io import read_clip
from streamfilter.evaluation.sharp_faces import find_sharp_faces
from streamfilter.faces.backend import make_backend
from streamfilter.factory import ProcessorOptions, make_processor
from streamfilter.io.sink import EncoderOptions
from streamfilter.pipeline import Pipeline
from streamfilter.runtime.build import default_model

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "clips" / "train" / "liveportrait_s18.mp4"
RESULTS = ROOT / "bench" / "results" / "realtime.json"
SOAK_RESULTS = ROOT / "bench" / "results" / "soak.json"
ENCODER = EncoderOptions(codec="libx264", preset=PRESET, crf=CRF)
VARIANTS = {
    "none": ProcessorOptions(model="none"),
    "default": ProcessorOptions(),
    "every_face": ProcessorOptions(blur_gate=0.0),
}


def write_h264(frames: Iterable[av.VideoFrame], rate: Fraction, width: int, height: int, target: Path) -> None:
    """yuv420p ``frames`` -> ``target``, libx264 crf 12, timed 0, 1, 2, ... at ``rate``."""
    with av.open(str(target), "w") as out:
        stream = out.add_stream("libx264", rate=rate, options={"preset": "fast", "crf": "12"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index, frame in enumerate(frames):
            frame.pts, frame.time_base = index, Fraction(1) / rate
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def resized_clip(source: Path, target: Path, width: int, height: int) -> None:
    """``source`` resized with Lanczos to ``width`` x ``height``, libx264 crf 12, same frame rate."""
    with av.open(str(source)) as inp:
        video = inp.streams.video[0]
        frames = (f.reformat(width=width, height=height, format="yuv420p", interpolation="LANCZOS") for f in inp.decode(video))
        write_h264(frames, video.average_rate, width, height, target)


def blurred_clip(source: Path, target: Path) -> dict:
    """``source`` blurred as ``facedeblur eval`` blurs it (seed 0), written to ``target``; the draws."""
    clip = read_clip(source, max_frames=100_000)
    faces = find_sharp_faces(clip, make_backend("dlib"))
    blurred = blur_clip(clip.frames, faces.blur_sizes(), rng=clip_rng(0, clip.name))
    frames = (av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p") for image in blurred.frames)
    write_h264(frames, clip.rate, clip.frames.shape[2], clip.frames.shape[1], target)
    return {"kinds": blurred.kinds(), "noise_sigma": round(blurred.noise_sigma, 2), "compression": blurred.compression}


def pipeline_run(source: Path, target: Path, options: ProcessorOptions) -> tuple[float, dict]:
    """(fps, stats) of one pipeline run; building the processor is not timed."""
    processor = make_processor(options)
    with Pipeline.open(str(source), str(target), processor=processor, encoder=ENCODER, overwrite=True) as pipeline:
        stats = pipeline.run()
    return stats.frames_out / stats.elapsed, stats.as_dict()


def measure(source: Path, folder: Path, repeats: int, variants: dict[str, ProcessorOptions]) -> dict:
    fps: dict[str, list[float]] = {"plain": [], **{name: [] for name in variants}}
    stats: dict[str, dict] = {}
    for _ in range(repeats):
        fps["plain"].append(plain_loop(source, folder / "plain.mp4"))
        for name, options in variants.items():
            value, run_stats = pipeline_run(source, folder / f"{name}.mp4", options)
            fps[name].append(value)
            if value == max(fps[name]):
                stats[name] = run_stats
    best = {name: max(values) for name, values in fps.items()}
    models = [name for name in variants if variants[name].model != "none"]
    return {
        "frames": stats[next(iter(variants))]["frames_out"],
        "fps": {name: round(value, 2) for name, value in best.items()},
        "ratio_to_plain": {name: round(best[name] / best["plain"], 3) for name in variants},
        "fps_runs": {name: [round(v, 2) for v in values] for name, values in fps.items()},
        "face_paths": {name: stats[name]["face_paths"] for name in models},
        "latency_ms": {name: {stage: {k: round(v, 2) if isinstance(v, float) else v for k, v in meter.items()}
                              for stage, meter in stats[name]["latency"].items()}
                       for name in models},
    }


def rss_mb() -> float:
    """Resident memory of this process, MB (Linux /proc)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def loop_into(fifo: Path, clip: Path, stop: threading.Event) -> None:
    """Remux ``clip``'s video packets into ``fifo`` (NUT) over and over; after ``stop`` is set the
    current pass is finished and the stream ends."""
    with av.open(str(clip)) as inp:
        video = inp.streams.video[0]
        packets = [(bytes(p), p.pts, p.dts, p.is_keyframe) for p in inp.demux(video) if p.size]
        step = packets[1][1] - packets[0][1]
        duration = max(pts for _, pts, _, _ in packets) + step
        with open(fifo, "wb") as pipe, av.open(pipe, "w", format="nut") as out:
            stream = out.add_stream_from_template(video)
            offset = 0
            while not stop.is_set():
                for data, pts, dts, keyframe in packets:
                    packet = av.Packet(data)
                    packet.pts, packet.dts = pts + offset, (pts if dts is None else dts) + offset
                    packet.time_base, packet.stream, packet.is_keyframe = video.time_base, stream, keyframe
                    out.mux(packet)
                offset += duration


def live_objects() -> dict[str, int]:
    """How many frame slots, decoded frames and cached face cuts Python holds, and how many
    objects the garbage collector tracks (flat counts: nothing accumulates in Python)."""
    names = Counter(type(item).__name__ for item in gc.get_objects())
    return {"FrameSlot": names["FrameSlot"], "VideoFrame": names["VideoFrame"], "FaceCut": names["FaceCut"],
            "tracked": sum(names.values())}


def soak(clip: Path, folder: Path, minutes: float) -> dict:
    """Memory over ``minutes`` of the every-face pipeline on the looped clip."""
    fifo = folder / "loop.nut"
    os.mkfifo(fifo)
    stop = threading.Event()
    feeder = threading.Thread(target=loop_into, args=(fifo, clip, stop), daemon=True)
    feeder.start()
    processor = make_processor(VARIANTS["every_face"])
    samples: list[tuple[float, float, int]] = []
    objects: list[dict] = []
    with Pipeline.open(str(fifo), str(folder / "soak.mp4"), processor=processor, encoder=ENCODER, overwrite=True,
                       input_format="nut") as pipeline:
        pipeline.start()
        started = time.perf_counter()
        while time.perf_counter() - started < 60 * minutes:
            time.sleep(5)
            samples.append((round(time.perf_counter() - started, 1), round(rss_mb(), 1), pipeline.stats.frames_out))
            if len(samples) % 6 == 0:
                objects.append({"s": samples[-1][0], **live_objects()})
        stop.set()
        stats = pipeline.run()
    rss = np.array([s[1] for s in samples])
    minute = max(1, len(samples) // max(1, int(minutes)))
    seconds = np.array([s[0] for s in samples])
    later = seconds > 60
    return {
        "minutes": minutes,
        "frames": stats.frames_out,
        "mean_fps": round(stats.frames_out / stats.elapsed, 2),
        "rss_mb_first_minute_max": float(rss[:minute].max()),
        "rss_mb_last_minute_max": float(rss[-minute:].max()),
        "rss_mb_max": float(rss.max()),
        "rss_trend_mb_per_minute_after_first": round(float(np.polyfit(seconds[later] / 60, rss[later], 1)[0]), 2)
        if later.sum() > 1 else None,
        "samples_s_mb_frames": samples,
        "python_objects_every_30_s": objects,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--soak-minutes", type=float, default=0.0)
    parser.add_argument("--output", type=Path, help=f"default: {RESULTS.name}, or {SOAK_RESULTS.name} with --soak-minutes")
    args = parser.parse_args()
    clip = str(args.clip.relative_to(ROOT.parent)) if args.clip.is_relative_to(ROOT.parent) else str(args.clip)
    if args.soak_minutes > 0:
        with tempfile.TemporaryDirectory() as tmp:
            soaked = soak(args.clip, Path(tmp), args.soak_minutes)
        print(json.dumps({k: v for k, v in soaked.items() if k not in ("samples_s_mb_frames", "python_objects_every_30_s")}))
        write_result(args.output or SOAK_RESULTS, {"benchmark": "memory over a looped live stream, model on every face",
                                                   "clip": clip, "machine": machine(), "soak": soaked})
        return
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip_1080 = folder / "clip1080.mp4"
        resized_clip(args.clip, clip_1080, 1920, 1080)
        blurred_720, blurred_1080 = folder / "blurred720.mp4", folder / "blurred1080.mp4"
        blur = blurred_clip(args.clip, blurred_720)
        resized_clip(blurred_720, blurred_1080, 1920, 1080)
        default = {"default": VARIANTS["default"]}
        sources = (("720p", args.clip, VARIANTS), ("1080p", clip_1080, VARIANTS),
                   ("720p_blurred", blurred_720, default), ("1080p_blurred", blurred_1080, default))
        for name, source, variants in sources:
            rows[name] = measure(source, folder, args.repeats, variants)
            print(name, json.dumps({k: rows[name][k] for k in ("fps", "ratio_to_plain", "face_paths")}))
        rows["720p_blurred"]["blur"] = rows["1080p_blurred"]["blur"] = blur
    result = {
        "benchmark": "plain transcode vs pipeline --model none / default / --blur-gate 0, and default on a blurred copy",
        "clip": clip,
        "encoder": {"codec": "libx264", "preset": PRESET, "crf": CRF, "threads": "auto"},
        "default_model": default_model("cpu"),
        "machine": machine(),
        "results": rows,
    }
    write_result(args.output or RESULTS, result)


if __name__ == "__main__":
    main()
