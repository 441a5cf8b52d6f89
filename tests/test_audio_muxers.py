"""Audio into every muxer the CLI infers: copied when the muxer takes the codec, else re-encoded
to one it takes (with a warning), with its duration and timing; FLV keeps one audio stream.

Each test runs the real ``facedeblur-stream`` process (``--model none``) on a clip of about one
second, so the warnings it prints on stderr are checked as a user sees them; every run is bounded
by ``RUN_TIMEOUT_S``.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from media import audio_payloads, frame_image, video_pts
from streamfilter.io.audio import pick_rate

COMMAND = [sys.executable, "-c", "from streamfilter.cli import stream_main; stream_main()", "--model", "none"]
RUN_TIMEOUT_S = 60
FRAMES = 25
"""One second of 25 fps video; the audio lasts as long."""
TOLERANCE_S = 0.1


@dataclass(frozen=True)
class Sound:
    """One audio stream of a test clip: encoder, sample rate and layout."""

    encoder: str
    rate: int = 48000
    layout: str = "mono"


def make_av_clip(path: Path, sounds: list[Sound], *, container_format: str | None = None,
                 frames: int = FRAMES) -> None:
    """A 64x48 H.264 clip (time base 1/1000, 25 fps) with one audio stream per ``sounds`` entry,
    each a deterministic noise lasting as long as the video."""
    with av.open(str(path), "w", format=container_format) as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.time_base = video.codec_context.time_base = Fraction(1, 1000)
        streams = []
        for sound in sounds:
            stream = container.add_stream(sound.encoder, rate=sound.rate)
            stream.codec_context.layout = sound.layout
            streams.append(stream)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_image(i, 64, 48), format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = i * 40, Fraction(1, 1000)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        rng = np.random.default_rng(0)
        for sound, stream in zip(sounds, streams):
            channels = av.AudioLayout(sound.layout).nb_channels
            total, chunk = sound.rate * frames // 25, 1024
            for start in range(0, total, chunk):
                samples = min(chunk, total - start)
                data = rng.uniform(-0.2, 0.2, (channels, samples)).astype(np.float32)
                audio = av.AudioFrame.from_ndarray(data, format="fltp", layout=sound.layout)
                audio.sample_rate, audio.pts, audio.time_base = sound.rate, start, Fraction(1, sound.rate)
                container.mux(stream.encode(audio))
            container.mux(stream.encode(None))


def filter_clip(src: Path, out: Path, *extra: str) -> str:
    """Run the filter; return its stderr (the run must succeed)."""
    done = subprocess.run([*COMMAND, str(src), str(out), "-y", *extra], capture_output=True, timeout=RUN_TIMEOUT_S)
    err = done.stderr.decode()
    assert done.returncode == 0, err
    return err


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: ")]


@dataclass(frozen=True)
class Timing:
    codec: str
    rate: int
    start_s: float
    """pts of the first decoded sample, from the first video frame's (muxers such as mpegts and
    mpeg shift every timestamp by the same delay)."""
    seconds: float
    """Decoded samples / rate."""


def audio_timing(path: Path, index: int = 0) -> Timing:
    stamps, time_base = video_pts(path)
    video_start = float(min(s for s in stamps if s is not None) * time_base)
    with av.open(str(path)) as container:
        stream = container.streams.audio[index]
        start, samples, rate = None, 0, stream.codec_context.sample_rate
        for frame in container.decode(stream):
            if start is None and frame.pts is not None:
                start = float(frame.pts * frame.time_base)
            samples += frame.samples
            rate = frame.sample_rate
        start_s = (start or 0.0) - video_start
        return Timing(stream.codec_context.codec.canonical_name, rate, start_s, samples / rate)


def assert_same_timing(src: Path, out: Path) -> Timing:
    before, after = audio_timing(src), audio_timing(out)
    assert abs(after.seconds - before.seconds) <= TOLERANCE_S, (before, after)
    assert abs(after.start_s - before.start_s) <= TOLERANCE_S, (before, after)
    return after


def assert_every_video_frame(src: Path, out: Path, *, exact_pts: bool = True) -> None:
    (in_pts, in_tb), (out_pts, out_tb) = video_pts(src), video_pts(out)
    assert len(out_pts) == len(in_pts) == FRAMES
    if not exact_pts:
        return
    assert [(p - out_pts[0]) * out_tb for p in out_pts] == [(p - in_pts[0]) * in_tb for p in in_pts]


@pytest.mark.parametrize("rate", [48000, 22050])
def test_pcm_audio_into_flv_is_reencoded_to_aac(tmp_path, rate):
    """FLV (and RTMP, which writes FLV) takes AAC at 44.1 or 48 kHz, not PCM."""
    src, out = tmp_path / "in.mkv", tmp_path / "out.flv"
    make_av_clip(src, [Sound("pcm_s16le", rate)])
    err = filter_clip(src, out)
    assert any("re-encoding to aac" in line for line in warnings(err)), err
    assert_every_video_frame(src, out)
    timing = assert_same_timing(src, out)
    assert timing.codec == "aac" and timing.rate in (44100, 48000)


def test_mp3_at_a_rate_flv_cannot_take_is_reencoded(tmp_path):
    """FLV takes MP3 only at 11.025/22.05/44.1/48 kHz: 32 kHz becomes AAC at 44.1 kHz."""
    src, out = tmp_path / "in.mkv", tmp_path / "out.flv"
    make_av_clip(src, [Sound("libmp3lame", 32000, "stereo")])
    err = filter_clip(src, out)
    assert any("mp3 at 32000 Hz; re-encoding to aac at 44100 Hz" in line for line in warnings(err)), err
    assert_every_video_frame(src, out)
    timing = assert_same_timing(src, out)
    assert (timing.codec, timing.rate) == ("aac", 44100)


def test_several_audio_streams_into_flv_keep_the_first(tmp_path):
    src, out = tmp_path / "in.mkv", tmp_path / "out.flv"
    make_av_clip(src, [Sound("aac", 48000, "stereo"), Sound("aac", 44100, "mono"), Sound("ac3", 48000)])
    err = filter_clip(src, out)
    dropped = [line for line in warnings(err) if "dropped" in line]
    assert len(dropped) == 2 and all("one audio stream" in line for line in dropped), err
    assert "#2" in dropped[0] and "#3" in dropped[1]
    assert_every_video_frame(src, out)
    with av.open(str(out)) as container:
        assert len(container.streams.audio) == 1
    assert audio_payloads(out) == audio_payloads(src)  # the first stream, copied packet for packet


def test_several_audio_streams_into_flv_keep_the_first_even_when_reencoded(tmp_path):
    src, out = tmp_path / "in.mkv", tmp_path / "out.flv"
    make_av_clip(src, [Sound("pcm_s16le", 48000), Sound("aac", 48000)])
    err = filter_clip(src, out)
    assert any("#2" in line and "one audio stream" in line for line in warnings(err)), err
    assert any("#1" in line and "re-encoding to aac" in line for line in warnings(err)), err
    assert_every_video_frame(src, out)
    with av.open(str(out)) as container:
        assert len(container.streams.audio) == 1
    assert assert_same_timing(src, out).codec == "aac"


def test_ac3_into_webm_is_reencoded_to_opus(tmp_path):
    """AC-3 at 44.1 kHz: Opus takes 48 kHz, so the audio is resampled too."""
    src, out = tmp_path / "in.mkv", tmp_path / "out.webm"
    make_av_clip(src, [Sound("ac3", 44100, "stereo")])
    err = filter_clip(src, out, "-c", "libvpx")
    assert any("re-encoding to opus" in line for line in warnings(err)), err
    assert not any("dropped" in line for line in warnings(err)), err
    assert_every_video_frame(src, out)
    timing = assert_same_timing(src, out)
    assert timing.codec == "opus" and timing.rate == 48000


def test_several_streams_into_webm_are_all_reencoded(tmp_path):
    src, out = tmp_path / "in.mkv", tmp_path / "out.webm"
    make_av_clip(src, [Sound("ac3", 48000, "stereo"), Sound("aac", 48000)])
    err = filter_clip(src, out, "-c", "libvpx")
    assert len([line for line in warnings(err) if "re-encoding to opus" in line]) == 2, err
    with av.open(str(out)) as container:
        assert [s.codec_context.codec.canonical_name for s in container.streams.audio] == ["opus", "opus"]


def test_audio_the_muxer_takes_is_still_copied(tmp_path):
    src, out = tmp_path / "in.mp4", tmp_path / "out.flv"
    make_av_clip(src, [Sound("aac", 48000, "stereo")])
    err = filter_clip(src, out)
    assert warnings(err) == [], err
    assert audio_payloads(out) == audio_payloads(src)


@dataclass(frozen=True)
class Case:
    """An input audio codec the output muxer cannot take, and what it must be re-encoded to."""

    output: str
    """Output file name; its extension picks the muxer (unless ``extra`` has -F)."""
    sound: Sound
    source: str
    """Input container (extension) that holds ``sound``."""
    expected: str
    """The codec the output audio must have."""
    extra: tuple[str, ...] = ()
    exact_pts: bool = True
    """False where the container does not keep every frame's pts: AVI stores none and MPEG-PS
    not every frame's, so H.264 with B-frames reads back reordered or without pts (video alone
    does that too; only the frame count is checked there)."""


CASES = {
    "mp4": Case("out.mp4", Sound("pcm_alaw"), ".nut", "aac"),
    "mov": Case("out.mov", Sound("libopus"), ".mkv", "aac"),
    "mkv": Case("out.mkv", Sound("pcm_alaw"), ".nut", "aac"),
    "webm": Case("out.webm", Sound("aac"), ".mp4", "opus", ("-c", "libvpx")),
    "flv": Case("out.flv", Sound("pcm_s16le"), ".mkv", "aac"),
    "flv-as-for-rtmp": Case("live", Sound("ac3", 48000, "stereo"), ".mkv", "aac", ("-F", "flv")),
    "ts": Case("out.ts", Sound("pcm_s16le"), ".mkv", "aac"),
    "mpegts-as-for-udp": Case("live", Sound("flac"), ".mkv", "aac", ("-F", "mpegts")),
    "nut": Case("out.nut", Sound("alac"), ".mkv", "aac"),
    "avi": Case("out.avi", Sound("libopus"), ".mkv", "aac", exact_pts=False),
    "mpeg-ps": Case("out.mpg", Sound("aac"), ".mp4", "mp2", exact_pts=False),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_audio_every_muxer_cannot_take_is_reencoded(tmp_path, case):
    src, out = tmp_path / f"in{case.source}", tmp_path / case.output
    make_av_clip(src, [case.sound])
    err = filter_clip(src, out, *case.extra)
    assert any(f"re-encoding to {case.expected}" in line for line in warnings(err)), err
    assert_every_video_frame(src, out, exact_pts=case.exact_pts)
    with av.open(str(out)) as container:
        assert len(container.streams.audio) == 1
    assert assert_same_timing(src, out).codec == case.expected


def test_pick_rate_keeps_the_rate_or_goes_up():
    assert pick_rate(48000, (44100, 48000)) == 48000
    assert pick_rate(22050, (44100, 48000)) == 44100
    assert pick_rate(96000, (44100, 48000)) == 48000
    assert pick_rate(44100, (8000, 12000, 16000, 24000, 48000)) == 48000
    assert pick_rate(32000, None) == 32000
