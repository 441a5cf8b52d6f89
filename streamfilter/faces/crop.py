"""Cut square face crops out of a frame.

Only the box's pixels are touched: the in-frame part is sliced, padded by edge replication
where the box extends past the frame, then resized to ``size`` (area averaging when
shrinking, bilinear when enlarging, both with OpenCV's half-pixel-centre convention that
:meth:`CropBox.to_crop` uses).
"""

from __future__ import annotations

import cv2
import numpy as np

from .types import CropBox


def cut_box(image: np.ndarray, box: CropBox) -> np.ndarray:
    """The (side, side, C) pixels of ``box``, edge-replicated where it leaves ``image`` (H, W, C)."""
    height, width = image.shape[:2]
    x1, y1 = box.x0 + box.side, box.y0 + box.side
    if x1 <= 0 or y1 <= 0 or box.x0 >= width or box.y0 >= height:
        raise ValueError(f"crop box {box} lies entirely outside the {width}x{height} frame")
    inner = image[max(box.y0, 0):min(y1, height), max(box.x0, 0):min(x1, width)]
    pad = (max(-box.y0, 0), max(y1 - height, 0), max(-box.x0, 0), max(x1 - width, 0))
    if any(pad):
        return cv2.copyMakeBorder(inner, *pad, borderType=cv2.BORDER_REPLICATE)
    return inner


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an (n, n, C) image to (size, size, C)."""
    if image.shape[0] == size:
        return np.ascontiguousarray(image)
    interpolation = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


def crop_face(image: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """(size, size, 3) uint8 crop of ``box`` from an (H, W, 3) uint8 frame."""
    if size < 1:
        raise ValueError(f"crop size must be >= 1, got {size}")
    return resize_square(cut_box(image, box), size)
