"""Crop boxes and crops: coordinate mapping, edge padding, integer boxes."""

from __future__ import annotations

import numpy as np
import pytest

from streamfilter.faces.crop import crop_face, cut_box
from streamfilter.faces.types import CropBox, FaceTrack


def test_around_centres_box():
    box = CropBox.around(50.0, 40.0, 21.0)
    assert box == CropBox(40, 30, 21) and box.center == (50.0, 40.0)


def test_point_mapping_round_trip_and_matches_resize():
    box = CropBox(10, 20, 100)
    points = np.array([[10.0, 20.0], [59.5, 69.5], [109.0, 119.0]], np.float32)
    np.testing.assert_allclose(box.to_frame(box.to_crop(points, 50), 50), points, atol=1e-4)
    frame = np.zeros((200, 200, 3), np.uint8)
    frame[68:72, 58:62] = 255
    crop = crop_face(frame, box, 50)
    ys, xs = np.nonzero(crop[..., 0] > 100)
    centre = box.to_crop(np.array([[59.5, 69.5]], np.float32), 50)[0]
    assert abs(xs.mean() - centre[0]) < 0.3 and abs(ys.mean() - centre[1]) < 0.3


def test_cut_pads_by_replication_outside_frame():
    frame = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
    patch = cut_box(frame, CropBox(-2, -1, 4))
    assert patch.shape == (4, 4, 3)
    np.testing.assert_array_equal(patch[0, 0], frame[0, 0])
    np.testing.assert_array_equal(patch[1:, 2:], frame[:3, :2])
    with pytest.raises(ValueError, match="outside"):
        cut_box(frame, CropBox(10, 0, 3))


def test_face_track_checks_shapes():
    box = CropBox(0, 0, 10)
    with pytest.raises(ValueError, match="points"):
        FaceTrack(track_id=0, box=np.zeros(4, np.float32), points=np.zeros((5, 2), np.float32), score=1.0, crop_box=box)
    track = FaceTrack(track_id=3, box=np.zeros(4, np.float32), points=np.ones((68, 2), np.float32), score=0.5, crop_box=box)
    record = track.to_json()
    assert record["id"] == 3 and len(record["points"]) == 68 and record["crop_box"] == [0, 0, 10, 10]
