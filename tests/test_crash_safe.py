"""``--crash-safe``: a run killed with SIGKILL keeps a playable output up to its last seconds
(pipe inputs, by default), files still get a regular MP4, and user muxer options are merged or
refused, never overridden."""

from __future__ import annotations

import errno
import logging
import os
import signal
import struct
import subprocess
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest

from media import PASSTHROUGH_COMMAND, audio_payloads, make_clip, make_nut_clip, seconds, video_pts
from streamfilter.cli import load_command, run
from streamfilter.errors import UsageError
from streamfilter.io import crashsafe
from streamfilter.io.crashsafe import DiskSync, plan
from streamfilter.io.locations import parse_input, parse_output

FRAMES = 250
"""Frames sent down the pipe: 10 s at 25 fps."""
KEPT_S = 4
"""The most a kill may lose before the last frame sent: a fragment (2 s) and what the encoder holds."""
WAIT_S = 15.0
"""Bound on start-up plus the wait for the output to hold what it must, on a loaded machine."""


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_nut_clip(tmp_path_factory.mktemp("clip"), FRAMES)


def decodable_seconds(path: Path) -> list[Fraction]:
    """Timestamps of the frames that decode before the first error (a tail being written)."""
    got = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            got = [frame.pts * stream.time_base for frame in container.decode(stream)]
    except av.FFmpegError:
        pass
    return got


def killed_after_it_holds(clip: Path, out: Path, needed: int) -> None:
    """Send every frame of ``clip`` down the filter's stdin, leave the pipe open (the run waits
    for more), and SIGKILL the filter once ``out`` decodes ``needed`` frames and has stopped
    growing (so that no write is cut short)."""
    process = subprocess.Popen([*PASSTHROUGH_COMMAND, "-f", "nut", "-", out, "--input-timeout", "0", "-q"],
                               stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        process.stdin.write(clip.read_bytes())
        process.stdin.flush()
        deadline, size, still_since = time.monotonic() + WAIT_S, -1, time.monotonic()
        while True:
            assert process.poll() is None, process.stderr.read().decode()
            now = time.monotonic()
            current = out.stat().st_size if out.exists() else -1
            if current != size:
                size, still_since = current, now
            elif now - still_since > 0.5 and len(decodable_seconds(out)) >= needed:
                break
            if now > deadline:
                pytest.fail(f"{out.name} does not decode {needed} frames {WAIT_S} s after the start "
                            f"({len(decodable_seconds(out))} frames, {size} bytes)")
            time.sleep(0.1)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        process.stdin.close()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".ts"])
def test_a_killed_pipe_run_keeps_all_but_its_last_seconds(clip, tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    sent = seconds(*video_pts(clip))
    needed = sum(1 for s in sent if s <= sent[-1] - KEPT_S)
    killed_after_it_holds(clip, out, needed)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        kept = [frame.pts * stream.time_base for frame in container.decode(stream)]
    assert len(kept) >= needed
    assert kept == sent[:len(kept)], "not the first frames sent, with their timestamps"
    assert audio_payloads(out), "the audio was not kept"


def top_level_boxes(path: Path) -> list[str]:
    """The types of an MP4 file's top-level boxes, in order."""
    data, boxes, at = path.read_bytes(), [], 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        if size == 1:
            size = struct.unpack(">Q", data[at + 8:at + 16])[0]
        boxes.append(kind.decode("latin-1"))
        at += size if size else len(data)
    return boxes


def stream(args: list, capsys) -> tuple[int, str]:
    code = run(load_command("stream"), [*map(str, args), "--model", "none", "-q"], prog_name="facedeblur-stream")
    return code, capsys.readouterr().err


@pytest.fixture
def mp4_clip(tmp_path) -> Path:
    path = tmp_path / "in.mp4"
    make_clip(path, frames=60)
    return path


def test_an_mp4_on_stdout_from_a_file_is_fragmented_and_complete(mp4_clip, tmp_path):
    out = tmp_path / "piped.mp4"
    with out.open("wb") as stdout:
        done = subprocess.run([*PASSTHROUGH_COMMAND, str(mp4_clip), "-", "-F", "mp4", "-q"], stdout=stdout,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert video_pts(out) == video_pts(mp4_clip)


@pytest.mark.parametrize("flag", [[], ["--crash-safe", "off"]], ids=["auto", "off"])
def test_a_file_input_gets_a_regular_mp4(mp4_clip, tmp_path, capsys, flag):
    out = tmp_path / "out.mp4"
    code, err = stream([mp4_clip, out, *flag], capsys)
    assert code == 0, err
    boxes = top_level_boxes(out)
    assert "moof" not in boxes and boxes.index("mdat") < boxes.index("moov"), boxes
    assert video_pts(out) == video_pts(mp4_clip)


def test_crash_safe_on_fragments_a_file_and_keeps_its_timestamps(mp4_clip, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    code, err = stream([mp4_clip, out, "--crash-safe", "on"], capsys)
    assert code == 0, err
    boxes = top_level_boxes(out)
    assert boxes.index("moov") < boxes.index("moof") and boxes.count("moof") >= 2, boxes
    assert seconds(*video_pts(out)) == seconds(*video_pts(mp4_clip))
    with av.open(str(out)) as container:
        keys = [p.pts * p.time_base for p in container.demux(video=0) if p.is_keyframe and p.pts is not None]
    assert all(b - a <= 2 for a, b in zip(keys, keys[1:])), keys


def test_faststart_keeps_the_moov_in_front_when_off(mp4_clip, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    code, err = stream([mp4_clip, out, "--output-option", "movflags=+faststart"], capsys)
    assert code == 0, err
    boxes = top_level_boxes(out)
    assert "moof" not in boxes and boxes.index("moov") < boxes.index("mdat"), boxes


@pytest.mark.parametrize(("args", "message"), [
    (["--crash-safe", "on", "--output-option", "movflags=+faststart"], "movflags=+faststart: faststart rewrites"),
    (["--crash-safe", "on", "--output-option", "movflags=-delay_moov"], "clears delay_moov"),
    (["--crash-safe", "on", "--output-option", "flush_packets=0"], "flush_packets=0 contradicts"),
    (["--crash-safe", "maybe"], "'maybe' is not one of 'auto', 'on', 'off'"),
])
def test_contradicting_options_are_one_usage_line_before_the_run(mp4_clip, tmp_path, capsys, monkeypatch, args,
                                                                 message):
    def build(*args, **kwargs):
        raise AssertionError("the model was built before the options were checked")

    monkeypatch.setattr("streamfilter.factory.make_processor", build)
    out = tmp_path / "out.mp4"
    code, err = stream([mp4_clip, out, *args], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert not out.exists()


def test_on_refuses_a_muxer_without_a_crash_safe_mode(mp4_clip, tmp_path, capsys):
    code, err = stream([mp4_clip, tmp_path / "out.avi", "--crash-safe", "on"], capsys)
    assert code == 2 and "no crash-safe mode for the avi muxer" in err


def plan_for(mode: str, output: str, options: dict[str, str] | None = None, muxer: str = "mp4"):
    sink, _ = parse_output(output, output_format=None)
    return plan(mode, source=parse_input("-", input_format="nut"), sink=sink, muxer=muxer, options=options or {})


def test_user_movflags_are_merged_and_their_other_values_kept():
    chosen = plan_for("auto", "out.mp4", {"movflags": "+write_colr", "min_frag_duration": "500000"})
    assert chosen.enabled
    assert chosen.options["movflags"] == "+write_colr+frag_keyframe+delay_moov+default_base_moof"
    assert chosen.options["min_frag_duration"] == "500000"
    assert chosen.keyframe_interval == 2


def test_auto_is_off_for_files_and_network_outputs_and_warns_for_other_muxers():
    file_source = plan("auto", source=parse_input("in.mp4", input_format=None),
                       sink=parse_output("out.mp4", output_format=None)[0], muxer="mp4", options={})
    assert not file_source.enabled and file_source.note is None
    piped = plan("auto", source=parse_input("in.mp4", input_format=None),
                 sink=parse_output("-", output_format="mp4")[0], muxer="mp4", options={})
    assert piped.enabled, "an MP4 on a pipe cannot seek back: auto fragments it even from a file"
    with pytest.raises(UsageError, match="on a pipe must be fragmented"):
        plan("off", source=parse_input("in.mp4", input_format=None), sink=parse_output("-", output_format="mp4")[0],
             muxer="mp4", options={})
    network = plan_for("auto", "rtmp://host/live", muxer="flv")
    assert not network.enabled and network.note is None
    avi = plan_for("auto", "out.avi", muxer="avi")
    assert not avi.enabled and "avi output has no crash-safe mode" in avi.note
    assert plan_for("auto", "out.mkv", muxer="matroska").options == {"flush_packets": "1", "cluster_time_limit": "1000"}
    with pytest.raises(UsageError, match="--crash-safe must be one of"):
        plan_for("sometimes", "out.mp4")


@pytest.fixture
def fsyncs(monkeypatch):
    """The (device, inode) of every file or folder fsync'ed from now on."""
    synced = []
    real = os.fsync

    def recording(fd):
        info = os.fstat(fd)
        synced.append((info.st_dev, info.st_ino))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    return synced


def identity(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino


def test_disk_sync_syncs_the_file_once_it_exists_its_folder_once_and_at_close(tmp_path, fsyncs):
    path = tmp_path / "out.mkv"
    sync = DiskSync(path, interval=0.02)
    time.sleep(0.1)
    assert fsyncs == [] and sync.syncs == 0
    path.write_bytes(b"x")
    deadline = time.monotonic() + WAIT_S
    while sync.syncs < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    before = sync.syncs
    sync.close()
    assert sync.syncs == before + 1 >= 4
    assert fsyncs.count(identity(tmp_path)) == 1
    assert fsyncs.count(identity(path)) == sync.syncs
    assert not [t for t in threading.enumerate() if t.name == "facedeblur-sync"]


def test_disk_sync_warns_once_where_fsync_fails(tmp_path, monkeypatch, caplog):
    path = tmp_path / "out.mkv"
    path.write_bytes(b"x")

    def refusing(fd):
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(os, "fsync", refusing)
    with caplog.at_level(logging.WARNING, logger=crashsafe.__name__):
        sync = DiskSync(path, interval=0.02)
        time.sleep(0.15)
        sync.close()
    assert caplog.text.count("cannot fsync") == 1 and sync.syncs == 0


@pytest.mark.parametrize("mode", ["on", "off"])
def test_a_crash_safe_file_output_is_synced_to_the_disk(mp4_clip, tmp_path, capsys, fsyncs, mode):
    out = tmp_path / "out.mkv"
    code, err = stream([mp4_clip, out, "--crash-safe", mode], capsys)
    assert code == 0, err
    assert (identity(out) in fsyncs) == (mode == "on")
    assert not [t for t in threading.enumerate() if t.name == "facedeblur-sync"]
