"""Passthrough benchmark: ``--model none`` pipeline fps vs a plain PyAV decode -> encode loop.

Both sides decode with FFmpeg's automatic threading and encode with the same encoder settings
(libx264, preset and crf below, encoder threads auto) from the same clip, generated in a temp
folder at each resolution. The ratio is pipeline fps / plain fps, measured in one run, best of
``--repeats`` for each side. Writes bench/results/passthrough.json.

    python bench/bench_passthrough.py [--frames 240] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from streamfilter.io.sink import EncoderOptions
from streamfilter.pipeline import Pipeline
from streamfilter.processor import Passthrough

RESOLUTIONS = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
PRESET, CRF = "veryfast", 23
RESULTS = Path(__file__).resolve().parent / "results" / "passthrough.json"


def make_clip(path: Path, width: int, height: int, frames: int) -> None:
    """A moving gradient with noise (so the encoder has real work), 30 fps, H.264."""
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, width, dtype=np.float32)[None, :, None].repeat(height, 0).repeat(3, 2)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30, options={"preset": "ultrafast", "crf": "18"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            img = np.roll(base, 4 * i, axis=1) + rng.normal(0, 8, (height, width, 3)).astype(np.float32)
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def plain_loop(src: Path, dst: Path) -> float:
    """The reference: one thread, decode -> encode -> mux. Returns fps."""
    started = time.perf_counter()
    count = 0
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        video = inp.streams.video[0]
        video.thread_type = "AUTO"
        stream = out.add_stream("libx264", rate=video.average_rate, options={"preset": PRESET, "crf": str(CRF)})
        stream.width, stream.height, stream.pix_fmt = video.codec_context.width, video.codec_context.height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = video.time_base
        stream.codec_context.thread_count = 0
        for frame in inp.decode(video):
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(stream.encode(frame))
            count += 1
        out.mux(stream.encode(None))
    return count / (time.perf_counter() - started)


def pipeline_run(src: Path, dst: Path) -> float:
    encoder = EncoderOptions(codec="libx264", preset=PRESET, crf=CRF)
    started = time.perf_counter()
    with Pipeline.open(str(src), str(dst), processor=Passthrough(), encoder=encoder, overwrite=True) as pipeline:
        stats = pipeline.run()
    return stats.frames_out / (time.perf_counter() - started)


def machine() -> dict:
    """The machine and library versions a result was measured with."""
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "av": av.__version__, "ffmpeg_libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
            "numpy": np.__version__}


def write_result(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (width, height) in RESOLUTIONS.items():
            src = Path(tmp) / f"{name}.mp4"
            make_clip(src, width, height, args.frames)
            plain, piped = [], []
            for _ in range(args.repeats):
                plain.append(plain_loop(src, Path(tmp) / "plain.mp4"))
                piped.append(pipeline_run(src, Path(tmp) / "pipe.mp4"))
            rows[name] = {"width": width, "height": height, "frames": args.frames,
                          "plain_fps": max(plain), "pipeline_fps": max(piped), "ratio": max(piped) / max(plain),
                          "plain_fps_runs": plain, "pipeline_fps_runs": piped}
            print(f"{name:>6}: plain {max(plain):7.1f} fps  pipeline {max(piped):7.1f} fps  ratio {rows[name]['ratio']:.3f}")
    result = {
        "benchmark": "passthrough (--model none) vs plain PyAV decode->encode",
        "encoder": {"codec": "libx264", "preset": PRESET, "crf": CRF, "threads": "auto"},
        "machine": machine(),
        "results": rows,
    }
    write_result(args.output, result)


if __name__ == "__main__":
    main()
