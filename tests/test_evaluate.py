"""``facedeblur eval``: metrics, seeded clip blur, lossless clips, the command end to end and its errors."""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamfilter.cli import load_command, run
from streamfilter.errors import UsageError
from streamfilter.evaluation.blur_clip import EVAL_DEGRADE, blur_clip, clip_rng, neighbours
from streamfilter.evaluation.clip_io import Clip, decode_rgb, read_clip, write_lossless
from streamfilter.evaluation.metrics import PSNR_CEILING, SSIM_C1, SSIM_WINDOW, psnr, ssim
from streamfilter.evaluation.oracle import OracleRestorer, oracle_crop_size
from streamfilter.evaluation.report import face_paths_line
from streamfilter.evaluation.runner import ClipResult
from streamfilter.evaluation.strip import CROP_HEIGHT, LABEL_BAND
from streamfilter.faces.crop import crop_face
from streamfilter.faces.types import CropBox
from streamfilter.restorer import FaceWindow
from tests.media import make_clip

FACE_PHOTO = "deepface_img11.jpg"


def textured(height: int, width: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8: smooth colour ramps plus blurred noise texture (edges for blur to remove)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / width, yy * 255 / height, (xx + yy) * 127 / (width + height)], axis=-1)
    texture = cv2.GaussianBlur(rng.normal(0, 40, (height, width, 3)), (0, 0), 1.0)
    return np.clip(base + texture, 0, 255).astype(np.uint8)


def moving_frames(count: int, height: int, width: int) -> np.ndarray:
    """(T, H, W, 3) uint8: a textured picture sliding 2 px per frame."""
    wide = textured(height, width + 2 * count)
    return np.stack([wide[:, 2 * i:2 * i + width] for i in range(count)])


def test_psnr_identical_is_capped_and_unit_error_matches_definition():
    a = textured(32, 40)
    assert psnr(a, a) == PSNR_CEILING
    b = a.copy()
    b[a < 255] += 1
    b[a == 255] -= 1
    assert psnr(a, b) == pytest.approx(10 * np.log10(255.0**2 / 1.0))
    with pytest.raises(ValueError, match="one shape"):
        psnr(a, a[:-1])


def test_ssim_identical_symmetric_and_lowered_by_noise():
    rng = np.random.default_rng(1)
    a = textured(48, 64)
    slight = np.clip(a + rng.normal(0, 4, a.shape), 0, 255).astype(np.uint8)
    strong = np.clip(a + rng.normal(0, 25, a.shape), 0, 255).astype(np.uint8)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert ssim(a, strong) == pytest.approx(ssim(strong, a), abs=1e-12)
    assert 1.0 > ssim(a, slight) > ssim(a, strong)


def test_ssim_of_flat_images_is_the_luminance_term():
    """Flat images have no variance, so SSIM = (2 mx my + C1) / (mx^2 + my^2 + C1) exactly."""
    x = np.full((20, 30, 3), 100, np.uint8)
    y = np.full((20, 30, 3), 140, np.uint8)
    expected = (2 * 100 * 140 + SSIM_C1) / (100**2 + 140**2 + SSIM_C1)
    assert ssim(x, y) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="at least"):
        ssim(x[:SSIM_WINDOW - 1], y[:SSIM_WINDOW - 1])


def test_neighbours_are_centred_and_replicate_edges():
    frames = np.arange(6, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 3, 3), np.uint8)
    assert neighbours(frames, 3, 3)[:, 0, 0, 0].tolist() == [2, 3, 4]
    assert neighbours(frames, 0, 4)[:, 0, 0, 0].tolist() == [0, 0, 0, 1]
    assert neighbours(frames, 5, 5)[:, 0, 0, 0].tolist() == [3, 4, 5, 5, 5]


def test_blur_clip_is_seeded_and_blurred_frames_score_lower_than_sharp_ones():
    frames = moving_frames(15, 48, 80)
    sizes = np.full(len(frames), 40.0)
    first = blur_clip(frames, sizes, rng=clip_rng(0, "clip.mp4"))
    again = blur_clip(frames, sizes, rng=clip_rng(0, "clip.mp4"))
    other = blur_clip(frames, sizes, rng=clip_rng(1, "clip.mp4"))
    np.testing.assert_array_equal(first.frames, again.frames)
    assert first.draws == again.draws and first.compression == again.compression
    assert not np.array_equal(first.frames, other.frames)
    assert first.frames.shape == frames.shape
    scores = [psnr(b, s) for b, s in zip(first.frames, frames)]
    sharp = [p for p, d in zip(scores, first.draws) if d.kind == "sharp"]
    blurred = [p for p, d in zip(scores, first.draws) if d.kind != "sharp"]
    assert sharp and blurred, f"seed 0 should give both kinds over 15 frames, got {first.kinds()}"
    assert np.mean(blurred) < np.mean(sharp)


def test_clean_blur_draws_the_same_blur_and_leaves_sharp_frames_untouched():
    frames = moving_frames(15, 48, 80)
    sizes = np.full(len(frames), 40.0)
    usual = blur_clip(frames, sizes, rng=clip_rng(0, "clip.mp4"))
    clean = blur_clip(frames, sizes, rng=clip_rng(0, "clip.mp4"), clean=True)
    assert clean.draws == usual.draws and clean.noise_sigma == 0.0 and clean.compression == "none"
    sharp = [i for i, d in enumerate(clean.draws) if d.kind == "sharp"]
    assert sharp and len(sharp) < len(frames)
    np.testing.assert_array_equal(clean.frames[sharp], frames[sharp])
    assert usual.noise_sigma > 0 and not np.array_equal(usual.frames[sharp], frames[sharp])


def test_shorter_clip_blurs_to_a_prefix_of_the_longer_one():
    """Clip-level draws come first, so frame k does not depend on frames past k + 5."""
    frames = moving_frames(16, 40, 56)
    sizes = np.full(len(frames), 30.0)
    config = dataclasses.replace(EVAL_DEGRADE, p_h264=0.0)
    short = blur_clip(frames[:10], sizes[:10], rng=clip_rng(3, "c"), config=config)
    full = blur_clip(frames, sizes, rng=clip_rng(3, "c"), config=config)
    np.testing.assert_array_equal(short.frames[:5], full.frames[:5])
    assert short.draws == full.draws[:10] and short.compression == full.compression


def test_lossless_clip_round_trip_keeps_pixels_and_timing(tmp_path):
    frames = moving_frames(5, 36, 52)
    clip = Clip(name="c", frames=frames, pts=(0, 512, 1024, 1536, 2048), time_base=Fraction(1, 15360), rate=Fraction(30))
    path = tmp_path / "c.mkv"
    write_lossless(path, frames, like=clip)
    np.testing.assert_array_equal(np.stack(list(decode_rgb(path))), frames)
    back = read_clip(path, max_frames=3)
    assert len(back.frames) == 3
    assert back.times == pytest.approx(clip.times[:3], abs=1e-3)


@pytest.fixture
def face_clip(shared_data, tmp_path) -> Path:
    """A 12-frame 320x240 lossless clip: a real face photo (200 px high) sliding 3 px per frame
    over a textured background; written with write_lossless (FFV1, bgr0)."""
    photo = cv2.cvtColor(cv2.imread(str(shared_data / "images" / FACE_PHOTO)), cv2.COLOR_BGR2RGB)
    photo = cv2.resize(photo, (150, 200), interpolation=cv2.INTER_AREA)
    background = moving_frames(12, 240, 320)
    frames = background.copy()
    for i in range(len(frames)):
        frames[i, 20:220, 60 + 3 * i:210 + 3 * i] = photo
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "face.mkv"
    write_lossless(path, frames, like=Clip(name="face", frames=frames, pts=tuple(range(0, 480, 40)),
                                           time_base=Fraction(1, 1000), rate=Fraction(25)))
    return path


@pytest.mark.slow
def test_eval_model_none_gains_exactly_nothing(face_clip, tmp_path, capsys):
    make_clip(face_clip.parent / "bars.mp4", frames=6, width=96, height=64, audio=None)
    out = tmp_path / "out"
    args = ["--data", str(face_clip.parent), "--model", "none", "--out", str(out), "-q", "--strip-frames", "3"]
    assert run(load_command("eval"), args) == 0
    results = json.loads((out / "results.json").read_text())
    bars, face = results["clips"]
    assert bars["name"] == "bars.mp4" and bars["skipped"] and bars["face_frames"] == 0
    assert face["skipped"] is None and face["frames"] == 12 and face["face_frames"] == 12
    blurred, none = face["scores"]["blurred"], face["scores"]["none"]
    assert none == blurred, "passthrough output must score exactly like its input"
    kinds = [d["kind"] for d in face["blur"]["per_frame"]]
    face_psnr = blurred["per_frame"]["face_psnr"]
    blurred_frames = [p for p, k in zip(face_psnr, kinds) if k != "sharp"]
    assert blurred_frames and max(blurred_frames) < PSNR_CEILING
    assert results["mean"]["none"] == results["mean"]["blurred"]
    groups = results["gain_by_input"]
    assert sum(g["frames"] for g in groups) == 12
    assert all(g["gain"]["none"] == 0.0 for g in groups if g["frames"]) and all(g["gain"]["none"] is None for g in groups if not g["frames"])
    assert groups[-1]["input"] == ">= 40 dB" and groups[-1]["frames"] == sum(p >= 40 for p in face_psnr)
    by_kind = {g["kind"]: g for g in results["gain_by_kind"]}
    assert list(by_kind) == ["sharp", "motion", "average", "gaussian"]
    assert {k: g["frames"] for k, g in by_kind.items() if g["frames"]} == face["blur"]["kinds"]
    assert all(g["gain"]["none"] == 0.0 for g in by_kind.values() if g["frames"])
    assert face["pipeline"]["none"]["frames_out"] == 12
    strip = cv2.imread(str(out / face["strip"]))
    assert strip.shape == (LABEL_BAND + 3 * CROP_HEIGHT, 3 * CROP_HEIGHT, 3)
    report = (out / "report.md").read_text()
    assert "| none |" in report and "Skipped: no face found" in report and "| >= 40 dB |" in report
    assert "| degradation | frames | none gain (dB) |" in report and "| sharp |" in report
    assert "| none |" in capsys.readouterr().out


def test_eval_refuses_missing_folder_and_folder_without_videos(tmp_path, capsys):
    assert run(load_command("eval"), ["--data", str(tmp_path / "absent"), "--model", "none"]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("not a video")
    assert run(load_command("eval"), ["--data", str(tmp_path), "--model", "none", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "no videos" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.fixture
def bars_folder(tmp_path) -> Path:
    folder = tmp_path / "bars"
    folder.mkdir()
    make_clip(folder / "bars.mp4", frames=6, width=96, height=64, audio=None)
    return folder


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--model", "none", "--model", "none"], 2, "more than once"),
        (["--model", "no-such-model"], 1, "unknown model"),
        (["--model", "none", "--max-frames", "0"], 2, "--max-frames"),
    ],
)
def test_eval_option_errors_are_one_line(bars_folder, tmp_path, capsys, extra, code, message):
    args = ["--data", str(bars_folder), "--out", str(tmp_path / "out"), *extra]
    assert run(load_command("eval"), args) == code
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and not (tmp_path / "out" / "report.md").exists()


def test_eval_refuses_non_empty_out_without_overwrite(bars_folder, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert run(load_command("eval"), ["--data", str(bars_folder), "--model", "none", "--out", str(out)]) == 2
    assert "-y/--overwrite" in capsys.readouterr().err


def test_eval_without_any_face_fails_clearly(bars_folder, tmp_path, capsys):
    assert run(load_command("eval"), ["--data", str(bars_folder), "--model", "none", "--out", str(tmp_path / "o"), "-q"]) == 1
    assert "no face" in capsys.readouterr().err


def test_face_paths_name_each_model_as_given():
    """Two checkpoints with the same file name stay apart in the per-clip face-path line."""
    result = ClipResult(name="clip.mp4", frames=3, size=(64, 48), pipeline={
        "runs/a/model.safetensors": {"face_paths": {"restored": 1, "sharp": 2}},
        "runs/b/model.safetensors": {"face_paths": {"sharp": 3}},
        "none": {},
    })
    line = face_paths_line(result)
    assert "runs/a/model.safetensors: 1 restored" in line and "runs/b/model.safetensors: " in line and "none" not in line


def test_oracle_names_parse_and_bad_sizes_are_usage_errors():
    assert oracle_crop_size("oracle:128") == 128 and oracle_crop_size("finenet-lite") is None
    for bad in ("oracle:", "oracle:abc", "oracle:8", "oracle:-64"):
        with pytest.raises(UsageError, match="crop size"):
            oracle_crop_size(bad)


def test_oracle_returns_the_sharp_frames_crop_in_the_centre_frames_box():
    frames = np.stack([textured(60, 80, seed=i) for i in range(3)])
    box = CropBox(10, -5, 40)
    keys = ((0, 7, box, 0), (1, 7, box, 1), (2, 7, box, 2))
    blurred = np.zeros((3, 32, 32, 3), np.uint8)
    face = FaceWindow(crops=blurred, heatmaps=[np.zeros((68, 64, 64), np.float32)] * 3, keys=keys)
    restored = OracleRestorer(frames, 32).restore([face])
    np.testing.assert_array_equal(restored[0], crop_face(frames[1], box, 32))
    with pytest.raises(ValueError, match="names no frame"):
        OracleRestorer(frames[:1], 32).restore([face])


@pytest.mark.slow
def test_eval_oracle_gains_on_blurred_faces_and_more_with_larger_crops(face_clip, tmp_path):
    out = tmp_path / "out"
    args = ["--data", str(face_clip.parent), "--model", "oracle:256", "--model", "oracle:32", "--blur-gate", "0",
            "--out", str(out), "-q", "--strip-frames", "0"]
    assert run(load_command("eval"), args) == 0
    face, = json.loads((out / "results.json").read_text())["clips"]
    psnr_of = {name: np.array(s["per_frame"]["face_psnr"]) for name, s in face["scores"].items()}
    gain_large = psnr_of["oracle:256"] - psnr_of["blurred"]
    gain_small = psnr_of["oracle:32"] - psnr_of["blurred"]
    assert len(gain_large) == 12
    assert (gain_large > 3.0).all() and (gain_large > gain_small + 1.0).all()
