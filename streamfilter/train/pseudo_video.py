"""Pseudo-videos from still photographs: a random, smooth camera path across a window.

Identities matter more than frames, so sharp photos of other people are turned into short clips
by moving a virtual camera: translation, in-plane rotation and zoom follow a quadratic path in
time (random velocity and acceleration), so consecutive frames differ as in a hand-held clip and
sub-frames along the path can be averaged into physically plausible motion blur.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, kw_only=True)
class CameraMotion:
    """Per-frame motion limits: shift as a fraction of the crop side, rotation in degrees,
    zoom as a relative scale change."""

    max_shift: float = 0.04
    max_rotation: float = 3.0
    max_zoom: float = 0.03
    max_acceleration: float = 0.5
    """acceleration as a fraction of the velocity limits, per frame squared"""


@dataclass(frozen=True)
class CameraPath:
    """A camera path p(tau) = v tau + a tau^2 over (dx, dy, angle, log-scale); tau in frames."""

    velocity: np.ndarray
    acceleration: np.ndarray

    @classmethod
    def random(cls, rng: np.random.Generator, motion: CameraMotion = CameraMotion()) -> CameraPath:
        limits = np.array([motion.max_shift, motion.max_shift, np.deg2rad(motion.max_rotation), motion.max_zoom])
        velocity = rng.uniform(-1.0, 1.0, 4) * limits
        acceleration = rng.uniform(-1.0, 1.0, 4) * limits * motion.max_acceleration
        return cls(velocity, acceleration)

    def matrix(self, tau: float, size: int) -> np.ndarray:
        """(2, 3) affine map of crop coordinates at time ``tau`` (about the crop centre)."""
        dx, dy, angle, log_scale = self.velocity * tau + self.acceleration * tau * tau
        c = (size - 1) / 2.0
        m = cv2.getRotationMatrix2D((c, c), float(np.rad2deg(angle)), float(np.exp(log_scale)))
        m[:, 2] += (dx * size, dy * size)
        return m


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """(2, 3) affine ``outer`` after ``inner``."""
    return (np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]]))[:2]


class PseudoVideo:
    """Renders frames of a still photo seen through a moving camera.

    image:   (H, W, 3) uint8 RGB photograph
    to_crop: (2, 3) affine map from image pixels to the S x S face crop at tau = 0
    """

    def __init__(self, image: np.ndarray, to_crop: np.ndarray, size: int, path: CameraPath):
        self.image = image
        self.to_crop = to_crop
        self.size = size
        self.path = path

    def matrix(self, tau: float) -> np.ndarray:
        """(2, 3) map from image pixels to the crop at time ``tau``."""
        return compose(self.path.matrix(tau, self.size), self.to_crop)

    def frame(self, tau: float) -> np.ndarray:
        """(S, S, 3) uint8 crop at time ``tau``."""
        return cv2.warpAffine(
            self.image, self.matrix(tau), (self.size, self.size),
            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101,
        )

    def window(self, length: int) -> np.ndarray:
        """(T, S, S, 3) uint8 frames at tau = -T//2 .. T//2."""
        half = length // 2
        return np.stack([self.frame(float(tau)) for tau in range(-half, half + 1)])

    def sub_frames(self, length: int, index: int, count: int) -> np.ndarray:
        """(n, S, S, 3) uint8 frames spread over one frame interval around window frame ``index``:
        what a shutter open for the whole interval would integrate."""
        centre = index - length // 2
        return np.stack([self.frame(centre + float(u)) for u in np.linspace(-0.5, 0.5, count)])

    def points(self, points: np.ndarray, tau: float) -> np.ndarray:
        """Map (68, 2) image points into crop coordinates at time ``tau``."""
        m = self.matrix(tau)
        return points @ m[:, :2].T + m[:, 2]
