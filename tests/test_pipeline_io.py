"""Pipes, network, live inputs and signals, through the real ``facedeblur-stream`` process."""

from __future__ import annotations

import io
import json
import re
import signal
import socket
import subprocess
import sys
import time
from fractions import Fraction

import av
import pytest

from media import frame_image, make_clip, video_pts

COMMAND = [sys.executable, "-c", "from streamfilter.cli import stream_main; stream_main()", "--model", "none"]
"""The filter as a process; passthrough, as these tests are about I/O."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_stdin_to_stdout_nut(tmp_path):
    src = tmp_path / "in.nut"
    make_clip(src, frames=25, container_format="nut")
    done = subprocess.run([*COMMAND, "-f", "nut", "-", "-", "-F", "nut", "-q"], input=src.read_bytes(),
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    with av.open(io.BytesIO(done.stdout), format="nut") as out:
        stream = out.streams.video[0]
        got = [frame.pts * stream.time_base for frame in out.decode(stream)]
        assert len(out.streams.audio) == 1
    stamps, time_base = video_pts(src)
    assert got == [s * time_base for s in stamps]


def send_clip(url: str, frames: int) -> None:
    """Stream ``frames`` 64x48 frames as mpegts to ``url`` (FFmpeg connects at the first packet)."""
    with av.open(url, "w", format="mpegts") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_image(i, 64, 48), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))


def send_when_listening(port: int, frames: int) -> None:
    """``send_clip`` to tcp://127.0.0.1:PORT once the receiver listens (up to 10 s)."""
    for _ in range(100):
        try:
            send_clip(f"tcp://127.0.0.1:{port}", frames)
            return
        except av.error.ConnectionRefusedError:
            time.sleep(0.1)


def test_mpegts_round_trip_over_localhost_tcp(tmp_path):
    port = free_port()
    out, stats = tmp_path / "out.mkv", tmp_path / "stats.json"
    receiver = subprocess.Popen([*COMMAND, f"tcp://127.0.0.1:{port}?listen", out, "-q", "--stats", stats],
                                stderr=subprocess.PIPE)
    frames = 40
    try:
        send_when_listening(port, frames)
        _, err = receiver.communicate(timeout=60)
    finally:
        receiver.kill()
    assert receiver.returncode == 0, err.decode()
    result = json.loads(stats.read_text())
    assert result["frames_in"] == frames
    assert result["frames_out"] + result["drops"] == frames
    assert len(video_pts(out)[0]) == result["frames_out"] > 0


def test_live_input_never_blocks_and_counts_drops(tmp_path):
    out, stats = tmp_path / "out.mp4", tmp_path / "stats.json"
    done = subprocess.run([*COMMAND, "-f", "lavfi", "testsrc=size=320x240:rate=200:duration=3,realtime", out, "-q",
                           "--preset", "slow", "--stats", stats], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    result = json.loads(stats.read_text())
    assert result["frames_in"] == 600
    assert result["frames_out"] + result["drops"] == 600
    assert len(video_pts(out)[0]) == result["frames_out"]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_finalises_a_playable_partial_output(tmp_path, signum):
    src, out = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_clip(src, frames=600, width=320, height=240, audio="aac")
    process = subprocess.Popen([*COMMAND, src, out, "--preset", "veryslow", "-v"], stderr=subprocess.PIPE)
    started = process.stderr.readline().decode()
    assert started.startswith("info: input"), started
    time.sleep(2.0)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    text = started + err.decode()
    assert process.returncode == 1, text
    assert f"interrupted by {signum.name}" in text
    written = int(re.search(r"\d+ frames in, (\d+) out", text).group(1))
    stamps, time_base = video_pts(out)
    assert 0 < written < 600
    assert len(stamps) == written
    source_stamps, source_base = video_pts(src)
    source = [s * source_base for s in source_stamps]
    output = [s * time_base for s in stamps]
    assert output == sorted(set(output)) and set(output) <= set(source)
    # Reading stops at a packet in decode order: B-frames (libx264 uses up to 3) shown before the
    # last decoded frame but stored after the last packet read were never decoded, so not input.
    unread = [s for s in source if s < output[-1] and s not in set(output)]
    assert len(unread) <= 3, unread


def test_secrets_of_a_network_input_are_never_printed(tmp_path):
    """-v logs, the summary, the stats and the errors name the input without its secrets."""
    port = free_port()
    out, stats = tmp_path / "out.mkv", tmp_path / "stats.json"
    url = f"tcp://alice:s3cret@127.0.0.1:{port}?listen&token=hunter2"
    receiver = subprocess.Popen([*COMMAND, url, out, "-v", "--stats", stats], stderr=subprocess.PIPE)
    try:
        send_when_listening(port, 10)
        _, err = receiver.communicate(timeout=60)
    finally:
        receiver.kill()
    text = err.decode()
    assert receiver.returncode == 0, text
    assert f"info: input tcp://alice:***@127.0.0.1:{port}?listen&token=***" in text
    assert "s3cret" not in text and "hunter2" not in text
    assert "s3cret" not in stats.read_text() and "hunter2" not in stats.read_text()
