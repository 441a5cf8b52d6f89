"""Make ``docs/realblur_compare.png``: real motion blur, input | output face crops.

Runs ``facedeblur-stream CLIP OUT --compare --model MODEL`` on a clip with real blur twice,
with the default blur gate and with ``--blur-gate 0`` (every face restored), then picks the
frames whose input face is blurriest (highest ``blur_score``) and stacks, per frame, the input
face crop and the two output face crops.

    python docs/realblur_strip.py ../shared/data/clips/realblur/liveportrait_d12.mp4 MODEL
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

from streamfilter.faces.backend import make_backend
from streamfilter.faces.crop import crop_face
from streamfilter.faces.tracker import FaceTracker
from streamfilter.sharpness import blur_score

ROWS = 4
CROP = 256


def compare_frames(clip: Path, model: str, *extra: str) -> list[np.ndarray]:
    """Frames of ``facedeblur-stream CLIP --compare --model MODEL EXTRA...`` (input | output)."""
    with tempfile.TemporaryDirectory() as folder:
        compare = Path(folder) / "compare.mkv"
        command = ["facedeblur-stream", str(clip), str(compare), "--compare", "--model", model, "-c", "ffv1", "-q", *extra]
        subprocess.run(command, check=True)
        with av.open(str(compare)) as container:
            return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def main(clip: Path, model: str, png: Path) -> None:
    gated = compare_frames(clip, model)
    every = compare_frames(clip, model, "--blur-gate", "0")
    tracker = FaceTracker(make_backend("dlib"))
    rows = []
    for index, (frame, other) in enumerate(zip(gated, every)):
        half = frame.shape[1] // 2
        left = frame[:, :half]
        tracks = tracker.update(left, index / 25.0)
        if tracks:
            box = tracks[0].crop_box
            crops = [crop_face(image, box, CROP) for image in (left, frame[:, half:], other[:, half:])]
            rows.append((blur_score(crops[0]), index, np.hstack(crops)))
    if not rows:
        sys.exit(f"no face found in {clip}")
    picked = sorted(sorted(rows, key=lambda r: -r[0])[:ROWS], key=lambda r: r[1])
    strip = np.vstack([row for _, _, row in picked])
    cv2.imwrite(str(png), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    scores = ", ".join(f"{index} ({score:.3f})" for score, index, _ in picked)
    print(f"wrote {png}: frames (blur score) {scores}; columns: input | default (gated) | --blur-gate 0")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python docs/realblur_strip.py CLIP MODEL")
    main(Path(sys.argv[1]), sys.argv[2], Path(__file__).with_name("realblur_compare.png"))
