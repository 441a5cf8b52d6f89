"""Cheap sharpness scores for face crops (blur synthesis checks, mining, blur-aware gating)."""

from __future__ import annotations

import cv2
import numpy as np

REBLUR_SIZE = 128
"""Side the crop is resized to before ``blur_score`` (the score depends on resolution)."""

REBLUR_SIGMA = 1.5
"""Gaussian sigma (pixels at ``REBLUR_SIZE``) of ``blur_score``'s re-blur."""


def luma(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 luma of an (H, W, 3) uint8 RGB image; an (H, W) image as float32."""
    if image.ndim == 3:
        image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    return image.astype(np.float32)


def laplacian_energy(gray: np.ndarray) -> float:
    """Variance of the 3x3 Laplacian of an (H, W) float32 image."""
    return float(cv2.Laplacian(gray, cv2.CV_32F, ksize=3).var())


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the luma of an (H, W, 3) uint8 RGB or (H, W) image.

    Higher is sharper; it falls with blur and is comparable between crops of the same size and
    content (not an absolute measure across different faces or resolutions).
    """
    return laplacian_energy(luma(image))


def blur_score(crop: np.ndarray) -> float:
    """How blurred an (S, S, 3) uint8 RGB face crop is, in [0, 1]: higher is blurrier.

    The crop's luma, resized to ``REBLUR_SIZE``, is blurred again with a Gaussian of
    ``REBLUR_SIGMA``; the score is the Laplacian energy left after that re-blur over the energy
    before. A sharp crop loses most of its fine detail to the re-blur (low score); a blurred one
    has little left to lose (high score). Being a ratio, it depends much less on the face's
    content and contrast than ``sharpness``. A crop with no detail at all scores 1.
    """
    gray = luma(crop)
    if gray.shape != (REBLUR_SIZE, REBLUR_SIZE):
        gray = cv2.resize(gray, (REBLUR_SIZE, REBLUR_SIZE), interpolation=cv2.INTER_AREA)
    before = laplacian_energy(gray)
    if before <= 0.0:
        return 1.0
    after = laplacian_energy(cv2.GaussianBlur(gray, (0, 0), REBLUR_SIGMA))
    return min(1.0, after / before)
