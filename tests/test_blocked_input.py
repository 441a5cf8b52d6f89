"""Inputs whose reads block: Ctrl-C / SIGTERM and ``--input-timeout`` stop the run whatever
the read is doing (a pipe left open and silent, a listener without a peer, a sender that stops
sending), through the real ``facedeblur-stream`` process."""

from __future__ import annotations

import select
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from media import PASSTHROUGH_COMMAND, audio_payloads, last_line, make_clip, make_nut_clip, seconds, video_pts
from streamfilter.cli import load_command, run

FRAMES = 30
"""Frames of the test clip: enough for FFmpeg to finish probing a pipe that stays open."""
STARTUP_S = 20.0
"""Bound on the start-up of the filter (imports, opening) on a loaded machine."""


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_nut_clip(tmp_path_factory.mktemp("clip"), FRAMES)


def start(args: list, **popen) -> subprocess.Popen:
    """The filter as a process, its stderr unbuffered (so that ``select`` sees every line)."""
    return subprocess.Popen([*PASSTHROUGH_COMMAND, *map(str, args)], stderr=subprocess.PIPE, bufsize=0, **popen)


def wait_for_line(process: subprocess.Popen, prefix: str) -> str:
    """The first stderr line starting with ``prefix`` (fails after ``STARTUP_S``)."""
    deadline = time.monotonic() + STARTUP_S
    seen = []
    while time.monotonic() < deadline:
        if select.select([process.stderr], [], [], 0.1)[0]:
            line = process.stderr.readline().decode()
            if not line:
                break
            seen.append(line)
            if line.startswith(prefix):
                return line
    pytest.fail(f"no line starting with {prefix!r} within {STARTUP_S} s; got {seen}")


def finish(process: subprocess.Popen, timeout: float) -> tuple[float, str]:
    """Seconds until ``process`` exits (at most ``timeout``) and the rest of its stderr."""
    started = time.monotonic()
    process.wait(timeout)
    return time.monotonic() - started, process.stderr.read().decode()


def stop(process: subprocess.Popen) -> None:
    """Cleanup whatever happened: kill the process if it still runs, close its pipes."""
    if process.poll() is None:
        process.kill()
        process.wait(10)
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


def on_silent_stdin(clip: Path, out: Path, *args) -> subprocess.Popen:
    """The filter reading ``clip`` from a pipe that then stays open and silent, once it runs."""
    process = start(["-f", "nut", "-", out, "-v", *args], stdin=subprocess.PIPE)
    process.stdin.write(clip.read_bytes())
    process.stdin.flush()
    wait_for_line(process, "info: input -")
    return process


def same_frames(out: Path, clip: Path) -> bool:
    return seconds(*video_pts(out)) == seconds(*video_pts(clip))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_a_silent_pipe_finalises_every_frame_sent(clip, tmp_path, signum):
    out = tmp_path / "out.mkv"
    process = on_silent_stdin(clip, out)
    try:
        time.sleep(1.5)  # the 30 small frames are read and decoded well within this
        process.send_signal(signum)
        took, err = finish(process, timeout=10)
    finally:
        stop(process)
    assert process.returncode == 1, err
    assert last_line(err) == f"error: interrupted by {signum.name}: output finalised with {FRAMES} frames"
    assert took < 3, f"{took:.1f} s from the signal to the exit"
    assert same_frames(out, clip)
    assert audio_payloads(out), "the audio was not kept"


@pytest.mark.slow
def test_a_second_signal_stops_at_once_when_the_first_cannot_finish(tmp_path):
    src = tmp_path / "in.mkv"
    make_clip(src, frames=100, audio=None)
    # Nobody reads stdout: once its pipe is full the sink blocks in a write, so the first
    # signal cannot finalise the output and only the second one ends the run.
    process = start([src, "-", "-F", "nut", "-c", "rawvideo", "-v"], stdout=subprocess.PIPE)
    try:
        wait_for_line(process, "info: input")
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        time.sleep(1.5)
        assert process.poll() is None, "the write did not block; nothing left for the second signal to stop"
        process.send_signal(signal.SIGTERM)
        took, err = finish(process, timeout=10)
    finally:
        stop(process)
    assert process.returncode == 1, err
    assert last_line(err) == ("error: stopped by a second signal (SIGTERM): output left unfinished "
                              "(a stage was still busy)")
    assert took < 4, f"{took:.1f} s from the second signal to the exit"


def test_a_pipe_silent_past_the_input_timeout_ends_the_run_with_its_frames(clip, tmp_path):
    out = tmp_path / "out.mkv"
    process = on_silent_stdin(clip, out, "--input-timeout", "1")
    try:
        took, err = finish(process, timeout=10)
    finally:
        stop(process)
    assert process.returncode == 1, err
    assert last_line(err) == ("error: input - went silent: nothing received for 1 s (--input-timeout); "
                              f"the output holds the {FRAMES} frames read")
    assert took < 4
    assert same_frames(out, clip)
    assert audio_payloads(out)


def test_a_pipe_that_never_sends_ends_after_the_input_timeout(tmp_path):
    out = tmp_path / "out.mkv"
    process = start(["-f", "nut", "-", out, "--input-timeout", "0.5"], stdin=subprocess.PIPE)
    try:
        took, err = finish(process, timeout=STARTUP_S)
    finally:
        stop(process)
    assert process.returncode == 1, err
    assert last_line(err) == "error: nothing received from - within 0.5 s (--input-timeout)"
    assert not out.exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int) -> None:
    """Until 127.0.0.1:PORT is in the LISTEN state (Linux ``/proc/net/tcp``)."""
    table = Path("/proc/net/tcp")
    if not table.exists():
        pytest.skip("needs /proc/net/tcp to see when the filter listens")
    entry = f"0100007F:{port:04X} 00000000:0000 0A"
    deadline = time.monotonic() + STARTUP_S
    while entry not in table.read_text():
        if time.monotonic() > deadline:
            pytest.fail(f"nothing listens on port {port} after {STARTUP_S} s")
        time.sleep(0.1)


def test_a_listener_without_a_peer_stops_on_sigint(tmp_path):
    port, out = free_port(), tmp_path / "out.mkv"
    process = start([f"tcp://127.0.0.1:{port}?listen", out])
    try:
        wait_listening(port)
        process.send_signal(signal.SIGINT)
        took, err = finish(process, timeout=10)
    finally:
        stop(process)
    assert process.returncode == 1, err
    assert last_line(err) == "error: interrupted by SIGINT before the run started"
    assert took < 3, f"{took:.1f} s from the signal to the exit"
    assert not out.exists()


def test_a_listener_without_a_peer_gives_up_after_the_input_timeout(tmp_path):
    port, out = free_port(), tmp_path / "out.mkv"
    process = start([f"tcp://127.0.0.1:{port}?listen", out, "--input-timeout", "1"])
    try:
        took, err = finish(process, timeout=STARTUP_S)
    finally:
        stop(process)
    assert process.returncode == 1, err
    assert last_line(err) == f"error: nothing received from tcp://127.0.0.1:{port}?listen within 1 s (--input-timeout)"


def send_and_hold(port: int, payload: bytes, release: threading.Event) -> None:
    """Connect to 127.0.0.1:PORT, send ``payload`` and keep the connection open, silent, until
    ``release``."""
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            connection = socket.create_connection(("127.0.0.1", port))
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.1)
    with connection:
        connection.sendall(payload)
        release.wait(30)


@pytest.mark.parametrize("how", ["timeout", "SIGINT"])
def test_a_sender_that_stops_sending_ends_the_run_with_its_frames(clip, tmp_path, how):
    port, out = free_port(), tmp_path / "out.mkv"
    timeout = ["--input-timeout", "1"] if how == "timeout" else []
    process = start(["-f", "nut", f"tcp://127.0.0.1:{port}?listen", out, "-v", *timeout])
    release = threading.Event()
    sender = threading.Thread(target=send_and_hold, args=(port, clip.read_bytes(), release), daemon=True)
    sender.start()
    try:
        wait_for_line(process, "info: input tcp://")
        if how == "SIGINT":
            time.sleep(1.5)  # the frames are read well within this
            process.send_signal(signal.SIGINT)
        took, err = finish(process, timeout=10)
    finally:
        release.set()
        stop(process)
    assert process.returncode == 1, err
    if how == "SIGINT":
        assert last_line(err) == f"error: interrupted by SIGINT: output finalised with {FRAMES} frames"
        assert took < 3
    else:
        assert last_line(err) == (f"error: input tcp://127.0.0.1:{port}?listen went silent: nothing received "
                                  f"for 1 s (--input-timeout); the output holds the {FRAMES} frames read")
    assert same_frames(out, clip)


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "soon"])
def test_a_bad_input_timeout_is_one_usage_line(tmp_path, capsys, value):
    args = ["-", str(tmp_path / "out.mkv"), "--model", "none", "--input-timeout", value]
    code = run(load_command("stream"), args, prog_name="facedeblur-stream")
    err = capsys.readouterr().err
    assert code == 2 and "--input-timeout" in last_line(err) and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out.mkv").exists()
