"""A cheap sharpness score for face crops (blur synthesis checks, mining, blur-aware gating)."""

from __future__ import annotations

import cv2
import numpy as np


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the luma of an (H, W, 3) uint8 RGB or (H, W) image.

    Higher is sharper; it falls with blur and is comparable between crops of the same size and
    content (not an absolute measure across different faces or resolutions).
    """
    if image.ndim == 3:
        gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    else:
        gray = image
    return float(cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F, ksize=3).var())
