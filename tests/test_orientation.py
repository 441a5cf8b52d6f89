"""Display rotation: the face stage works on upright frames of a phone's portrait video and
pastes back into the stored frame; the output keeps the input's display matrix."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from streamfilter.cli import load_command, run
from streamfilter.faces.processor import FaceProcessor
from streamfilter.faces.tracker import iou
from streamfilter.frames import FrameSlot, FrameWindow
from streamfilter.orientation import quarter_turns, stored_rect, turn_back, turn_upright, upright_rgb
from test_faces_processor import RecordingRestorer, analysed
from test_faces_tracker import ScriptedBackend

from media import make_clip, write_pictures


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_stored_rect_inverts_the_upright_turn(turns):
    stored = np.arange(6 * 10 * 3).reshape(6, 10, 3)
    upright = turn_upright(stored, turns)
    x0, y0, w, h = 1, 2, 3, 4 if turns % 2 else 2
    sx, sy, sw, sh = stored_rect(x0, y0, w, h, turns, 10, 6)
    np.testing.assert_array_equal(turn_back(upright[y0:y0 + h, x0:x0 + w], turns), stored[sy:sy + sh, sx:sx + sw])


def sideways_slot(tmp_path, rotation: int) -> tuple[FrameSlot, np.ndarray]:
    """A decoded 160 x 120 (upright) textured frame stored turned, with its display rotation;
    and the upright picture."""
    y, x = np.mgrid[0:120, 0:160]
    upright = np.stack([x, y * 2, 100 + 40 * np.sin(x / 5.0)], axis=-1).astype(np.uint8)
    turns = rotation // 90 % 4
    path = tmp_path / f"sideways{rotation}.mp4"
    write_pictures(path, [turn_back(upright, turns)], rotation=rotation)
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    return FrameSlot(index=0, frame=frame), upright


@pytest.mark.parametrize("rotation", [90, 270])
def test_sideways_frame_is_tracked_upright_and_pasted_back_turned(tmp_path, rotation):
    slot, upright = sideways_slot(tmp_path, rotation)
    assert quarter_turns(slot.frame) == rotation // 90 and slot.frame.height == 160
    assert np.abs(slot.upright().astype(int) - upright).mean() < 2
    backend = ScriptedBackend()
    processor = FaceProcessor(RecordingRestorer(brighten=20, crop_size=32, heatmap_size=16, radius=0), backend=backend)
    analysed(processor, backend, [slot], [[[40, 20, 100, 80]]])
    box = slot.faces[0].crop_box
    out = processor.process(FrameWindow((slot,)))
    assert isinstance(out, av.VideoFrame) and (out.width, out.height) == (120, 160)
    lift = turn_upright(out.to_ndarray(format="rgb24"), slot.turns).astype(np.int16) - slot.upright()
    cy, cx = (int(v) for v in box.center[::-1])
    assert np.all(np.abs(lift[cy, cx] - 20) <= 2), "the face, seen upright, is brighter"
    outside = np.ones(lift.shape[:2], bool)
    outside[max(box.y0, 0):box.y0 + box.side, max(box.x0, 0):box.x0 + box.side] = False
    assert np.abs(lift[outside]).max() <= 1, "nothing changes outside the crop box, seen upright"


def tracks_per_frame(path) -> tuple[dict, list]:
    document = json.loads(path.read_text())
    return document, [[t["box"] for t in frame["tracks"]] for frame in document["frames"]]


@pytest.mark.slow
def test_phone_video_faces_are_found_as_upright(shared_data, tmp_path):
    """A real face clip stored on its side with a 90 degree display matrix (as phones write
    portrait video): the same faces as in the upright clip, and the output plays upright."""
    with av.open(str(shared_data / "clips" / "val" / "videoretalking_5.mp4")) as container:
        pictures = [f.to_ndarray(format="rgb24") for _, f in zip(range(12), container.decode(video=0))]
    write_pictures(tmp_path / "upright.mp4", pictures)
    write_pictures(tmp_path / "phone.mp4", [turn_back(p, 1) for p in pictures], rotation=90)
    for name in ("upright", "phone"):
        args = [str(tmp_path / f"{name}.mp4"), "--json", str(tmp_path / f"{name}.json")]
        assert run(load_command("landmarks"), args, prog_name="facedeblur landmarks") == 0
    upright_doc, upright_boxes = tracks_per_frame(tmp_path / "upright.json")
    phone_doc, phone_boxes = tracks_per_frame(tmp_path / "phone.json")
    assert phone_doc["rotation"] == 90 and (phone_doc["width"], phone_doc["height"]) == (upright_doc["width"], upright_doc["height"])
    assert all(len(boxes) == 1 for boxes in upright_boxes)
    assert [len(b) for b in phone_boxes] == [len(b) for b in upright_boxes]
    overlaps = [iou(np.array(a[0]), np.array(b[0])) for a, b in zip(phone_boxes, upright_boxes)]
    assert min(overlaps) > 0.8, overlaps

    stats = tmp_path / "stats.json"
    args = [str(tmp_path / "phone.mp4"), str(tmp_path / "out.mp4"), "--model", "identity", "-q", "--stats", str(stats)]
    assert run(load_command("stream"), args, prog_name="facedeblur-stream") == 0
    assert json.loads(stats.read_text())["faces"] == 12
    with av.open(str(tmp_path / "out.mp4")) as container:
        first = next(container.decode(video=0))
    assert first.rotation == 90 and (first.width, first.height) == (pictures[0].shape[0], pictures[0].shape[1])


def test_compare_of_a_portrait_video_stands_side_by_side_as_displayed(tmp_path):
    source, target = tmp_path / "phone.mp4", tmp_path / "compare.mp4"
    make_clip(source, frames=6, width=64, height=48, audio=None, rotation=90)
    args = [str(source), str(target), "--model", "none", "--compare", "-q"]
    assert run(load_command("stream"), args, prog_name="facedeblur-stream") == 0
    with av.open(str(source)) as container:
        shown = upright_rgb(next(container.decode(video=0)))
    with av.open(str(target)) as container:
        first = next(container.decode(video=0))
    assert first.rotation == 90 and (first.width, first.height) == (64, 96)
    both = upright_rgb(first).astype(np.int16)
    assert both.shape == (64, 96, 3)
    assert np.abs(both[:, :48] - shown).mean() < 3 and np.abs(both[:, 48:] - shown).mean() < 3
