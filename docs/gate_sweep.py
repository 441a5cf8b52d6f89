"""Sweep ``--blur-gate`` for one model on clips that were not trained on: the table behind a
model's default threshold (``faces.gate.MODEL_BLUR_GATES``, docs/blur-gate.md).

Runs ``facedeblur eval --data DATA --model MODEL --blur-gate T`` for each threshold T (the
whole pipeline, ``facedeblur eval``'s fixed seed) and prints, per threshold, the mean face
PSNR gain over the clips, the gain of each clip, the gain per degradation kind and the share
of faces restored. Use it on held-out training clips, never on ``val/``. ``--clean`` passes
``facedeblur eval --clean`` (no noise or compression: sharp frames stay the clean originals).

    python docs/gate_sweep.py [--clean] DATA MODEL [T ...]   (default thresholds 0 0.04 0.06 0.08 0.1 0.125)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_THRESHOLDS = ("0", "0.04", "0.06", "0.08", "0.1", "0.125")


def sweep_row(data: Path, model: str, threshold: str, folder: Path, *, clean: bool) -> str:
    out = folder / f"gate-{threshold}"
    subprocess.run(["facedeblur", "eval", "--data", str(data), "--model", model, "--blur-gate", threshold,
                    "--max-frames", "300", "--out", str(out), "-q", *(["--clean"] if clean else [])],
                   check=True, stdout=subprocess.DEVNULL)
    results = json.loads((out / "results.json").read_text())
    name = next(source for source in results["mean"] if source != "blurred")
    gain = results["mean"][name]["face_psnr"] - results["mean"]["blurred"]["face_psnr"]
    clips, restored, faces = [], 0, 0
    for clip in results["clips"]:
        if clip["skipped"] is None:
            scores = clip["scores"]
            clips.append(scores[name]["mean"]["face_psnr"] - scores["blurred"]["mean"]["face_psnr"])
            paths = clip["pipeline"][name].get("face_paths", {})
            restored += paths.get("restored", 0)
            faces += sum(paths.values())
    kinds = " | ".join("n/a" if g["gain"][name] is None else f"{g['gain'][name]:+.2f}" for g in results["gain_by_kind"])
    per_clip = " / ".join(f"{c:+.2f}" for c in clips)
    return f"| {threshold} | {gain:+.2f} | {per_clip} | {kinds} | {restored / max(faces, 1):.2f} |"


def main(data: Path, model: str, thresholds: list[str], *, clean: bool) -> None:
    print("| threshold | mean gain (dB) | per clip | sharp | motion | average | gaussian | restored share |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for threshold in thresholds:
            print(sweep_row(data, model, threshold, Path(folder), clean=clean), flush=True)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--clean"]
    if len(args) < 2:
        sys.exit("usage: python docs/gate_sweep.py [--clean] DATA MODEL [THRESHOLD ...]")
    main(Path(args[0]), args[1], args[2:] or list(DEFAULT_THRESHOLDS), clean="--clean" in sys.argv[1:])
