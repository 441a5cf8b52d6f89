"""Paste-back: identity is exact, changes land inside the box with no seam, partly outside
frames and overlapping faces are handled."""

from __future__ import annotations

import numpy as np
import pytest

from streamfilter.faces.crop import crop_face
from streamfilter.faces.paste import feather_mask, paste_faces
from streamfilter.faces.types import CropBox


@pytest.fixture
def frame() -> np.ndarray:
    """A 120x160 textured RGB frame (seeded noise over a gradient)."""
    rng = np.random.default_rng(0)
    base = np.linspace(0, 200, 160)[None, :, None] + rng.integers(0, 50, size=(120, 160, 3))
    return base.astype(np.uint8)


def brighter(crops: np.ndarray, amount: int) -> np.ndarray:
    return np.clip(crops.astype(np.int16) + amount, 0, 255).astype(np.uint8)


def test_identity_paste_is_exact(frame):
    boxes = [CropBox(20, 10, 80), CropBox(-30, 60, 90)]
    crops = np.stack([crop_face(frame, box, 64) for box in boxes])
    out = paste_faces(frame, boxes, crops, crops.copy())
    np.testing.assert_array_equal(out, frame)
    assert out is not frame


def test_change_stays_inside_box_and_has_no_seam(frame):
    box = CropBox(40, 20, 80)
    crops = crop_face(frame, box, 64)[None]
    out = paste_faces(frame, [box], crops, brighter(crops, 40)).astype(np.int16)
    change = out - frame.astype(np.int16)
    outside = np.ones(frame.shape[:2], bool)
    outside[20:100, 40:120] = False
    assert not change[outside].any()
    assert change[60, 80].min() >= 39, "the box centre gets the full change"
    assert np.abs(change[20, 40:120]).max() <= 1, "the box edge is feathered to (almost) nothing"
    steps = max(np.abs(np.diff(change, axis=0)).max(), np.abs(np.diff(change, axis=1)).max())
    assert steps <= 40 * np.pi / (2 * 0.15 * 80) + 2, "the ramp is gradual: no step anywhere"


def test_face_partly_outside_frame(frame):
    flat = np.full_like(frame, 100)
    box = CropBox(120, -30, 80)
    crops = crop_face(flat, box, 64)[None]
    assert crops.shape == (1, 64, 64, 3)
    out = paste_faces(flat, [box], crops, brighter(crops, 30)).astype(np.int16)
    change = out - flat
    assert change[0:35, 135:160].min() >= 29, "full change where the mask is 1, up to the frame edge"
    assert not change[60:, :].any() and not change[:, :115].any()


def test_overlapping_faces_average_their_changes(frame):
    flat = np.full_like(frame, 100)
    boxes = [CropBox(20, 20, 80), CropBox(50, 20, 80)]
    crops = np.stack([crop_face(flat, box, 64) for box in boxes])
    restored = np.stack([brighter(crops[0], 20), brighter(crops[1], 60)])
    out = paste_faces(flat, boxes, crops, restored).astype(np.int16) - 100
    assert out[60, 40].min() >= 19 and out[60, 40].max() <= 21, "left face alone"
    assert out[60, 115].min() >= 59 and out[60, 115].max() <= 61, "right face alone"
    assert 35 <= out[60, 80, 0] <= 45, "mask-weighted mean where both are fully inside"


def test_feather_mask_shape_and_range():
    mask = feather_mask(100)
    assert mask.shape == (100, 100) and not mask.flags.writeable
    assert mask[50, 50] == 1.0 and 0 < mask[0, 0] < 0.01
    np.testing.assert_allclose(mask, mask.T)
    with pytest.raises(ValueError):
        feather_mask(10, 0.8)
