"""A PNG strip per clip: for a few frames, the face crop of each source side by side.

Columns: blurred | each model | sharp; rows: frames spread evenly over the frames with a face.
A crop is the square around the frame's first face region (side = the region's larger side,
edge pixels replicated past the frame), scaled to ``CROP_HEIGHT``; a band on top names the columns.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import OutputError
from ..faces.crop import crop_face
from ..faces.types import CropBox
from .sharp_faces import FaceRegion, SharpFaces

CROP_HEIGHT = 160
LABEL_BAND = 24
BACKGROUND = 255
TEXT_COLOUR = (0, 0, 0)


def strip_frames(faces: SharpFaces, count: int) -> list[int]:
    """Up to ``count`` frame indices spread evenly over the frames with a face region."""
    with_face = [i for i, regions in enumerate(faces.regions) if regions]
    if count <= 0 or not with_face:
        return []
    picks = np.linspace(0, len(with_face) - 1, min(count, len(with_face)))
    return sorted({with_face[int(round(p))] for p in picks})


def face_crop(image: np.ndarray, region: FaceRegion) -> np.ndarray:
    """(CROP_HEIGHT, CROP_HEIGHT, 3) uint8 square crop around ``region`` of an (H, W, 3) image."""
    side = max(region.x1 - region.x0, region.y1 - region.y0)
    box = CropBox.around((region.x0 + region.x1 - 1) / 2, (region.y0 + region.y1 - 1) / 2, side)
    return crop_face(image, box, CROP_HEIGHT)


def compose(columns: list[tuple[str, list[np.ndarray]]]) -> np.ndarray:
    """One (H, W, 3) uint8 image from ``(label, crops)`` columns, all with the same number of
    (CROP_HEIGHT, CROP_HEIGHT, 3) crops."""
    rows = {len(crops) for _, crops in columns}
    if len(rows) != 1:
        raise ValueError(f"columns hold different numbers of crops: {sorted(rows)}")
    band = np.full((LABEL_BAND, CROP_HEIGHT * len(columns), 3), BACKGROUND, np.uint8)
    for k, (label, _) in enumerate(columns):
        text = label if len(label) <= 22 else label[:10] + "..." + label[-9:]
        cv2.putText(band, text, (k * CROP_HEIGHT + 4, LABEL_BAND - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, TEXT_COLOUR, 1, cv2.LINE_AA)
    body = np.concatenate([np.concatenate(crops, axis=0) for _, crops in columns], axis=1)
    return np.concatenate([band, body], axis=0)


def write_png(path: Path, rgb: np.ndarray) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OutputError(f"cannot write {path}")
