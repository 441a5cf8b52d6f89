"""Make ``docs/realblur_compare.png``: real motion blur, input | output face crops.

Runs ``facedeblur-stream CLIP OUT --compare --model MODEL`` on a clip with real blur, then
picks the frames whose input face is blurriest (lowest ``sharpness``) and stacks, per frame, the
input face crop and the output face crop cut from the two halves of the comparison video.

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
from streamfilter.sharpness import sharpness

ROWS = 4
CROP = 256


def main(clip: Path, model: str, png: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        compare = Path(folder) / "compare.mkv"
        command = ["facedeblur-stream", str(clip), str(compare), "--compare", "--model", model, "-c", "ffv1", "-q"]
        subprocess.run(command, check=True)
        with av.open(str(compare)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    tracker = FaceTracker(make_backend("dlib"))
    rows = []
    for index, frame in enumerate(frames):
        half = frame.shape[1] // 2
        left, right = frame[:, :half], frame[:, half:]
        tracks = tracker.update(left, index / 25.0)
        if tracks:
            box = tracks[0].crop_box
            before, after = crop_face(left, box, CROP), crop_face(right, box, CROP)
            rows.append((sharpness(before), index, np.hstack([before, after])))
    if not rows:
        sys.exit(f"no face found in {clip}")
    picked = sorted(sorted(rows, key=lambda r: r[0])[:ROWS], key=lambda r: r[1])
    strip = np.vstack([row for _, _, row in picked])
    cv2.imwrite(str(png), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    print(f"wrote {png}: frames {[index for _, index, _ in picked]} (input | output)")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python docs/realblur_strip.py CLIP MODEL")
    main(Path(sys.argv[1]), sys.argv[2], Path(__file__).with_name("realblur_compare.png"))
