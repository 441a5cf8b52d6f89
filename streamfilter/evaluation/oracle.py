"""The ``oracle:S`` model of ``facedeblur eval``: a perfect restorer at crop size S.

It returns, for every face the pipeline hands it, the SHARP frame's crop cut with the same
crop box at S x S pixels: what an ideal network working on S-pixel crops would output. Run
through the unchanged face path (tracking on the blurred frames, blur gate, paste-back of
the change resized to the face box), its gain over the blurred input is the most any model
of that crop size can gain there; the rest is lost to the crop's resolution, the tracker's
boxes, the paste-back's feathered edges and the gate.

The face processor's per-frame keys are ``(frame index, track id, crop box, points index)``
(:mod:`..faces.processor`); the oracle reads the centre frame's index and box from them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import UsageError
from ..faces.crop import crop_face
from ..faces.types import CropBox
from ..restorer import FaceWindow

PREFIX = "oracle:"


def oracle_crop_size(model: str) -> int | None:
    """S of an ``oracle:S`` model name, None for any other name; UsageError for a bad S."""
    if not model.startswith(PREFIX):
        return None
    size = model[len(PREFIX):]
    if not size.isdigit() or not 16 <= int(size) <= 1024:
        raise UsageError(f"--model {model!r}: the oracle's crop size must be a whole number of pixels, 16-1024")
    return int(size)


class OracleRestorer:
    """Restores each face to the sharp clip's crop (a ``Restorer`` of radius 0).

    frames: (T, H, W, 3) uint8 upright RGB, the sharp frames the blurred clip was made from
    """

    concurrency = 1
    radius = 0
    heatmap_size = 64

    def __init__(self, frames: np.ndarray, crop_size: int):
        self.frames = frames
        self.crop_size = crop_size

    def restore(self, faces: Sequence[FaceWindow]) -> np.ndarray:
        out = np.empty((len(faces), self.crop_size, self.crop_size, 3), np.uint8)
        for i, face in enumerate(faces):
            key = face.keys[len(face.keys) // 2]
            index, _, box, *_ = key
            if not isinstance(box, CropBox) or not 0 <= index < len(self.frames):
                raise ValueError(f"oracle: face key {key!r} names no frame of the sharp clip")
            out[i] = crop_face(self.frames[index], box, self.crop_size)
        return out

    def close(self) -> None:
        return None
