"""Tiny synthetic clips for the pipeline tests, made with PyAV (no files are committed).

Each clip is a moving bar over a colour ramp (so that frames differ and compress), optional
mono audio (a deterministic noise burst per frame), constant or variable frame rate.
``Publisher`` sends such pictures, with a sine, as a live stream over TCP, one sender after
another, each ending the way a real one can (reset, closed, silent).
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
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


LIVE_RATE = 25
LIVE_SAMPLE_RATE = 44100
LIVE_SIZE = (160, 120)


def send_live(container: av.container.OutputContainer, frames: int, *, audio: str, first_picture: int = 0,
              connected: Callable[[], bool] = lambda: True) -> int:
    """Mux ``frames`` pictures (``frame_image`` from ``first_picture`` on), 160x120 H.264 at 25
    fps, pts from 0 like a freshly started encoder, with a 440 Hz mono sine in ``audio`` (aac,
    mp2), into ``container`` in real time, each packet written at once, until ``connected()``
    turns false; then flush both encoders (audio last, which also lets the muxer write the video
    it held to interleave). The frames sent."""
    video = container.add_stream("libx264", rate=LIVE_RATE, options={"preset": "ultrafast", "tune": "zerolatency"})
    video.width, video.height = LIVE_SIZE
    video.pix_fmt = "yuv420p"
    sound = container.add_stream(audio, rate=LIVE_SAMPLE_RATE)
    sound.codec_context.layout = "mono"
    step = LIVE_SAMPLE_RATE // LIVE_RATE
    started, sent = time.monotonic(), 0
    for i in range(frames):
        picture = av.VideoFrame.from_ndarray(frame_image(first_picture + i, *LIVE_SIZE), format="rgb24")
        picture.pts, picture.time_base = i, Fraction(1, LIVE_RATE)
        container.mux(video.encode(picture))
        t = (i * step + np.arange(step)) / LIVE_SAMPLE_RATE
        tone = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None],
                                          format="fltp", layout="mono")
        tone.sample_rate, tone.pts, tone.time_base = LIVE_SAMPLE_RATE, i * step, Fraction(1, LIVE_SAMPLE_RATE)
        container.mux(sound.encode(tone))
        if not connected():
            break
        sent += 1
        time.sleep(max(0.0, started + (i + 1) / LIVE_RATE - time.monotonic()))
    container.mux(video.encode(None))
    container.mux(sound.encode(None))
    return sent


class RtmpPublishers(threading.Thread):
    """Publishers of ``url`` on an RTMP server, once ``ready()`` returns, one after another,
    ``gap_s`` apart: each publishes ``frames`` frames of ``send_live`` (pictures numbered on
    across publishers) with AAC audio and unpublishes. ``sent``: the frames each published."""

    def __init__(self, url: str, frames: Sequence[int], *, gap_s: float, ready: Callable[[], None]):
        super().__init__(name="rtmp-publishers", daemon=True)
        self.url, self.frames, self.gap_s, self.ready = url, list(frames), gap_s, ready
        self.sent: list[int] = []

    def run(self) -> None:
        self.ready()
        for k, frames in enumerate(self.frames):
            if k:
                time.sleep(self.gap_s)
            with av.open(self.url, "w", format="flv", container_options={"flush_packets": "1"}) as container:
                sent = send_live(container, frames, audio="aac", first_picture=sum(self.sent))
            self.sent.append(sent)


LIVE_STEP_S = 1 / LIVE_RATE
LIVE_GAP_S = 0.25
"""The most that a live recording's timestamps may jump forward where one sender follows
another (beyond the frames dropped), and the longest stretch without audio."""
LIVE_AUDIO_LOST_S = 0.3
"""Audio a sender may fail to deliver (the audio its muxer still held at a reset, the
encoder's priming)."""


@dataclass
class Decoded:
    video: list[float]
    """Frame times, seconds."""
    audio: list[tuple[float, float]]
    """(start, duration) of each audio frame in decoding order, seconds."""
    errors: list[str]
    """What FFmpeg logged at error level while decoding."""

    @property
    def audio_seconds(self) -> float:
        return sum(duration for _, duration in self.audio)


def decode(path: Path) -> Decoded:
    """Decode every video and audio frame of ``path``, with FFmpeg's errors."""
    level = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture() as logs, av.open(str(path)) as container:
            assert len(container.streams.audio) == 1, container.streams
            video, audio = [], []
            for frame in container.decode(video=0, audio=0):
                at = float(frame.pts * frame.time_base)
                if isinstance(frame, av.VideoFrame):
                    video.append(at)
                else:
                    audio.append((at, frame.samples / frame.sample_rate))
    finally:
        av.logging.set_level(level)
    return Decoded(video, audio, [message for level, _, message in logs if level <= av.logging.ERROR])


def assert_one_continuous_stream(out: Path, sent: list[int]) -> None:
    """Every frame sent is read and, unless the live input dropped it (consumer too slow),
    written, in one stream whose video and audio run on across each new sender."""
    stats = json.loads(out.with_suffix(".json").read_text())
    assert stats["frames_in"] == sum(sent), f"{stats['frames_in']} frames read of {sent} sent"
    got = decode(out)
    assert not got.errors, got.errors
    assert len(got.video) == stats["frames_out"] == sum(sent) - stats["drops"], (len(got.video), stats)
    steps = [b - a for a, b in zip(got.video, got.video[1:])]
    assert min(steps) > 0, f"video goes back at frame {steps.index(min(steps)) + 1}: {got.video}"
    jump = max(steps)
    assert jump <= LIVE_GAP_S + stats["drops"] * LIVE_STEP_S, f"video jumps {jump:.3f} s at frame {steps.index(jump) + 1}"
    starts = [start for start, _ in got.audio]
    assert all(b > a for a, b in zip(starts, starts[1:])), f"audio timestamps do not increase: {starts}"
    holes = [b[0] - (a[0] + a[1]) for a, b in zip(got.audio, got.audio[1:])]
    assert max(holes) <= LIVE_GAP_S, f"no audio for {max(holes):.3f} s from {got.audio[holes.index(max(holes))][0]:.3f} s"
    video_s = got.video[-1] + LIVE_STEP_S - got.video[0]
    assert got.audio_seconds >= video_s - LIVE_AUDIO_LOST_S * len(sent), (got.audio_seconds, video_s)
    assert got.audio[0][0] <= got.video[0] + LIVE_GAP_S and got.audio[-1][0] >= got.video[-1] - LIVE_GAP_S - LIVE_AUDIO_LOST_S


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

    Each sender muxes ``send_live``'s stream (audio in ``audio``: aac, mp2) as
    ``container_format`` (mpegts, or flv as RTMP carries) to the connection as it is made.
    ``sent``: the frames each connection was sent; a sender nobody connects to within
    ``accept_s`` ends the publisher.
    """

    RATE = LIVE_RATE

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
        sent = send_live(container, segment.frames, audio=self.audio, first_picture=self._pictures,
                         connected=lambda: wire.open)
        self._pictures += sent
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
