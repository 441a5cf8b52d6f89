"""FaceProcessor: face windows handed to the restorer, cache keys, missing neighbours, late
frames, paste-back; identity on real clips; ``facedeblur-stream --model identity``."""

from __future__ import annotations

import json
import time
from fractions import Fraction

import av
import numpy as np
import pytest

from streamfilter.cli import load_command, run
from streamfilter.faces.backend import make_backend
from streamfilter.faces.heatmaps import render_heatmaps, rescale_points
from streamfilter.faces.processor import FaceProcessor
from streamfilter.faces.tracker import TrackerConfig
from streamfilter.frames import FrameSlot, FrameWindow
from streamfilter.restorer import IdentityRestorer
from test_faces_tracker import ScriptedBackend

from media import make_clip, video_frames


class RecordingRestorer(IdentityRestorer):
    """Identity that remembers every batch and adds ``brighten`` to the centre crops."""

    def __init__(self, *, brighten: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.brighten = brighten
        self.batches: list[list] = []

    def restore(self, faces):
        self.batches.append(list(faces))
        out = super().restore(faces).astype(np.int16) + self.brighten
        return np.clip(out, 0, 255).astype(np.uint8)


def synthetic_slots(count: int, width: int = 160, height: int = 120) -> list[FrameSlot]:
    """Slots of flat grey frames with pts 0..count-1 (time base 1/25)."""
    slots = []
    for index in range(count):
        frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 90 + index, np.uint8), format="rgb24")
        frame.pts = index
        frame.time_base = Fraction(1, 25)
        slots.append(FrameSlot(index=index, frame=frame))
    return slots


def windows(slots: list[FrameSlot], radius: int) -> list[FrameWindow]:
    """One window per slot, edges replicated as the pipeline does."""
    last = len(slots) - 1
    return [FrameWindow(tuple(slots[min(max(t + k, 0), last)] for k in range(-radius, radius + 1))) for t in range(len(slots))]


def analysed(processor, backend, slots, script):
    for slot, faces in zip(slots, script):
        backend.faces = faces
        processor.analyze(slot)
    return slots


def test_face_windows_shapes_keys_and_batching():
    backend = ScriptedBackend()
    restorer = RecordingRestorer(crop_size=32, heatmap_size=16, radius=2)
    processor = FaceProcessor(restorer, backend=backend, tracker=TrackerConfig(detect_every=1, sticky_tolerance=0.1))
    slots = analysed(processor, backend, synthetic_slots(6), [[[10, 10, 50, 50], [90, 30, 150, 90]]] * 6)
    all_windows = windows(slots, 2)
    outputs = [processor.process(w) for w in all_windows]
    assert all(o is w.center.frame for o, w in zip(outputs, all_windows)), "unchanged faces: the decoded frame"
    assert [len(batch) for batch in restorer.batches] == [2] * 6, "all faces of a frame in one call"
    face = restorer.batches[2][0]
    assert face.crops.shape == (5, 32, 32, 3) and np.stack(face.heatmaps).shape == (5, 68, 16, 16)
    assert len(set(face.keys)) == 5
    next_face = restorer.batches[3][0]
    assert face.keys[1:] == next_face.keys[:4], "a still face keeps its box: per-frame keys repeat across windows"
    np.testing.assert_array_equal(face.crops[1], next_face.crops[0])


def test_missing_neighbour_uses_nearest_frame_points():
    backend = ScriptedBackend()
    restorer = RecordingRestorer(crop_size=32, heatmap_size=16, radius=2)
    processor = FaceProcessor(restorer, backend=backend, tracker=TrackerConfig(detect_every=1))
    face = [40, 20, 100, 80]
    slots = analysed(processor, backend, synthetic_slots(5), [[], [], [face], [face], [face]])
    processor.process(windows(slots, 2)[2])
    (window,) = restorer.batches[0]
    np.testing.assert_array_equal(window.heatmaps[0], window.heatmaps[2])
    np.testing.assert_array_equal(window.heatmaps[1], window.heatmaps[2])
    assert window.keys[0][3] == window.keys[1][3] == 2, "keys name the frame the points came from"
    assert not np.array_equal(window.crops[0], window.crops[2]), "crops are each frame's own pixels"


def cuts_with_heatmaps(slots) -> int:
    return sum(cut._heatmap is not None for slot in slots for cut in slot.cache.values())


def test_heatmaps_are_rendered_when_a_restorer_reads_them():
    backend = ScriptedBackend()
    restorer = RecordingRestorer(crop_size=32, heatmap_size=16, radius=2)
    processor = FaceProcessor(restorer, backend=backend, tracker=TrackerConfig(detect_every=1))
    slots = analysed(processor, backend, synthetic_slots(5), [[[40, 20, 100, 80]]] * 5)
    processor.process(windows(slots, 2)[2])
    assert cuts_with_heatmaps(slots) == 0, "the identity reads no heatmaps, so none are rendered"
    (window,) = restorer.batches[0]
    maps = window.heatmaps[3]
    assert cuts_with_heatmaps(slots) == 1, "reading one frame's maps renders that frame's only"
    track = slots[3].faces[0]
    box = track.crop_box
    expected = render_heatmaps(rescale_points(box.to_crop(track.points, 32), 32, 16), 16, sigma=processor.sigma)
    np.testing.assert_array_equal(maps, expected)
    assert window.heatmaps[3] is maps, "rendered once, then kept with the crop"
    assert [m.shape for m in window.heatmaps[1:3]] == [(68, 16, 16)] * 2


def test_no_face_returns_decoded_frame_object():
    processor = FaceProcessor(IdentityRestorer(radius=2), backend=make_backend("dlib"))
    slots = synthetic_slots(3)
    for slot in slots:
        processor.analyze(slot)
    assert all(slot.faces == [] for slot in slots)
    window = windows(slots, 2)[1]
    assert processor.process(window) is window.center.frame


def test_restored_change_lands_in_crop_box_only():
    backend = ScriptedBackend()
    processor = FaceProcessor(RecordingRestorer(brighten=20, crop_size=32, heatmap_size=16, radius=0), backend=backend)
    (slot,) = analysed(processor, backend, synthetic_slots(1), [[[40, 20, 100, 80]]])
    out = processor.process(FrameWindow((slot,))).astype(np.int16) - slot.rgb()
    box = slot.faces[0].crop_box
    cy, cx = (int(v) for v in box.center[::-1])
    assert out[cy, cx].min() == 20
    inside = np.zeros(out.shape[:2], bool)
    inside[max(box.y0, 0):box.y0 + box.side, max(box.x0, 0):box.x0 + box.side] = True
    assert not out[~inside].any()


def test_change_is_written_into_the_decoded_planes():
    """4:2:0 input: the output is a frame in the same format whose samples outside the faces'
    region are the decoded ones, and whose face is brighter."""
    backend = ScriptedBackend()
    processor = FaceProcessor(RecordingRestorer(brighten=20, crop_size=32, heatmap_size=16, radius=0), backend=backend)
    (slot,) = synthetic_slots(1)
    slot = FrameSlot(index=0, frame=slot.frame.reformat(format="yuv420p"))
    analysed(processor, backend, [slot], [[[40, 20, 100, 80]]])
    out = processor.process(FrameWindow((slot,)))
    assert isinstance(out, av.VideoFrame) and out.format.name == "yuv420p"
    box = slot.faces[0].crop_box
    changed = out.to_ndarray()[:120] != slot.frame.to_ndarray()[:120]
    rows, cols = np.nonzero(changed)
    assert rows.min() >= box.y0 and rows.max() < box.y0 + box.side
    assert cols.min() >= box.x0 and cols.max() < box.x0 + box.side
    cy, cx = (int(v) for v in box.center[::-1])
    lift = out.to_ndarray(format="rgb24").astype(np.int16)[cy, cx] - slot.rgb()[cy, cx]
    assert np.all(np.abs(lift - 20) <= 2)


def test_late_frames_reuse_prediction():
    backend = ScriptedBackend()
    processor = FaceProcessor(IdentityRestorer(radius=0), backend=backend)
    slots = analysed(processor, backend, synthetic_slots(1), [[[40, 20, 100, 80]]])
    late = synthetic_slots(2)[1]
    backend.faces = []
    processor.analyze(late, late=True)
    assert [f.source for f in late.faces] == ["predicted"]
    np.testing.assert_array_equal(late.faces[0].points, slots[0].faces[0].points)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_live_frame_past_its_deadline_skips_the_restorer():
    """A face the gate would restore is left as decoded when the frame's deadline (live input)
    cannot be met; with time to spare it is restored."""
    backend = ScriptedBackend()
    restorer = RecordingRestorer(brighten=20, crop_size=32, heatmap_size=16, radius=0)
    processor = FaceProcessor(restorer, backend=backend)
    late, on_time = analysed(processor, backend, synthetic_slots(2), [[[40, 20, 100, 80]]] * 2)
    late.deadline = time.perf_counter() - 0.01
    assert processor.process(FrameWindow((late,))) is late.frame
    assert late.face_paths == ("late",) and restorer.batches == []
    on_time.deadline = time.perf_counter() + 60.0
    assert not isinstance(processor.process(FrameWindow((on_time,))), av.VideoFrame)
    assert on_time.face_paths == ("restored",) and len(restorer.batches) == 1
    assert processor.restore_seconds > 0, "the restorer's duration is tracked"



class BrokenRestorer(RecordingRestorer):
    """Brightens every face by 20 (as float 8-bit levels) and writes ``value`` into one sample
    of the faces numbered in ``broken``."""

    def __init__(self, *, broken: tuple[int, ...], value: float, **kwargs):
        super().__init__(brighten=20, **kwargs)
        self.broken = broken
        self.value = value

    def restore(self, faces):
        out = super().restore(faces).astype(np.float32)
        for i in self.broken:
            out[i, 5, 5, 1] = self.value
        return out


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_face_restored_to_non_finite_values_keeps_its_decoded_pixels(value):
    backend = ScriptedBackend()
    restorer = BrokenRestorer(broken=(0,), value=value, crop_size=32, heatmap_size=16, radius=0)
    processor = FaceProcessor(restorer, backend=backend, tracker=TrackerConfig(detect_every=1))
    (slot,) = analysed(processor, backend, synthetic_slots(1, width=240), [[[10, 20, 70, 80], [150, 20, 210, 80]]])
    out = processor.process(FrameWindow((slot,))).astype(np.int16) - slot.rgb()
    broken, kept = (next(t for t in slot.faces if t.crop_box.x0 < 120), next(t for t in slot.faces if t.crop_box.x0 > 120))
    paths = dict(zip((t.track_id for t in slot.faces), slot.face_paths))
    assert paths == {broken.track_id: "non_finite", kept.track_id: "restored"}
    box = broken.crop_box
    assert not out[:, :box.x0 + box.side].any(), "the broken face and what lies left of it stay as decoded"
    cy, cx = (int(v) for v in kept.crop_box.center[::-1])
    assert out[cy, cx].min() == 20


def test_a_frame_whose_only_face_is_not_finite_is_the_decoded_frame():
    backend = ScriptedBackend()
    processor = FaceProcessor(BrokenRestorer(broken=(0,), value=float("nan"), crop_size=32, heatmap_size=16, radius=0),
                              backend=backend)
    (slot,) = analysed(processor, backend, synthetic_slots(1), [[[40, 20, 100, 80]]])
    assert processor.process(FrameWindow((slot,))) is slot.frame
    assert slot.face_paths == ("non_finite",)


def test_a_network_that_outputs_nan_leaves_the_faces_as_decoded():
    """A real engine whose weights went NaN: its faces are counted as non_finite, not pasted."""
    import torch
    from model_helpers import small_config

    from streamfilter.models.registry import build_model
    from streamfilter.runtime.torch_engine import TorchRestorer

    model = build_model(small_config(), seed=0)
    with torch.no_grad():
        next(p for p in model.parameters() if p.dim() > 1).fill_(float("nan"))
    backend = ScriptedBackend()
    processor = FaceProcessor(TorchRestorer(model), backend=backend)
    slots = analysed(processor, backend, synthetic_slots(5), [[[40, 20, 100, 80]]] * 5)
    window = windows(slots, 2)[2]
    assert processor.process(window) is window.center.frame
    assert window.center.face_paths == ("non_finite",)


@pytest.mark.slow
@pytest.mark.parametrize("clip", ["val/liveportrait_d8.mp4", "train/liveportrait_s18.mp4"])
def test_identity_round_trip_keeps_frames(shared_data, clip):
    """Crop -> identity restorer -> paste-back on the first 12 frames of real face clips: the
    output is the decoded frame itself."""
    processor = FaceProcessor(IdentityRestorer(radius=2), backend=make_backend("dlib"))
    slots = []
    with av.open(str(shared_data / "clips" / clip)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == 12:
                break
            slots.append(FrameSlot(index=index, frame=frame))
            processor.analyze(slots[-1])
    assert all(slot.faces for slot in slots), "every frame of these clips shows a face"
    for window in windows(slots, 2):
        assert processor.process(window) is window.center.frame


@pytest.mark.slow
def test_stream_cli_identity_model(shared_data, tmp_path):
    """``facedeblur-stream IN OUT --model identity`` on a real face clip (lossless output)."""
    source = tmp_path / "faces.mp4"
    with av.open(str(shared_data / "clips" / "val" / "videoretalking_5.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(20), container.decode(video=0))]
    with av.open(str(source), "w") as out:
        stream = out.add_stream("libx264rgb", rate=25, options={"qp": "0"})
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "rgb24"
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    target, stats = tmp_path / "out.mkv", tmp_path / "stats.json"
    args = [str(source), str(target), "--model", "identity", "-c", "ffv1", "--pix-fmt", "bgr0", "-q", "--stats", str(stats)]
    assert run(load_command("stream"), args, prog_name="facedeblur-stream") == 0
    counts = json.loads(stats.read_text())
    assert counts["faces"] == len(frames), "one face went through the face path in every frame"
    assert sum(counts["face_paths"].values()) == len(frames) and set(counts["face_paths"]) <= {"restored", "sharp"}
    result = video_frames(target)
    assert len(result) == len(frames)
    assert min(psnr(a, b) for a, b in zip(result, video_frames(source))) >= 45.0


def test_stream_cli_identity_model_without_faces(tmp_path):
    source = tmp_path / "bars.mp4"
    make_clip(source, frames=8, width=96, height=64, audio=None)
    target = tmp_path / "out.mp4"
    code = run(load_command("stream"), [str(source), str(target), "--model", "identity", "-q"], prog_name="facedeblur-stream")
    assert code == 0
    assert len(video_frames(target)) == 8
