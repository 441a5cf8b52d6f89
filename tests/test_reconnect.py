"""``--reconnect``: a network input whose sender goes away (connection reset, closed, or silent)
and comes back gives one continuous output, video and audio, through the real
``facedeblur-stream`` process reading a loopback ``Publisher``; a reconnect that fails ends the
run with one line and an output that holds everything read."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from media import PASSTHROUGH_COMMAND, Publisher, Segment, assert_one_continuous_stream, last_line

FRAMES = 50
"""Frames per sender: 2 s at 25 fps (FFmpeg reads 40 of them to open an FLV stream)."""
RUN_TIMEOUT_S = 40
"""Hard bound on one run of the filter (start-up on a loaded machine included)."""
TIMEOUT = ("--input-timeout", "3")
"""Long enough for FFmpeg to probe a stream sent in real time (FLV: 1.7 s)."""


def run_filter(publisher: Publisher, out: Path, *args: str) -> tuple[int, str]:
    """Run the filter as a client of ``publisher`` (started here), its frames passed through,
    with ``--stats out.json``; its exit status and stderr."""
    publisher.start()
    try:
        done = subprocess.run([*PASSTHROUGH_COMMAND, "-f", publisher.container_format, publisher.url, str(out),
                               "--stats", str(out.with_suffix(".json")), "-y", *args],
                              capture_output=True, timeout=RUN_TIMEOUT_S)
    finally:
        publisher.join(RUN_TIMEOUT_S)
    return done.returncode, done.stderr.decode()


RECONNECTS = [
    pytest.param("mpegts", "aac", "reset", "out.mkv", id="mpegts-reset"),
    pytest.param("mpegts", "aac", "close", "out.mkv", id="mpegts-closed"),
    pytest.param("flv", "aac", "silent", "out.mkv", id="flv-silent"),
    pytest.param("flv", "aac", "reset", "out.ts", id="flv-reset-to-mpegts"),
    pytest.param("mpegts", "mp2", "reset", "out.flv", id="mpegts-reset-reencoded-audio"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("container_format", "audio", "end", "name"), RECONNECTS)
def test_a_sender_that_comes_back_continues_one_stream(tmp_path, container_format, audio, end, name):
    publisher = Publisher([Segment(FRAMES, end), Segment(FRAMES, "close")], container_format=container_format,
                          audio=audio)
    out = tmp_path / name
    code, err = run_filter(publisher, out, "--reconnect", "1", *TIMEOUT)
    assert code == 0, err
    assert publisher.sent == [FRAMES, FRAMES], err
    assert_one_continuous_stream(out, publisher.sent)
    assert sum(line.startswith("warning: input lost") for line in err.splitlines()) == 1, err


FAILURES = [
    pytest.param("flv", "aac", "reset", "out.mkv", id="reset"),
    pytest.param("flv", "aac", "close", "out.mkv", id="closed"),
    pytest.param("flv", "aac", "silent", "out.mkv", id="silent"),
    pytest.param("mpegts", "mp2", "reset", "out.flv", id="reset-reencoded-audio"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("container_format", "audio", "end", "name"), FAILURES)
def test_a_failed_reconnect_ends_with_one_line_and_every_frame_read(tmp_path, container_format, audio, end, name):
    publisher = Publisher([Segment(FRAMES, end)], container_format=container_format, audio=audio)
    out = tmp_path / name
    code, err = run_filter(publisher, out, "--reconnect", "2", *TIMEOUT, "-q")
    assert code == 1, err
    assert_one_continuous_stream(out, publisher.sent)
    kept = json.loads(out.with_suffix(".json").read_text())["frames_out"]
    reason = {"reset": f"[Errno 104] Connection reset by peer: '{publisher.url}'", "close": "end of stream",
              "silent": "nothing received for 3 s"}[end]
    assert err.count("\n") == 1 and last_line(err) == (
        f"error: input {publisher.url} lost: connection lost after frame {kept} ({reason}) and 2 reconnects "
        f"failed: cannot open input {publisher.url}: Connection refused; the output holds the {kept} frames read"), err
