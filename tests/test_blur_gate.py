"""Blur-aware gating: ``blur_score`` on a real face, ``BlurGate`` in the face processor, the
paths counted in the stats, and the ``--blur-gate`` option."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from streamfilter.cli import load_command, run
from streamfilter.errors import UsageError
from streamfilter.faces.backend import make_backend
from streamfilter.faces.crop import crop_face
from streamfilter.faces.gate import DEFAULT_BLUR_GATE, RESTORED, SHARP, BlurGate
from streamfilter.faces.processor import FaceProcessor
from streamfilter.faces.tracker import FaceTracker
from streamfilter.frames import FrameSlot, FrameWindow
from streamfilter.sharpness import blur_score
from test_faces_processor import RecordingRestorer, analysed, synthetic_slots
from test_faces_tracker import ScriptedBackend


def motion_blur(image: np.ndarray, length: int) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2] = 1.0 / length
    return cv2.filter2D(image, -1, kernel)


@pytest.fixture(scope="module")
def face_frame(shared_data):
    """A sharp 720p training frame and the tracker's crop box of its face."""
    with av.open(str(shared_data / "clips" / "train" / "liveportrait_s18.mp4")) as container:
        rgb = next(container.decode(video=0)).to_ndarray(format="rgb24")
    (track,) = FaceTracker(make_backend("dlib")).update(rgb, 0.0)
    return rgb, track.crop_box


def test_blur_score_separates_a_sharp_face_from_blurred_copies(face_frame):
    rgb, box = face_frame
    crop = crop_face(rgb, box, 128)
    sharp = blur_score(crop)
    assert sharp < DEFAULT_BLUR_GATE
    scores = [blur_score(cv2.GaussianBlur(crop, (0, 0), sigma)) for sigma in (0.7, 1.0, 1.5, 2.0)]
    assert scores == sorted(scores) and scores[0] > sharp, "more blur, higher score"
    assert scores[1] > DEFAULT_BLUR_GATE
    assert blur_score(motion_blur(crop, 5)) > DEFAULT_BLUR_GATE


def test_blur_score_ignores_contrast_and_crop_resolution(face_frame):
    rgb, box = face_frame
    crop = crop_face(rgb, box, 128)
    dim = (crop * 0.5 + 60).astype(np.uint8)
    assert abs(blur_score(dim) - blur_score(crop)) < 0.01
    assert abs(blur_score(crop_face(rgb, box, 256)) - blur_score(crop)) < 0.01


def test_blur_score_of_a_crop_without_detail_is_one():
    assert blur_score(np.full((64, 64, 3), 120, np.uint8)) == 1.0


def test_gate_threshold_must_not_be_negative():
    with pytest.raises(UsageError, match="--blur-gate"):
        BlurGate(-0.1)


def test_gate_zero_restores_everything_and_above_one_nothing():
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert BlurGate(0.0).path(noise) == RESTORED
    assert BlurGate(1.01).path(np.full((32, 32, 3), 9, np.uint8)) == SHARP


def textured_slot() -> FrameSlot:
    """A 160x120 frame: random noise (full of fine detail) on the left, flat grey on the right."""
    (slot,) = synthetic_slots(1)
    image = slot.rgb().copy()
    image[:, :80] = np.random.default_rng(1).integers(0, 256, (120, 80, 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    frame.pts, frame.time_base = slot.frame.pts, slot.frame.time_base
    return FrameSlot(index=0, frame=frame)


def test_processor_restores_only_faces_the_gate_finds_blurred():
    backend = ScriptedBackend()
    restorer = RecordingRestorer(brighten=20, crop_size=32, heatmap_size=16, radius=0)
    processor = FaceProcessor(restorer, backend=backend, gate=BlurGate(DEFAULT_BLUR_GATE))
    (slot,) = analysed(processor, backend, [textured_slot()], [[[10, 40, 50, 80], [105, 40, 145, 80]]])
    out = processor.process(FrameWindow((slot,)))
    sharp_face, flat_face = slot.faces
    assert slot.face_paths == (SHARP, RESTORED)
    assert [len(batch) for batch in restorer.batches] == [1], "only the flat face went to the restorer"
    change = out.astype(np.int16) - slot.rgb()
    assert not change[:, :80].any(), "the detailed face keeps its pixels"
    cy, cx = (int(v) for v in flat_face.crop_box.center[::-1])
    assert change[cy, cx].min() == 20


def test_processor_passes_frame_through_when_every_face_is_sharp():
    backend = ScriptedBackend()
    restorer = RecordingRestorer(brighten=20, crop_size=32, heatmap_size=16, radius=0)
    processor = FaceProcessor(restorer, backend=backend, gate=BlurGate(DEFAULT_BLUR_GATE))
    (slot,) = analysed(processor, backend, [textured_slot()], [[[10, 40, 50, 80]]])
    assert processor.process(FrameWindow((slot,))) is slot.frame
    assert slot.face_paths == (SHARP,) and restorer.batches == []


def test_stream_cli_refuses_a_negative_gate(tmp_path):
    code = run(load_command("stream"), ["in.mp4", str(tmp_path / "out.mp4"), "--blur-gate", "-1"],
               prog_name="facedeblur-stream")
    assert code == 2


def test_each_model_gets_its_own_default_threshold(monkeypatch):
    from streamfilter import factory
    from streamfilter.faces.gate import MODEL_BLUR_GATES, default_blur_gate
    from streamfilter.models.registry import get_config

    assert default_blur_gate("unet") == MODEL_BLUR_GATES["unet"]
    assert default_blur_gate("finenet-lite") == 0.125 and default_blur_gate(None) == DEFAULT_BLUR_GATE
    built = []
    monkeypatch.setattr("streamfilter.faces.processor.FaceProcessor",
                        lambda restorer, gate, **kwargs: built.append(gate.threshold))
    monkeypatch.setattr("streamfilter.faces.backend.make_backend", lambda *args, **kwargs: None)
    restorer = RecordingRestorer(brighten=1, crop_size=32, heatmap_size=16, radius=0)
    restorer.config = get_config("unet")
    factory.face_processor(restorer, factory.ProcessorOptions())
    factory.face_processor(restorer, factory.ProcessorOptions(blur_gate=0.0))
    del restorer.config
    factory.face_processor(restorer, factory.ProcessorOptions())
    assert built == [MODEL_BLUR_GATES["unet"], 0.0, DEFAULT_BLUR_GATE]
