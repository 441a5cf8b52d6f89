"""``--reconnect``: a network input whose sender goes away (connection reset, closed, or silent)
and comes back gives one continuous output, video and audio, through the real
``facedeblur-stream`` process reading a loopback ``Publisher``; a reconnect that fails ends the
run with one line and an output that holds everything read."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import av
import pytest

from media import PASSTHROUGH_COMMAND, Publisher, Segment, last_line

FRAMES = 50
"""Frames per sender: 2 s at 25 fps (FFmpeg reads 40 of them to open an FLV stream)."""
RUN_TIMEOUT_S = 40
"""Hard bound on one run of the filter (start-up on a loaded machine included)."""
STEP_S = 1 / Publisher.RATE
GAP_S = 0.25
"""The most that timestamps may jump forward where one sender follows another (beyond the frames
dropped), and the longest stretch without audio."""
TIMEOUT = ("--input-timeout", "3")
"""Long enough for FFmpeg to probe a stream sent in real time (FLV: 1.7 s)."""
AUDIO_LOST_S = 0.3
"""Audio a sender may fail to deliver per segment (the audio its muxer still held at a reset,
the encoder's priming)."""


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
    assert jump <= GAP_S + stats["drops"] * STEP_S, f"video jumps {jump:.3f} s at frame {steps.index(jump) + 1}"
    starts = [start for start, _ in got.audio]
    assert all(b > a for a, b in zip(starts, starts[1:])), f"audio timestamps do not increase: {starts}"
    holes = [b[0] - (a[0] + a[1]) for a, b in zip(got.audio, got.audio[1:])]
    assert max(holes) <= GAP_S, f"no audio for {max(holes):.3f} s from {got.audio[holes.index(max(holes))][0]:.3f} s"
    video_s = got.video[-1] + STEP_S - got.video[0]
    assert got.audio_seconds >= video_s - AUDIO_LOST_S * len(sent), (got.audio_seconds, video_s)
    assert got.audio[0][0] <= got.video[0] + GAP_S and got.audio[-1][0] >= got.video[-1] - GAP_S - AUDIO_LOST_S


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
