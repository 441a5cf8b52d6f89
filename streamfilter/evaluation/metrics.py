"""Image quality metrics on uint8 RGB images.

PSNR is computed over all three RGB channels with peak 255. A perfect match would be infinite;
it is capped at ``PSNR_CEILING`` dB (as libvmaf does for 8-bit video) so that means over frames
stay finite and comparable.

SSIM follows Wang et al. (2004): Gaussian window 11 x 11, sigma 1.5, K1 = 0.01, K2 = 0.03, on
luma only (BT.601 weights on full-range RGB, Y = 0.299 R + 0.587 G + 0.114 B, range 0-255), and
averaged over the positions where the whole window lies inside the image ("valid" region).
"""

from __future__ import annotations

import cv2
import numpy as np

PEAK = 255.0
PSNR_CEILING = 60.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = (0.01 * PEAK) ** 2
SSIM_C2 = (0.03 * PEAK) ** 2
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"expected two (H, W, 3) uint8 images of one shape, got {a.shape} {a.dtype} and {b.shape} {b.dtype}")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two (H, W, 3) uint8 RGB images, at most ``PSNR_CEILING``."""
    _check_pair(a, b)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0.0:
        return PSNR_CEILING
    return min(PSNR_CEILING, 10.0 * float(np.log10(PEAK * PEAK / mse)))


def luma(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float64 BT.601 luma of an (H, W, 3) uint8 RGB image, range 0-255."""
    return rgb.astype(np.float64) @ LUMA_WEIGHTS


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of the luma of two (H, W, 3) uint8 RGB images (both sides >= 11 pixels)."""
    _check_pair(a, b)
    if min(a.shape[:2]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW} x {SSIM_WINDOW} pixels, got {a.shape[1]} x {a.shape[0]}")
    x, y = luma(a), luma(b)
    r = SSIM_WINDOW // 2

    def local_mean(image: np.ndarray) -> np.ndarray:
        smoothed = cv2.GaussianBlur(image, (SSIM_WINDOW, SSIM_WINDOW), SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)
        return smoothed[r:image.shape[0] - r, r:image.shape[1] - r]

    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x * mu_x
    var_y = local_mean(y * y) - mu_y * mu_y
    cov = local_mean(x * y) - mu_x * mu_y
    numerator = (2.0 * mu_x * mu_y + SSIM_C1) * (2.0 * cov + SSIM_C2)
    denominator = (mu_x * mu_x + mu_y * mu_y + SSIM_C1) * (var_x + var_y + SSIM_C2)
    return float(np.mean(numerator / denominator))
