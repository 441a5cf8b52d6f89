"""Tiny synthetic clips for the pipeline tests, made with PyAV (no files are committed).

Each clip is a moving bar over a colour ramp (so that frames differ and compress), optional
mono audio (a deterministic noise burst per frame), constant or variable frame rate.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

PASSTHROUGH_COMMAND = [sys.executable, "-c", "from streamfilter.cli import stream_main; stream_main()",
                       "--model", "none"]
"""The filter in a fresh interpreter, frames passed through: for tests that signal or kill it."""

VFR_STEPS_MS = (20, 40, 70)


def frame_image(i: int, width: int, height: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB test picture number ``i``."""
    img = np.zeros((height, width, 3), np.uint8)
    img[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    img[..., 1] = (i * 7) % 256
    x = (i * 3) % max(width - 8, 1)
    img[:, x:x + 8, 2] = 255
    return img


def make_clip(path: Path, *, frames: int = 30, width: int = 64, height: int = 48, codec: str = "libx264",
              container_format: str | None = None, audio: str | None = "aac", vfr: bool = False,
              colorspace: int | None = None, color_range: int | None = None, rotation: int = 0,
              sample_aspect_ratio: Fraction | None = None) -> list[int]:
    """Write a clip and return its video pts (time base 1/1000).

    The equivalent command: ffmpeg -f lavfi -i testsrc=64x48:rate=25 -f lavfi -i anoisesrc
    -frames:v 30 -c:v libx264 -c:a aac path.
    """
    container = av.open(str(path), "w", format=container_format)
    video = container.add_stream(codec, rate=25)
    video.width, video.height = width, height
    video.pix_fmt = "yuv420p" if codec != "ffv1" else "yuv420p"
    video.time_base = video.codec_context.time_base = Fraction(1, 1000)
    if sample_aspect_ratio is not None:
        video.codec_context.sample_aspect_ratio = sample_aspect_ratio
    if colorspace is not None:
        video.codec_context.colorspace = colorspace
    if color_range is not None:
        video.codec_context.color_range = color_range
    if rotation:
        video.set_display_rotation(rotation)
    sound = None
    if audio is not None:
        sound = container.add_stream(audio, rate=48000)
        sound.codec_context.layout = "mono"
    pts, stamps = 0, []
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(frame_image(i, width, height), format="rgb24")
        frame = frame.reformat(format="yuv420p", dst_colorspace=_sws(colorspace), dst_color_range=color_range or None)
        if colorspace is not None:
            frame.colorspace = colorspace
        if color_range is not None:
            frame.color_range = color_range
        frame.pts, frame.time_base = pts, Fraction(1, 1000)
        stamps.append(pts)
        pts += VFR_STEPS_MS[i % len(VFR_STEPS_MS)] if vfr else 40
        container.mux(video.encode(frame))
    container.mux(video.encode(None))
    if sound is not None:
        _write_audio(container, sound, seconds=pts / 1000)
    container.close()
    return stamps


def write_pictures(path: Path, pictures: Sequence[np.ndarray], *, rotation: int = 0, rate: int = 25) -> None:
    """Write (H, W, 3) uint8 RGB ``pictures`` as near-lossless H.264 (crf 10) with a display
    rotation of ``rotation`` degrees (counter-clockwise)."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=rate, options={"crf": "10"})
        video.height, video.width = pictures[0].shape[:2]
        video.pix_fmt = "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        for i, picture in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, rate)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))


def _sws(colorspace: int | None) -> str:
    return {1: "itu709", 5: "itu601", 6: "smpte170m"}.get(colorspace or 0, "default")


def _write_audio(container: av.container.OutputContainer, stream: av.audio.stream.AudioStream, *, seconds: float) -> None:
    samples = 1024
    rng = np.random.default_rng(0)
    fmt = "s16" if stream.codec_context.name.startswith("pcm_s16") else "fltp"
    for k in range(int(seconds * 48000 / samples) + 1):
        data = rng.uniform(-0.2, 0.2, (1, samples)).astype(np.float32)
        if fmt == "s16":
            data = (data * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 48000, k * samples, Fraction(1, 48000)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def video_pts(path: Path | str, **open_kwargs) -> tuple[list[int], Fraction]:
    """Decoded video frame pts and the stream's time base."""
    with av.open(str(path), **open_kwargs) as container:
        stream = container.streams.video[0]
        return [frame.pts for frame in container.decode(stream)], stream.time_base


def video_frames(path: Path | str) -> list[np.ndarray]:
    """Decoded video frames in their native planar format, as yuv420p arrays."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="yuv420p") for frame in container.decode(video=0)]


def audio_payloads(path: Path | str) -> list[bytes]:
    """Bytes of every demuxed packet of the first audio stream (empty flush packets skipped)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [bytes(p) for p in container.demux(stream) if p.size]


def seconds(stamps: Sequence[int], time_base: Fraction) -> list[Fraction]:
    return [s * time_base for s in stamps]


def make_nut_clip(folder: Path, frames: int) -> Path:
    """``folder/in.nut``: a clip of ``frames`` frames, H.264 video and AAC audio, to pipe in."""
    path = folder / "in.nut"
    make_clip(path, frames=frames, container_format="nut")
    return path
