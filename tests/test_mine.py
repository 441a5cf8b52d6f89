"""``facedeblur mine``: kept and rejected clips, output layout, the error contract."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from media import make_clip, write_pictures
from streamfilter.cli import facedeblur, run
from streamfilter.faces.backend import make_backend
from streamfilter.faces.types import CropBox, FaceTrack
from streamfilter.mining import MiningConfig
from streamfilter.mining.scan import FrameRecord, VideoScan
from streamfilter.mining.select import select_segments
from streamfilter.io.folders import video_files

WIDTH, HEIGHT, FRAMES = 320, 240, 60
FACE_SIDE = 150
FAST = ["--min-seconds", "1", "--preset", "ultrafast", "-q"]
"""Options of every run here: 1-second segments (the clips are 2.4 s) and a fast encoder."""


@pytest.fixture(scope="module")
def face_patch(shared_data) -> np.ndarray:
    """(150, 150, 3) uint8 RGB: the dlib-detected face of ``deepface_img1.jpg`` with a margin."""
    rgb = cv2.cvtColor(cv2.imread(str(shared_data / "images" / "deepface_img1.jpg")), cv2.COLOR_BGR2RGB)
    backend = make_backend("dlib")
    detections = backend.detect(rgb)
    backend.close()
    x0, y0, x1, y1 = detections[0].box
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 0.9 * max(x1 - x0, y1 - y0)
    top, left = int(max(cy - half, 0)), int(max(cx - half, 0))
    patch = rgb[top:int(cy + half), left:int(cx + half)]
    return cv2.resize(patch, (FACE_SIDE, FACE_SIDE), interpolation=cv2.INTER_AREA)


def write_video(path: Path, frames: list[np.ndarray], *, turns: int = 0) -> Path:
    """25 fps H.264 (crf 10) of (H, W, 3) uint8 RGB frames, like
    ``ffmpeg -framerate 25 -i %03d.png -c:v libx264 -crf 10 path``; with ``turns``, stored
    turned clockwise by that many quarter turns with the display rotation that undoes it."""
    write_pictures(path, [np.rot90(image, -turns) for image in frames], rotation=90 * turns)
    return path


def face_clip(path: Path, patch: np.ndarray, step: float, *, turns: int = 0) -> Path:
    """The face pasted on a grey ramp, moving right by ``step`` pixels a frame (0: static);
    ``turns``: see :func:`write_video`."""
    background = np.repeat(np.linspace(60, 180, WIDTH, dtype=np.uint8)[None, :, None], HEIGHT, 0).repeat(3, 2)
    frames = []
    for i in range(FRAMES):
        image = background.copy()
        x, y = int(round(20 + step * i)), (HEIGHT - FACE_SIDE) // 2
        image[y:y + FACE_SIDE, x:x + FACE_SIDE] = patch
        frames.append(image)
    return write_video(path, frames, turns=turns)


@pytest.fixture(scope="module")
def moving_face(face_patch, tmp_path_factory) -> Path:
    return face_clip(tmp_path_factory.mktemp("clips") / "moving.mp4", face_patch, step=2.0)


@pytest.fixture(scope="module")
def static_face(face_patch, tmp_path_factory) -> Path:
    return face_clip(tmp_path_factory.mktemp("clips") / "static.mp4", face_patch, step=0.0)


@pytest.fixture(scope="module")
def no_face(tmp_path_factory) -> Path:
    """Moving bar over a colour ramp (tests/media.py), 60 frames, no face."""
    path = tmp_path_factory.mktemp("clips") / "bars.mp4"
    make_clip(path, frames=FRAMES, width=WIDTH, height=HEIGHT, audio=None)
    return path


def mine(video: Path, out: Path, *options: str) -> dict:
    """Run ``facedeblur mine VIDEO OUT`` with :data:`FAST` options; its ``mining.json``."""
    result = CliRunner().invoke(facedeblur, ["mine", str(video), str(out), *FAST, *options])
    assert result.exit_code == 0, result.output
    return json.loads((out / "mining.json").read_text())


def test_moving_face_is_kept_with_landmarks(moving_face, tmp_path):
    out = tmp_path / "out"
    summary = mine(moving_face, out)
    (entry,) = summary["inputs"]
    assert entry["frames"] == FRAMES and entry["kept"], entry
    kept = entry["kept"][0]
    clip = out / kept["clip"]
    assert video_files(out) == [out / k["clip"] for k in entry["kept"]]
    with av.open(str(clip)) as container:
        pts = [frame.pts for frame in container.decode(video=0)]
    assert len(pts) == kept["frames"] == kept["source_frames"][1] - kept["source_frames"][0] >= 25
    landmarks = json.loads((out / (clip.stem + ".landmarks.json")).read_text())
    assert {"input", "backend", "width", "height", "time_base", "frames"} <= set(landmarks)
    assert (landmarks["width"], landmarks["height"], landmarks["input"]) == (WIDTH, HEIGHT, clip.name)
    assert [f["index"] for f in landmarks["frames"]] == list(range(kept["frames"]))
    assert [f["pts"] for f in landmarks["frames"]] == pts
    assert np.allclose([f["time"] for f in landmarks["frames"]], np.arange(len(pts)) / 25, atol=1e-4)
    xs = []
    for frame in landmarks["frames"]:
        (track,) = frame["tracks"]
        points = np.array(track["points"])
        assert points.shape == (68, 2) and len(track["box"]) == 4
        xs.append(points[:, 0].mean())
    assert np.allclose(np.diff(xs).mean(), 2.0, atol=0.5)
    assert 0.004 <= kept["motion"] <= 0.05


def test_portrait_phone_clip_is_mined_upright(face_patch, tmp_path):
    """Stored on its side with a 90-degree display rotation: the kept clip keeps the rotation,
    its landmarks are in upright pixels and follow the face moving right."""
    video = face_clip(tmp_path / "phone.mp4", face_patch, step=2.0, turns=1)
    (entry,) = mine(video, tmp_path / "out")["inputs"]
    assert entry["kept"], entry
    clip = tmp_path / "out" / entry["kept"][0]["clip"]
    with av.open(str(clip)) as container:
        assert next(container.decode(video=0)).rotation == 90
    landmarks = json.loads((tmp_path / "out" / (clip.stem + ".landmarks.json")).read_text())
    assert (landmarks["width"], landmarks["height"], landmarks["rotation"]) == (WIDTH, HEIGHT, 90)
    xs = [np.array(frame["tracks"][0]["points"])[:, 0].mean() for frame in landmarks["frames"]]
    assert np.allclose(np.diff(xs).mean(), 2.0, atol=0.5)


def test_static_face_is_rejected_as_too_static(static_face, tmp_path):
    (entry,) = mine(static_face, tmp_path / "out")["inputs"]
    assert entry["kept"] == [] and entry["kept_frames"] == 0
    assert entry["rejected_segments"]["too_static"]["segments"] >= 1
    assert not list((tmp_path / "out").glob("*.mp4"))


def test_clip_without_face_is_rejected(no_face, tmp_path):
    (entry,) = mine(no_face, tmp_path / "out")["inputs"]
    assert entry["kept"] == []
    assert entry["rejected_frames"]["no_face"] == FRAMES


def test_overwrite_replaces_previous_clips_only(moving_face, static_face, tmp_path):
    out = tmp_path / "out"
    first = mine(moving_face, out)["inputs"][0]["kept"][0]["clip"]
    (out / "notes.txt").write_text("kept")
    code = run(facedeblur, ["mine", str(static_face), str(out), "-q"])
    assert code == 2
    mine(static_face, out, "-y")
    assert not (out / first).exists() and (out / "notes.txt").exists()


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["{missing}", "{bars}", "{out}"], 1, "missing.mp4"),
        (["{bars}", "{out}", "--min-iou", "2"], 2, "min_iou must be in (0, 1], got 2.0"),
        (["{bars}", "{out}", "--eye-ratio", "0.6", "0.5"], 2, "eye_ratio"),
        (["{bars}", "{out}", "--preset", "turbo"], 2, "turbo"),
        (["{out}"], 2, "Missing argument"),
    ],
)
def test_errors_are_one_line(args, code, message, tmp_path, capsys):
    bars = tmp_path / "bars.mp4"
    make_clip(bars, frames=3, width=64, height=48, audio=None)
    values = {"missing": str(tmp_path / "missing.mp4"), "bars": str(bars), "out": str(tmp_path / "out")}
    assert run(facedeblur, ["mine", *(a.format(**values) for a in args)]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and not any("Traceback" in line for line in err)


def record(index: int, track_id: int | None, refit: float = 0.01) -> FrameRecord:
    """A frame record with a face of ``track_id`` (``None``: no face) and good measurements."""
    if track_id is None:
        return FrameRecord(index=index, pts=index, time=index / 25, subject=None)
    face = FaceTrack(track_id=track_id, box=np.array([0, 0, 100, 100], np.float32), points=np.zeros((68, 2), np.float32),
                     score=1.0, crop_box=CropBox(0, 0, 160))
    return FrameRecord(index=index, pts=index, time=index / 25, subject=face, detector_iou=0.9, refit_error=refit,
                       eye_ratio=0.4, motion=0.01, sharpness=1000.0)


def test_segments_split_on_track_change_and_lost_faces_not_on_a_refit_spike():
    tracks = [0] * 30 + [None] * 2 + [1] * 20 + [2] * 30
    records = [record(i, t, refit=0.5 if i == 10 else 0.01) for i, t in enumerate(tracks)]
    scan = VideoScan(path=Path("x.mp4"), backend="dlib", width=320, height=240, rate=Fraction(25), time_base=Fraction(1, 25),
                     frames=records)
    selection = select_segments(scan, MiningConfig(min_seconds=1.0))
    assert [(s.start, s.stop, s.track_id, s.reason) for s in selection.segments] == [
        (0, 30, 0, None), (32, 52, 1, "too_short"), (52, 82, 2, None)]
    assert selection.frame_reasons == {"no_face": 2, "bad_fit": 0, "too_fast": 0, "not_sharp": 0}
