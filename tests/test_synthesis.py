"""Blur synthesis: seeded, deterministic, and actually blurring."""

from __future__ import annotations

import numpy as np
import pytest

from streamfilter.sharpness import sharpness
from streamfilter.train.degrade import DegradeConfig, degrade_window, h264
from streamfilter.train.kernels import gaussian_kernel, motion_kernel
from streamfilter.train.pseudo_video import CameraPath, PseudoVideo


@pytest.fixture(scope="module")
def face_like() -> np.ndarray:
    """(96, 96, 3) uint8 image with edges at several scales (a stand-in for a sharp face crop)."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:96, 0:96]
    image = 128 + 60 * np.sin(xx / 3.0) * np.cos(yy / 5.0)
    image = image[..., None] + rng.normal(0, 12, (96, 96, 3))
    image[30:40, 20:76] = 20  # a dark "eyebrow" bar
    image[60:64, 30:66] = 230
    return np.clip(image, 0, 255).astype(np.uint8)


def test_kernels_are_normalised_and_centred():
    for length, angle, curvature in [(1.0, 0.0, 0.0), (7.5, 0.7, 0.0), (21.0, 2.0, 0.3)]:
        k = motion_kernel(length, angle, curvature)
        assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
        assert abs(float(k.sum()) - 1.0) < 1e-5
        ys, xs = np.mgrid[0 : k.shape[0], 0 : k.shape[1]]
        c = (k.shape[0] - 1) / 2
        assert abs(float((k * xs).sum()) - c) < 0.6 and abs(float((k * ys).sum()) - c) < 0.6
    horizontal = motion_kernel(9.0, 0.0)
    rows, columns = horizontal.sum(axis=1), horizontal.sum(axis=0)
    assert rows.max() > 0.9 and columns.max() < 0.2  # a horizontal path: one row, many columns
    assert abs(float(gaussian_kernel(1.5).sum()) - 1.0) < 1e-5
    with pytest.raises(ValueError, match="length"):
        motion_kernel(0.5, 0.0)


def test_degrade_window_is_seeded_and_deterministic(face_like):
    window = np.stack([face_like] * 5)
    a, info_a = degrade_window(window, face_size=80, rng=np.random.default_rng(3))
    b, info_b = degrade_window(window, face_size=80, rng=np.random.default_rng(3))
    c, _ = degrade_window(window, face_size=80, rng=np.random.default_rng(4))
    assert np.array_equal(a, b) and info_a == info_b
    assert not np.array_equal(a, c)


def test_clean_windows_keep_their_sharp_frames_exactly(face_like):
    window = np.stack([face_like] * 5)
    clean = DegradeConfig(p_clean=1.0, noise_sigma=(0.02, 0.02), p_jpeg=0.5, p_h264=0.5)
    rng = np.random.default_rng(5)
    sharp_frames = 0
    for _ in range(10):
        out, applied = degrade_window(window, face_size=80, rng=rng, config=clean)
        for frame, info in zip(out, applied, strict=True):
            if info.kind == "sharp":
                sharp_frames += 1
                assert np.array_equal(frame, face_like), "no noise, no compression"
    assert sharp_frames > 0
    noisy, applied = degrade_window(window, face_size=80, rng=np.random.default_rng(5),
                                    config=DegradeConfig(noise_sigma=(0.02, 0.02)))
    assert not all(np.array_equal(f, face_like) for f, i in zip(noisy, applied) if i.kind == "sharp")
    with pytest.raises(ValueError, match="p_clean"):
        DegradeConfig(p_clean=1.5)


def test_blurred_frames_are_less_sharp(face_like):
    window = np.stack([face_like] * 5)
    config = DegradeConfig(p_sharp_center=0.0, p_sharp_neighbour=0.0, noise_sigma=(0.0, 0.0), p_jpeg=0.0, p_h264=0.0)
    rng = np.random.default_rng(11)
    reference = sharpness(face_like)
    for _ in range(5):
        blurred, applied = degrade_window(window, face_size=80, rng=rng, config=config)
        assert all(info.kind != "sharp" for info in applied)
        for frame in blurred:
            assert sharpness(frame) < 0.8 * reference


def test_windows_mix_sharp_and_blurred_frames(face_like):
    window = np.stack([face_like] * 5)
    rng = np.random.default_rng(0)
    kinds = [info.kind for _ in range(40) for info in degrade_window(window, face_size=80, rng=rng)[1]]
    assert {"sharp", "motion", "gaussian"} <= set(kinds)


def test_frame_averaging_uses_sub_frames(face_like):
    path = CameraPath(np.array([0.05, 0.0, 0.0, 0.0]), np.zeros(4))
    video = PseudoVideo(face_like, np.array([[1.0, 0, 0], [0, 1.0, 0]]), 96, path)
    config = DegradeConfig(p_sharp_center=0.0, p_sharp_neighbour=0.0, p_motion=0.0, p_average=1.0,
                           noise_sigma=(0.0, 0.0), p_jpeg=0.0, p_h264=0.0)
    sharp = video.window(5)
    blurred, applied = degrade_window(sharp, face_size=80, rng=np.random.default_rng(1), config=config,
                                      sub_frames=lambda i, n: video.sub_frames(5, i, n))
    assert all(info.kind == "average" and 3 <= info.size <= 11 for info in applied)
    assert sharpness(blurred[2]) < 0.8 * sharpness(sharp[2])


def test_pseudo_video_moves_and_maps_points(face_like):
    rng = np.random.default_rng(5)
    video = PseudoVideo(face_like, np.array([[1.0, 0, 0], [0, 1.0, 0]]), 96, CameraPath.random(rng))
    frames = video.window(5)
    assert frames.shape == (5, 96, 96, 3)
    assert np.abs(frames[0].astype(int) - frames[4].astype(int)).mean() > 1.0
    points = np.array([[48.0, 48.0], [10.0, 20.0]])
    assert np.allclose(video.points(points, 0.0), points)
    moved = video.points(points, 2.0)
    assert not np.allclose(moved, points)


def test_h264_round_trip_keeps_shape_and_content(face_like):
    frames = np.stack([face_like[:95, :93]] * 3)
    out = h264(frames, crf=20)
    assert out.shape == frames.shape
    assert np.abs(out.astype(int) - frames.astype(int)).mean() < 12


def test_losses_reward_sharp_edges():
    import torch

    from streamfilter.train.losses import branch_loss, combine_loss, gradient_l1, huber_loss

    target = torch.zeros(1, 3, 16, 16)
    target[..., 8:] = 1.0
    blurred = torch.nn.functional.avg_pool2d(target, 5, stride=1, padding=2, count_include_pad=False)
    assert gradient_l1(target, target).item() == 0.0
    assert gradient_l1(blurred, target).item() > 0.0
    assert branch_loss(blurred, target) > combine_loss(blurred, target) > 0
    assert huber_loss(blurred, target).item() < combine_loss(blurred, target).item()
