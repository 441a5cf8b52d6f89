"""End-to-end pipeline runs on tiny synthetic clips (Python API)."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from media import audio_payloads, make_clip, video_frames, video_pts
from streamfilter.errors import InputError, OutputError, StageError, UsageError
from streamfilter.frames import FrameWindow
from streamfilter.io.locations import DEFAULT_INPUT_TIMEOUT_S
from streamfilter.io.sink import EncoderOptions
from streamfilter.pipeline import Pipeline, estimate_memory
from streamfilter.processor import Passthrough
from streamfilter.ring import DEFAULT_CAPACITY, DEFAULT_MAX_MEMORY


def run_pipeline(src: Path, dst: Path, processor=None, **kwargs):
    with Pipeline.open(str(src), str(dst), processor=processor or Passthrough(), overwrite=True, **kwargs) as pipeline:
        return pipeline.run()


@pytest.mark.parametrize("vfr", [False, True], ids=["cfr", "vfr"])
@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".nut"])
def test_every_frame_keeps_its_pts(tmp_path, vfr, suffix):
    src, dst = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    make_clip(src, frames=23, vfr=vfr)
    stats = run_pipeline(src, dst)
    in_pts, in_tb = video_pts(src)
    out_pts, out_tb = video_pts(dst)
    assert stats.frames_in == stats.frames_out == 23
    assert out_tb == in_tb
    assert out_pts == in_pts
    if vfr:
        assert len(set(np.diff(out_pts))) > 1


def test_audio_packets_are_remuxed_byte_for_byte(tmp_path):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mkv"
    make_clip(src, frames=40)
    run_pipeline(src, dst)
    original = audio_payloads(src)
    assert len(original) > 10
    assert audio_payloads(dst) == original


def test_audio_the_container_cannot_hold_is_reencoded_to_aac(tmp_path, caplog):
    src, dst = tmp_path / "in.nut", tmp_path / "out.ts"
    make_clip(src, frames=25, audio="pcm_s16le")
    with caplog.at_level("WARNING", logger="streamfilter"):
        run_pipeline(src, dst)
    assert any("re-encoding to aac" in message for message in caplog.messages)
    with av.open(str(dst)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        decoded = sum(frame.samples for frame in container.decode(audio=0))
    assert decoded >= 48000 - 2048  # 1 s of input audio, up to two AAC frames of encoder padding trimmed


def test_ffv1_output_is_lossless(tmp_path):
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_clip(src, frames=12, width=96, height=64, audio=None)
    run_pipeline(src, dst, encoder=EncoderOptions(codec="ffv1"))
    before, after = video_frames(src), video_frames(dst)
    assert len(before) == len(after) == 12
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def test_x264_crf0_output_is_lossless(tmp_path):
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_clip(src, frames=8, audio=None)
    run_pipeline(src, dst, encoder=EncoderOptions(codec="libx264", crf=0, preset="ultrafast"))
    for a, b in zip(video_frames(src), video_frames(dst), strict=True):
        np.testing.assert_array_equal(a, b)


def test_resolution_aspect_colour_and_rotation_follow_the_input(tmp_path):
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mp4"
    make_clip(src, frames=6, width=80, height=48, colorspace=1, color_range=2, rotation=90,
              sample_aspect_ratio=Fraction(4, 3))
    run_pipeline(src, dst)
    with av.open(str(dst)) as container:
        stream = container.streams.video[0]
        frame = next(container.decode(stream))
        assert (frame.width, frame.height) == (80, 48)
        assert stream.codec_context.sample_aspect_ratio == Fraction(4, 3)
        assert (frame.colorspace, frame.color_range) == (1, 2)
        assert frame.rotation == 90


class RecolourProcessor(Passthrough):
    """Returns the centre frame as an RGB array (a restorer that changed nothing)."""

    def process(self, window: FrameWindow) -> np.ndarray:
        return window.center.rgb()


@pytest.mark.parametrize(("colorspace", "color_range"), [(5, 1), (1, 1), (1, 2), (6, 2)],
                         ids=["bt601-limited", "bt709-limited", "bt709-full", "smpte170m-full"])
def test_rgb_results_keep_the_input_colour_matrix_and_range(tmp_path, colorspace, color_range):
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    container = av.open(str(src), "w")
    stream = container.add_stream("ffv1", rate=25)
    stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv444p"
    stream.codec_context.colorspace, stream.codec_context.color_range = colorspace, color_range
    flat = np.empty((3, 32, 32), np.uint8)
    flat[0], flat[1], flat[2] = 150, 90, 170
    for i in range(3):
        frame = av.VideoFrame.from_ndarray(flat, format="yuv444p")
        frame.colorspace, frame.color_range, frame.pts = colorspace, color_range, i
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    run_pipeline(src, dst, processor=RecolourProcessor(), encoder=EncoderOptions(codec="ffv1"))
    with av.open(str(dst)) as out:
        frames = list(out.decode(video=0))
    assert len(frames) == 3
    for frame in frames:
        assert (frame.colorspace, frame.color_range) == (colorspace, color_range)
        planes = frame.to_ndarray(format="yuv444p").astype(int)
        assert np.abs(planes - flat.astype(int)).max() <= 2


def test_compare_writes_input_and_output_side_by_side(tmp_path):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=5, width=64, height=48, audio=None)
    run_pipeline(src, dst, compare=True)
    with av.open(str(dst)) as container:
        frames = [frame.to_ndarray(format="rgb24").astype(int) for frame in container.decode(video=0)]
    assert len(frames) == 5
    assert frames[0].shape == (48, 128, 3)
    assert np.abs(frames[0][:, :64] - frames[0][:, 64:]).mean() < 3


class RaisingProcessor(Passthrough):
    def __init__(self, at: int):
        self.at = at
        self.closed = False

    def process(self, window: FrameWindow):
        if window.center.index == self.at:
            raise RuntimeError("boom in the model")
        return window.center.frame

    def close(self) -> None:
        self.closed = True


def test_a_raising_processor_stops_the_pipeline_with_one_error(tmp_path):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=200, audio="aac")
    processor = RaisingProcessor(at=10)
    outcome: dict[str, BaseException] = {}

    def target() -> None:
        try:
            run_pipeline(src, dst, processor=processor, ring_capacity=8)
        except BaseException as error:  # noqa: BLE001 - recorded for the assertions below
            outcome["error"] = error

    runner = threading.Thread(target=target, daemon=True)
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive(), "pipeline hung after a stage failure"
    error = outcome["error"]
    assert isinstance(error, StageError)
    assert error.stage == "process" and "boom in the model" in str(error)
    assert processor.closed
    assert not [t for t in threading.enumerate() if t.name.startswith("facedeblur-")]


@pytest.mark.parametrize(("failure", "error"), [("missing input", InputError), ("missing output folder", OutputError),
                                              ("ring too small", ValueError), ("memory budget", InputError)])
def test_a_pipeline_that_fails_to_open_closes_its_processor(tmp_path, failure, error):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=3)
    kwargs = {"ring_capacity": 2} if failure == "ring too small" else {}
    if failure == "memory budget":
        kwargs["max_memory"] = 1
    if failure == "missing input":
        src = tmp_path / "missing.mp4"
    if failure == "missing output folder":
        dst = tmp_path / "missing" / "out.mp4"
    processor = RaisingProcessor(at=-1)
    with pytest.raises(error):
        Pipeline.open(str(src), str(dst), processor=processor, **kwargs)
    assert processor.closed
    assert not dst.exists()


class OrderRecordingProcessor(Passthrough):
    needs_analysis = True

    def __init__(self) -> None:
        self.analysed: list[int] = []
        self.windows: list[tuple[int, ...]] = []

    def analyze(self, slot, *, late: bool = False) -> None:
        self.analysed.append(slot.index)
        slot.faces = []

    def process(self, window: FrameWindow):
        assert all(slot.faces is not None for slot in window.slots)
        self.windows.append(tuple(slot.index for slot in window.slots))
        return window.center.frame


def test_analysis_runs_in_decode_order_before_each_window(tmp_path):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=9, audio=None)
    processor = OrderRecordingProcessor()
    run_pipeline(src, dst, processor=processor)
    assert processor.analysed == list(range(9))
    assert processor.windows[0] == (0, 0, 0, 1, 2)
    assert processor.windows[4] == (2, 3, 4, 5, 6)
    assert processor.windows[-1] == (6, 7, 8, 8, 8)
    assert len(processor.windows) == 9


class DeadlineRecorder(Passthrough):
    """Passthrough that records each output frame's deadline and decode time."""

    def __init__(self) -> None:
        self.seen: list[tuple[float | None, float]] = []

    def process(self, window: FrameWindow):
        centre = window.center
        self.seen.append((centre.deadline, centre.decoded_at))
        return centre.frame


def test_live_frames_carry_a_deadline_and_files_do_not(tmp_path):
    live = DeadlineRecorder()
    with Pipeline.open("testsrc=size=96x64:rate=25:duration=0.4,realtime", str(tmp_path / "live.mkv"), processor=live,
                       input_format="lavfi", latency_budget=0.15) as pipeline:
        pipeline.run()
    assert len(live.seen) == 10
    assert all(deadline == pytest.approx(decoded + 0.15) for deadline, decoded in live.seen)
    src = tmp_path / "in.mkv"
    make_clip(src, frames=5)
    file = DeadlineRecorder()
    run_pipeline(src, tmp_path / "out.mkv", file)
    assert [deadline for deadline, _ in file.seen] == [None] * 5


def grey_level(index: int) -> int:
    return 20 + (3 * index) % 210


class ConcurrentProcessor(Passthrough):
    """Returns a flat grey frame whose level encodes the frame's index, after a random pause;
    counts overlapping calls."""

    def __init__(self, in_flight: int, *, fail_at: int | None = None) -> None:
        self.windows_in_flight = in_flight
        self.fail_at = fail_at
        self.running = 0
        self.most_running = 0
        self.lock = threading.Lock()
        self.rng = np.random.default_rng(0)

    def process(self, window: FrameWindow):
        with self.lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            pause = float(self.rng.uniform(0.0, 0.01))
        try:
            threading.Event().wait(pause)
            index = window.center.index
            if index == self.fail_at:
                raise RuntimeError("boom in window %d" % index)
            return np.full((window.center.height, window.center.width, 3), grey_level(index), np.uint8)
        finally:
            with self.lock:
                self.running -= 1


def test_windows_in_flight_run_in_parallel_and_leave_in_order(tmp_path):
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_clip(src, frames=60, width=96, height=64, vfr=True)
    processor = ConcurrentProcessor(3)
    stats = run_pipeline(src, dst, processor=processor, encoder=EncoderOptions(codec="ffv1"), ring_capacity=8)
    assert processor.most_running >= 2, "windows were processed one at a time"
    assert stats.frames_out == 60 and stats.as_dict()["latency"]["process"]["count"] == 60
    assert video_pts(dst) == video_pts(src)
    lumas = [float(frame[:64].mean()) for frame in video_frames(dst)]  # the Y plane of 96x64 yuv420p
    expected = [16 + grey_level(index) * 219 / 255 for index in range(60)]
    assert lumas == pytest.approx(expected, abs=1.0), "results left out of order"


def test_a_failing_window_in_flight_stops_the_pipeline(tmp_path):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=80, audio=None)
    with pytest.raises(StageError, match="boom in window 20"):
        run_pipeline(src, dst, processor=ConcurrentProcessor(2, fail_at=20), ring_capacity=8)
    assert not [t for t in threading.enumerate() if t.name.startswith("facedeblur-")]


@pytest.mark.parametrize("count", [0, -1, 1.5])
def test_an_invalid_windows_in_flight_is_refused_before_anything_is_opened(tmp_path, count):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=3, audio=None)
    with pytest.raises(UsageError, match="windows_in_flight must be an integer >= 1"):
        run_pipeline(src, dst, processor=ConcurrentProcessor(count))
    assert not dst.exists()


@pytest.mark.parametrize(("graph", "live", "timeout"), [
    ("testsrc=size=96x64:rate=25:duration=0.4", False, None),
    ("testsrc=size=96x64:rate=25:duration=0.4,realtime", True, DEFAULT_INPUT_TIMEOUT_S),
])
def test_only_a_paced_filter_graph_is_live(tmp_path, graph, live, timeout):
    with Pipeline.open(graph, str(tmp_path / "out.mkv"), processor=Passthrough(), input_format="lavfi") as pipeline:
        assert pipeline.source.location.is_live is live
        assert pipeline.source.timeout == timeout


def test_a_ring_smaller_than_a_window_is_refused_before_anything_is_opened(tmp_path):
    with pytest.raises(ValueError, match=r"ring capacity must be >= 2 \* radius \+ 2 = 6, got 5"):
        run_pipeline(tmp_path / "missing.mp4", tmp_path / "out.mp4", ring_capacity=5)
    assert not (tmp_path / "out.mp4").exists()


class RgbProcessor(Passthrough):
    """The face path's worst case for memory: every slot gets its RGB copy, every output is a new
    RGB array; records the largest slot and the most bytes the ring held."""

    needs_analysis = True

    def __init__(self) -> None:
        self.ring = None
        self.largest_slot = 0
        self.most_held = 0

    def analyze(self, slot, *, late: bool = False) -> None:
        slot.rgb()

    def process(self, window: FrameWindow):
        self.largest_slot = max([self.largest_slot, *(slot.nbytes() for slot in window.slots)])
        self.most_held = max(self.most_held, self.ring.held_bytes())
        return window.center.rgb().copy()


@pytest.mark.parametrize(("width", "height"), [(640, 480), (642, 482)])
def test_the_memory_estimate_covers_what_the_slots_hold(tmp_path, width, height):
    src = tmp_path / "in.mkv"
    make_clip(src, frames=20, width=width, height=height, audio=None)
    processor = RgbProcessor()
    with Pipeline.open(str(src), str(tmp_path / "out.mkv"), processor=processor, max_memory=None) as pipeline:
        processor.ring = pipeline.ring
        pipeline.run()
    assert 0 < processor.largest_slot <= pipeline.memory.per_slot
    assert processor.most_held <= DEFAULT_CAPACITY * pipeline.memory.per_slot


def test_the_estimate_counts_slot_caches_windows_in_flight_and_compare():
    base = estimate_memory(640, 480, "yuv420p", processor=Passthrough())
    cached = Passthrough()
    cached.slot_cache_bytes = 1000
    assert estimate_memory(640, 480, "yuv420p", processor=cached).per_slot == base.per_slot + 1000
    assert base.per_slot == 640 * 480 * 3 // 2 + 640 * 480 * 3
    two = Passthrough()
    two.windows_in_flight = 2
    assert estimate_memory(640, 480, "yuv420p", processor=two).fixed == base.fixed + 640 * 480 * 3
    assert estimate_memory(640, 480, "yuv420p", processor=Passthrough(), compare=True).fixed > base.fixed


def test_the_default_budget_keeps_the_full_ring_up_to_4k_and_shrinks_it_for_8k():
    for width, height in ((1920, 1080), (3840, 2160)):
        estimate = estimate_memory(width, height, "yuv420p", processor=Passthrough())
        assert estimate.capacity_within(DEFAULT_MAX_MEMORY, wanted=DEFAULT_CAPACITY) == DEFAULT_CAPACITY
    huge = estimate_memory(8192, 8192, "yuv420p", processor=Passthrough())
    assert huge.capacity_within(DEFAULT_MAX_MEMORY, wanted=DEFAULT_CAPACITY) == 6


def test_a_ring_over_the_memory_budget_shrinks_to_fit_with_one_warning(tmp_path, caplog):
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_clip(src, frames=30, width=640, height=480, audio=None)
    estimate = estimate_memory(640, 480, "yuv420p", processor=Passthrough())
    budget = estimate.total(10) + estimate.per_slot // 2
    with caplog.at_level("WARNING", logger="streamfilter"):
        with Pipeline.open(str(src), str(dst), processor=Passthrough(), max_memory=budget) as pipeline:
            stats = pipeline.run()
    assert pipeline.ring.capacity == 10 and pipeline.ring.peak_held <= 10
    assert stats.frames_out == 30 and stats.drops == 0
    shrunk = [message for message in caplog.messages if "ring shrunk" in message]
    assert len(shrunk) == 1 and "640x480" in shrunk[0] and "from 16 to 10 frames" in shrunk[0], caplog.messages


def test_an_input_too_large_for_the_budget_is_refused_before_the_output_is_written(tmp_path):
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_clip(src, frames=5, width=640, height=480, audio=None)
    estimate = estimate_memory(640, 480, "yuv420p", processor=Passthrough())
    smallest = -(-estimate.total(6) // 2**20)
    with pytest.raises(InputError, match=rf"is 640x480: .*smallest ring \(6 frames\) needs an estimated "
                                         rf"{smallest} MiB .* budget of 8 MiB"):
        run_pipeline(src, dst, max_memory=8 * 2**20)
    assert not dst.exists()
