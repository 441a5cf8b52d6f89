"""Tiny synthetic clips for the pipeline tests, made with PyAV (no files are committed).

Each clip is a moving bar over a colour ramp (so that frames differ and compress), optional
mono audio (a deterministic noise burst per frame), constant or variable frame rate.
``Publisher`` sends such pictures, with a sine, as a live stream over TCP, one sender after
another, each ending the way a real one can (reset, closed, silent).
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

PASSTHROUGH_COMMAND = [sys.executable, "-c", "from streamfilter.cli import stream_main; stream_main()",
                       "--model", "none"]
"""The filter in a fresh interpreter, frames passed through: for tests that signal or kill it."""

VFR_STEPS_MS = (20, 40, 70)


def last_line(err: str) -> str:
    """The last stderr line of a run that did not crash."""
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]


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


@dataclass(frozen=True)
class Segment:
    """What one sender of a ``Publisher`` sends, and how it ends: ``reset`` (the connection is
    reset, as when the sender crashes), ``close`` (closed in order: the receiver reads the end
    of the stream) or ``silent`` (nothing more is sent; the connection stays open until the
    receiver hangs up)."""

    frames: int
    end: Literal["reset", "close", "silent"]


class _Wire:
    """The file object a sender's muxer writes to: the connection, until it is gone."""

    def __init__(self, connection: socket.socket):
        self.connection = connection
        self.open = True

    def write(self, data: bytes) -> int:
        if self.open:
            try:
                self.connection.sendall(data)
            except OSError:
                self.open = False
        return len(data)


class Publisher(threading.Thread):
    """A live stream on ``127.0.0.1:port``: one ``Segment`` per connection, in turn, then the
    port is closed (a further connection is refused).

    Each sender muxes ``container_format`` (mpegts, or flv as RTMP carries) to the connection as
    it is made: 160x120 H.264 at 25 fps in real time, each packet written at once, its pts from
    0 like a freshly started encoder, and a 440 Hz mono sine in ``audio`` (aac, mp2). ``sent``:
    the frames each connection was sent; a sender nobody connects to within ``accept_s`` ends
    the publisher.
    """

    RATE = 25
    SAMPLE_RATE = 44100
    SIZE = (160, 120)

    def __init__(self, segments: Sequence[Segment], *, container_format: str = "mpegts", audio: str = "aac",
                 accept_s: float = 20.0):
        super().__init__(name="publisher", daemon=True)
        self.segments = list(segments)
        self.container_format = container_format
        self.audio = audio
        self.accept_s = accept_s
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sent: list[int] = []
        self._pictures = 0

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def run(self) -> None:
        with self.listener:
            self.listener.settimeout(self.accept_s)
            for segment in self.segments:
                try:
                    connection, _ = self.listener.accept()
                except TimeoutError:
                    return
                with connection:
                    self.sent.append(self._send(connection, segment))

    def _send(self, connection: socket.socket, segment: Segment) -> int:
        wire = _Wire(connection)
        options = {"flush_packets": "1"}
        if self.container_format == "mpegts":
            options["pes_payload_size"] = "0"  # each audio packet written at once, as video is
        container = av.open(wire, "w", format=self.container_format, container_options=options)
        video = container.add_stream("libx264", rate=self.RATE, options={"preset": "ultrafast", "tune": "zerolatency"})
        video.width, video.height = self.SIZE
        video.pix_fmt = "yuv420p"
        sound = container.add_stream(self.audio, rate=self.SAMPLE_RATE)
        sound.codec_context.layout = "mono"
        step = self.SAMPLE_RATE // self.RATE
        started, sent = time.monotonic(), 0
        for i in range(segment.frames):
            picture = av.VideoFrame.from_ndarray(frame_image(self._pictures, *self.SIZE), format="rgb24")
            picture.pts, picture.time_base = i, Fraction(1, self.RATE)
            container.mux(video.encode(picture))
            t = (i * step + np.arange(step)) / self.SAMPLE_RATE
            tone = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None],
                                              format="fltp", layout="mono")
            tone.sample_rate, tone.pts, tone.time_base = self.SAMPLE_RATE, i * step, Fraction(1, self.SAMPLE_RATE)
            container.mux(sound.encode(tone))
            if not wire.open:
                break
            sent += 1
            self._pictures += 1
            time.sleep(max(0.0, started + (i + 1) / self.RATE - time.monotonic()))
        container.mux(video.encode(None))
        container.mux(sound.encode(None))  # also lets the muxer write the video it held to interleave
        if segment.end == "reset":
            time.sleep(0.2)  # what was sent is on the receiver's side of the connection
            wire.open = False
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        container.close()
        if segment.end == "silent":
            connection.settimeout(self.accept_s)
            try:
                while connection.recv(4096):
                    pass
            except OSError:
                pass
        return sent
