"""Blur kernels for training-pair synthesis.

Motion kernels follow the idea of imgaug's MotionBlur that FineNet trained with (a line of
random length and angle), extended with curvature: the camera/face path is a quadratic curve
whose bend is drawn at random, rasterised with sub-pixel splatting so that short kernels are not
quantised to a few fixed shapes.
"""

from __future__ import annotations

import numpy as np


def motion_kernel(length: float, angle: float, curvature: float = 0.0, *, samples: int = 64) -> np.ndarray:
    """A normalised motion-blur kernel.

    length:    path length in pixels (>= 1)
    angle:     direction of motion in radians
    curvature: sideways bend of the path as a fraction of ``length`` (0 = straight line)
    returns:   (k, k) float32 kernel summing to 1, k odd, centred on the path's midpoint
    """
    if length < 1:
        raise ValueError(f"motion kernel length must be >= 1 px, got {length}")
    s = np.linspace(-0.5, 0.5, samples)
    along = s * length
    across = curvature * length * (4.0 * s * s - 1.0 / 3.0)  # zero-mean bend keeps the kernel centred
    cos, sin = np.cos(angle), np.sin(angle)
    x = along * cos - across * sin
    y = along * sin + across * cos
    half = int(np.ceil(max(np.abs(x).max(), np.abs(y).max()))) + 1
    size = 2 * half + 1
    kernel = np.zeros((size, size), np.float64)
    x += half
    y += half
    x0 = np.floor(x).astype(int)
    y0 = np.floor(y).astype(int)
    fx = x - x0
    fy = y - y0
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            np.add.at(kernel, (y0 + dy, x0 + dx), wx * wy)
    kernel /= kernel.sum()
    return kernel.astype(np.float32)


def gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalised isotropic Gaussian kernel: (k, k) float32, k = 2 * ceil(3 sigma) + 1."""
    if sigma <= 0:
        raise ValueError(f"gaussian sigma must be > 0, got {sigma}")
    half = max(1, int(np.ceil(3 * sigma)))
    ax = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-(ax * ax) / (2 * sigma * sigma))
    kernel = np.outer(g, g)
    return (kernel / kernel.sum()).astype(np.float32)
