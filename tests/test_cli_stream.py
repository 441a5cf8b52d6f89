"""``facedeblur-stream`` command line: options, error contract, summary and stats."""

from __future__ import annotations

import json
import os
import subprocess

import av
import pytest

from media import PASSTHROUGH_COMMAND, make_clip, seconds, video_pts
from streamfilter.cli import load_command, run


def stream(args: list[str], capsys) -> tuple[int, str]:
    """Run the CLI; without ``--model`` in ``args``, ``--model none`` (these tests are about I/O)."""
    args = [str(a) for a in args]
    if "--model" not in args:
        args += ["--model", "none"]
    code = run(load_command("stream"), args, prog_name="facedeblur-stream")
    return code, capsys.readouterr().err


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "in.mp4"
    make_clip(path, frames=20)
    return path


def test_default_run_writes_every_frame_and_a_summary(clip, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    code, err = stream([clip, out, "--stats", tmp_path / "stats.json"], capsys)
    assert code == 0, err
    assert video_pts(out) == video_pts(clip)
    assert "20 frames in, 20 out, 0 faces" in err.strip().splitlines()[-1]
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["frames_in"] == stats["frames_out"] == 20
    assert {"decode", "process", "encode", "end_to_end"} <= set(stats["latency"])
    assert stats["latency"]["process"]["count"] == 20


def test_quiet_prints_nothing_on_success(clip, tmp_path, capsys):
    code, err = stream([clip, tmp_path / "out.mkv", "-q", "--preset", "ultrafast", "--crf", "30"], capsys)
    assert (code, err) == (0, "")


def test_refuses_to_overwrite_without_y(clip, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    code, err = stream([clip, out, "-q"], capsys)
    assert code == 2 and "-y/--overwrite" in err
    assert out.read_bytes() == b"keep me"
    assert stream([clip, out, "-q", "-y"], capsys)[0] == 0
    assert len(video_pts(out)[0]) == 20


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_missing_input(tmp_path, capsys):
    code, err = stream([tmp_path / "nope.mp4", tmp_path / "out.mp4", "-q"], capsys)
    assert code == 1 and "input not found" in one_error_line(err)


def test_missing_input_is_reported_before_a_model_is_built(tmp_path, capsys, monkeypatch):
    def build(*args, **kwargs):
        raise AssertionError("the model was built before the input was checked")

    monkeypatch.setattr("streamfilter.factory.make_processor", build)
    code, err = stream([tmp_path / "nope.mp4", tmp_path / "out.mp4", "-q"], capsys)
    assert code == 1 and "input not found" in one_error_line(err)


def test_not_a_media_file(tmp_path, capsys):
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("these are not video frames\n" * 50)
    code, err = stream([bogus, tmp_path / "out.mp4", "-q"], capsys)
    assert code == 1 and "not a readable media file" in one_error_line(err)


def test_no_video_stream(tmp_path, capsys):
    audio_only = tmp_path / "sound.m4a"
    with av.open(str(audio_only), "w", format="mp4") as container:
        stream_ = container.add_stream("aac", rate=48000)
        frame = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate, frame.pts = 48000, 0
        container.mux(stream_.encode(frame))
        container.mux(stream_.encode(None))
    code, err = stream([audio_only, tmp_path / "out.mp4", "-q"], capsys)
    assert code == 1 and "no video stream" in one_error_line(err)


def test_truncated_file_is_processed_up_to_the_damage_then_reported(tmp_path, capsys):
    full, cut, out = tmp_path / "full.mkv", tmp_path / "cut.mkv", tmp_path / "out.mkv"
    make_clip(full, frames=60, width=96, height=64, audio=None)
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) * 4 // 10])
    code, err = stream([cut, out, "-q"], capsys)
    line = one_error_line(err)
    assert code == 1 and "truncated" in line
    kept = len(video_pts(out)[0])
    assert 0 < kept < 60 and f"holds the {kept} frames" in line


def test_corrupt_packets_are_skipped_and_reported(tmp_path, capsys):
    src, bad, out = tmp_path / "in.mp4", tmp_path / "bad.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=60, width=96, height=64, audio=None)
    data = bytearray(src.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 2000] = bytes(range(256)) * 7 + bytes(208)
    bad.write_bytes(bytes(data))
    code, err = stream([bad, out, "-q"], capsys)
    assert code == 1 and "damaged" in one_error_line(err)
    assert len(video_pts(out)[0]) > 0


def test_unwritable_output(clip, tmp_path, capsys):
    code, err = stream([clip, tmp_path / "missing" / "out.mp4", "-q"], capsys)
    assert code == 1 and "does not exist" in one_error_line(err)


@pytest.mark.parametrize(("args", "code", "message"), [
    (["-c", "no-such-codec"], 2, "unknown encoder 'no-such-codec'"),
    (["-c", "aac"], 2, "audio encoder"),
    (["--pix-fmt", "nv42x"], 2, "allowed:"),
    (["-F", "no-such-muxer"], 2, "unknown output format"),
    (["--bitrate", "fast"], 2, "--bitrate"),
    (["--input-option", "novalue"], 2, "KEY=VALUE"),
    (["--model", "no-such-model"], 1, "unknown model"),
    (["--max-faces", "0"], 2, "--max-faces"),
])
def test_bad_options_give_one_line(clip, tmp_path, capsys, args, code, message):
    got, err = stream([clip, tmp_path / "out.mp4", "-q", *args], capsys)
    assert got == code and message in one_error_line(err)


def test_unknown_input_format(clip, tmp_path, capsys):
    code, err = stream(["-f", "no-such-demuxer", clip, tmp_path / "out.mp4", "-q"], capsys)
    assert code == 2 and "unknown input format" in one_error_line(err)


def test_stdout_needs_an_output_format(clip, capsys):
    code, err = stream([clip, "-", "-q"], capsys)
    assert code == 2 and "-F/--output-format" in one_error_line(err)


def test_output_without_extension_needs_a_format(clip, tmp_path, capsys):
    code, err = stream([clip, tmp_path / "out", "-q"], capsys)
    assert code == 2 and "-F/--output-format" in one_error_line(err)


def test_debug_shows_the_traceback(tmp_path, capsys):
    code, err = stream([tmp_path / "nope.mp4", tmp_path / "out.mp4", "-q", "--debug"], capsys)
    assert code == 1 and "Traceback" in err and "input not found" in err


def test_help_lists_examples(capsys):
    code = run(load_command("stream"), ["--help"], prog_name="facedeblur-stream")
    text = capsys.readouterr().out
    assert code == 0
    assert "Examples:" in text and "-F nut" in text and "--reconnect" in text


def test_stats_naming_the_input_is_refused_before_the_run(clip, tmp_path, capsys):
    out, video = tmp_path / "out.mp4", clip.read_bytes()
    code, err = stream([clip, out, "-q", "-y", "--stats", clip], capsys)
    assert code == 2 and "--stats" in one_error_line(err) and "is the input" in err
    assert clip.read_bytes() == video and not out.exists()


@pytest.mark.parametrize("spelling", ["out.mp4", "./out.mp4", "sub/../out.mp4"])
def test_stats_naming_the_output_is_refused(clip, tmp_path, capsys, monkeypatch, spelling):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    code, err = stream([clip, tmp_path / "out.mp4", "-q", "--stats", spelling], capsys)
    assert code == 2 and "is the output" in one_error_line(err)
    assert not (tmp_path / "out.mp4").exists()


def test_existing_stats_file_needs_y(clip, tmp_path, capsys):
    out, stats = tmp_path / "out.mp4", tmp_path / "stats.json"
    stats.write_text("keep me")
    code, err = stream([clip, out, "-q", "--stats", stats], capsys)
    assert code == 2 and "-y/--overwrite" in one_error_line(err)
    assert stats.read_text() == "keep me" and not out.exists()
    assert stream([clip, out, "-q", "-y", "--stats", stats], capsys)[0] == 0
    assert json.loads(stats.read_text())["frames_out"] == 20


@pytest.mark.parametrize(("name", "message"), [
    ("missing/stats.json", "does not exist"),
    ("notes.txt/stats.json", "is not a folder"),
    ("folder", "is a directory"),
    ("s" * 300 + ".json", "too long"),
])
def test_unusable_stats_path_is_refused_before_the_run(clip, tmp_path, capsys, name, message):
    (tmp_path / "notes.txt").write_text("a file")
    (tmp_path / "folder").mkdir()
    out = tmp_path / "out.mp4"
    code, err = stream([clip, out, "-q", "--stats", tmp_path / name], capsys)
    assert code == 2 and message in one_error_line(err)
    assert not out.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_stats_in_a_read_only_folder_is_refused(clip, tmp_path, capsys):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code, err = stream([clip, tmp_path / "out.mp4", "-q", "--stats", folder / "stats.json"], capsys)
    finally:
        folder.chmod(0o700)
    assert code == 2 and "not writable" in one_error_line(err)
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("url", [
    "rtmp://alice:s3cret@127.0.0.1:1/live/cam?passphrase=hunter2",
    "http://alice:s3cret@127.0.0.1:1/clip.mp4?a=1&token=hunter2",
])
def test_secrets_of_an_unreachable_url_are_not_printed(url, tmp_path, capsys):
    code, err = stream([url, tmp_path / "out.mp4", "-v"], capsys)
    line = one_error_line(err)
    assert code == 1 and "s3cret" not in err and "hunter2" not in err
    assert "alice:***@127.0.0.1:1" in line, "the location can still be told"


@pytest.mark.parametrize(("args", "message"), [
    (["--preset", "no-such-preset"], "--preset 'no-such-preset'"),
    (["--latency-budget", "nan"], "--latency-budget"),
    (["--latency-budget", "inf"], "--latency-budget"),
    (["--blur-gate", "nan"], "--blur-gate"),
    (["--blur-gate", "inf"], "--blur-gate"),
    (["--blur-gate", "-inf"], "--blur-gate"),
    (["--crf", "nan"], "--crf"),
    (["--max-memory", "-1"], "--max-memory"),
    (["--max-memory", "4G"], "--max-memory"),
    (["--codec-option", "tnue=film"], "libx264 has no option 'tnue'"),
    (["--codec-option", "tune=no-such-tune"], "libx264 refuses this value"),
    (["--codec-option", "tune"], "KEY=VALUE"),
    (["--input-option", "rw_timout=5"], "FFmpeg has no option 'rw_timout'"),
    (["--output-option", "movflag=+faststart"], "FFmpeg has no option 'movflag'"),
])
def test_bad_values_are_one_usage_line_before_the_input_is_opened(tmp_path, capfd, args, message):
    missing, out = tmp_path / "missing.mp4", tmp_path / "out.mp4"
    code = run(load_command("stream"), [str(missing), str(out), "--model", "none", *args], prog_name="facedeblur-stream")
    err = capfd.readouterr().err
    assert code == 2 and message in one_error_line(err), err
    assert not out.exists()


def test_codec_options_reach_the_encoder(clip, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    code, err = stream([clip, out, "-q", "--crf", "20", "--codec-option", "x264-params=keyint=7",
                        "--codec-option", "tune=film"], capsys)
    assert code == 0, err
    settings = out.read_bytes()  # x264 writes its settings into the stream (an SEI message)
    assert b"keyint=7 " in settings and b" crf=20.0 " in settings and b" psy_rd=1.00:0.15 " in settings


def test_known_input_and_output_options_are_accepted(clip, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    code, err = stream([clip, out, "-q", "--input-option", "probesize=100000", "--output-option",
                        "movflags=+faststart"], capsys)
    assert code == 0, err
    assert out.read_bytes()[4:8] == b"ftyp" and out.read_bytes().index(b"moov") < out.read_bytes().index(b"mdat")


def test_an_odd_sized_input_is_encoded_without_chroma_subsampling(tmp_path):
    src, out = tmp_path / "odd.mkv", tmp_path / "out.mp4"
    make_clip(src, frames=12, width=65, height=47, codec="ffv1")
    done = subprocess.run([*PASSTHROUGH_COMMAND, str(src), str(out)], capture_output=True, timeout=60)
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "cannot encode the 65x47 input in yuv420p" in err and "encoding yuv444p" in err
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert (video.width, video.height, video.codec_context.pix_fmt) == (65, 47, "yuv444p")
    assert seconds(*video_pts(out)) == seconds(*video_pts(src))


def test_an_odd_size_the_chosen_pixel_format_cannot_take_is_one_line(tmp_path, capsys):
    src = tmp_path / "odd.mkv"
    make_clip(src, frames=6, width=65, height=47, codec="ffv1")
    code, err = stream([src, tmp_path / "out.mp4", "-q", "--pix-fmt", "yuv420p"], capsys)
    assert code == 2 and "cannot encode a 65x47 picture in --pix-fmt yuv420p" in one_error_line(err)


def test_output_path_too_long_is_a_usage_error(clip, tmp_path, capsys):
    code, err = stream([clip, tmp_path / ("o" * 300 + ".mp4"), "-q"], capsys)
    assert code == 2 and "too long" in one_error_line(err) and "internal error" not in err


def test_an_input_too_large_for_the_memory_budget_is_refused_before_the_output_is_written(tmp_path, capsys):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=3, width=640, height=480, audio=None)
    code, err = stream([src, out, "--max-memory", "8"], capsys)
    line = one_error_line(err)
    assert code == 1 and "is 640x480" in line and "needs an estimated" in line
    assert "budget of 8 MiB (--max-memory)" in line
    assert not out.exists()
    assert stream([src, out, "-q", "--max-memory", "0"], capsys)[0] == 0


def test_an_unpaced_lavfi_graph_is_read_like_a_file(tmp_path, capsys):
    out, stats = tmp_path / "out.mkv", tmp_path / "stats.json"
    code, err = stream(["-f", "lavfi", "testsrc=size=320x240:rate=30:duration=2", out, "--stats", stats], capsys)
    assert code == 0, err
    assert len(video_pts(out)[0]) == 60
    assert json.loads(stats.read_text())["drops"] == 0
