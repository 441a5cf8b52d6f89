"""A real RTMP server (nginx with its RTMP module, Debian's ``nginx-light`` and
``libnginx-mod-rtmp``) on loopback, with the real ``facedeblur-stream`` process as a player and
as a publisher; skipped where the server is not installed.

An RTMP server keeps a player's session when the publisher goes away and hands it the next
publisher's stream, timestamps from 0 again: the output must stay one stream whose timestamps go
forward. A publisher that never comes back leaves the session silent, so those runs end with
``--input-timeout`` (exit 1, the output finalised).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import av
import pytest

from media import PASSTHROUGH_COMMAND, RtmpPublishers, assert_one_continuous_stream, last_line, make_clip

MODULE_PATHS = [Path("/usr/lib/nginx/modules/ngx_rtmp_module.so"), Path("/usr/lib64/nginx/modules/ngx_rtmp_module.so")]
INSTALL = "apt-get install nginx-light libnginx-mod-rtmp"
FRAMES = 50
"""Frames per publisher: 2 s at 25 fps."""
RUN_TIMEOUT_S = 40
SILENCE_S = 5
"""``--input-timeout``: FFmpeg needs about 1.7 s of a stream sent in real time to open FLV, and
the RTMP handshake and the filter's start-up come first."""
TIMEOUT = ("--input-timeout", str(SILENCE_S))

pytestmark = pytest.mark.slow


class RtmpServer:
    """An nginx RTMP server on loopback (its log at level info: it names every player)."""

    def __init__(self, folder: Path, nginx: str, module: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = folder / "error.log"
        (folder / "nginx.conf").write_text(
            f"load_module {module};\npid {folder}/nginx.pid;\nerror_log {self.log} info;\nevents {{}}\n"
            f"rtmp {{ server {{ listen 127.0.0.1:{self.port}; application live {{ live on; }} }} }}\n")
        self.process = subprocess.Popen([nginx, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g",
                                         "daemon off; master_process off;"], stderr=subprocess.PIPE)

    def url(self, name: str) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live/{name}"

    def wait_until_listening(self) -> None:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.process.kill()
                    pytest.fail(f"nginx did not start: {self.process.stderr.read().decode()}")
                time.sleep(0.05)

    def wait_for_player(self, name: str) -> None:
        """Until a player has asked for the stream ``name`` (a loaded machine starts the filter slowly)."""
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while f"play: name='{name}'" not in self.log.read_text():
            assert time.monotonic() < deadline, f"no player asked for {name}"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def rtmp_server(tmp_path_factory) -> RtmpServer:
    """An RTMP server of its own for this module's tests."""
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).is_file()), None)
    module = next((path for path in MODULE_PATHS if path.is_file()), None)
    if nginx is None or module is None:
        pytest.skip(f"no RTMP server here ({INSTALL})")
    server = RtmpServer(tmp_path_factory.mktemp("nginx"), nginx, module)
    server.wait_until_listening()
    yield server
    server.process.terminate()
    server.process.wait(10)


def play(url: str, out: Path, *args: str) -> tuple[int, str]:
    """The filter playing ``url`` into ``out`` (frames passed through, ``--stats out.json``)."""
    done = subprocess.run([*PASSTHROUGH_COMMAND, url, str(out), "--stats", str(out.with_suffix(".json")), "-y",
                           *TIMEOUT, *args], capture_output=True, timeout=RUN_TIMEOUT_S)
    return done.returncode, done.stderr.decode()


def play_two_publishers(server: RtmpServer, name: str, out: Path, *, gap_s: float, args: tuple[str, ...] = ()) -> str:
    """Two publishers of ``name``, ``gap_s`` apart, played by the filter into ``out`` until the
    session goes silent (exit 1): every frame sent is in one continuous stream. Its stderr."""
    publishers = RtmpPublishers(server.url(name), [FRAMES, FRAMES], gap_s=gap_s,
                                ready=lambda: server.wait_for_player(name))
    publishers.start()
    code, err = play(server.url(name), out, *args)
    publishers.join(RUN_TIMEOUT_S)
    assert publishers.sent == [FRAMES, FRAMES]
    assert code == 1 and "went silent" in last_line(err), err
    assert_one_continuous_stream(out, publishers.sent)
    return err


def test_a_publisher_replaced_on_the_server_continues_one_stream(rtmp_server, tmp_path):
    err = play_two_publishers(rtmp_server, "replaced", tmp_path / "out.mkv", gap_s=1.0)
    assert sum(line.startswith("warning: input timestamps jump") for line in err.splitlines()) == 1, err


def test_a_silent_session_is_reopened_and_continues_one_stream(rtmp_server, tmp_path):
    err = play_two_publishers(rtmp_server, "reopened", tmp_path / "out.mkv", gap_s=SILENCE_S + 1.5,
                              args=("--reconnect", "1"))
    assert sum(line.startswith("warning: input lost") for line in err.splitlines()) == 1, err


def test_the_filter_publishes_to_the_server_with_pcm_audio_reencoded(rtmp_server, tmp_path):
    url = rtmp_server.url("published")
    clip = tmp_path / "in.mov"
    make_clip(clip, frames=75, audio="pcm_s16le")
    received: dict[str, list[float]] = {"video": [], "audio": []}

    def watch() -> None:
        with av.open(url, options={"rw_timeout": str(RUN_TIMEOUT_S * 1_000_000)}) as player:
            try:
                for packet in player.demux():
                    if packet.pts is not None and packet.stream.type in received:
                        received[packet.stream.type].append(float(packet.pts * packet.time_base))
            except av.error.OSError:  # how FFmpeg's RTMP player sees the publisher leave
                pass

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    rtmp_server.wait_for_player("published")  # a live stream reaches only the players already there
    done = subprocess.run([*PASSTHROUGH_COMMAND, str(clip), url, "--stats",
                           str(tmp_path / "stats.json")], capture_output=True, timeout=RUN_TIMEOUT_S)
    watcher.join(RUN_TIMEOUT_S)
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "cannot hold pcm_s16le; re-encoding" in err, err
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["frames_out"] == 75
    assert len(received["video"]) == 75, received["video"]
    assert received["audio"] and received["audio"][-1] >= received["video"][-1] - 0.5
