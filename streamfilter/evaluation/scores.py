"""Per-frame scores of one source (the blurred input or a model's output) against the sharp clip."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .metrics import psnr, ssim
from .sharp_faces import FaceRegion


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


@dataclass
class SourceScores:
    """Frame by frame: whole-frame PSNR, and face PSNR/SSIM (the mean over the frame's face
    regions; None for a frame without one)."""

    frame_psnr: list[float] = field(default_factory=list)
    face_psnr: list[float | None] = field(default_factory=list)
    face_ssim: list[float | None] = field(default_factory=list)

    def add(self, output: np.ndarray, sharp: np.ndarray, regions: tuple[FaceRegion, ...]) -> None:
        """Score one (H, W, 3) uint8 RGB output frame against its sharp frame."""
        self.frame_psnr.append(psnr(output, sharp))
        if regions:
            self.face_psnr.append(float(np.mean([psnr(r.cut(output), r.cut(sharp)) for r in regions])))
            self.face_ssim.append(float(np.mean([ssim(r.cut(output), r.cut(sharp)) for r in regions])))
        else:
            self.face_psnr.append(None)
            self.face_ssim.append(None)

    def means(self) -> dict[str, float | None]:
        """Means over frames (face metrics over the frames with a face)."""
        return {"face_psnr": _mean(self.face_psnr), "face_ssim": _mean(self.face_ssim), "frame_psnr": _mean(self.frame_psnr)}

    def to_json(self) -> dict:
        return {"mean": self.means(), "per_frame": {"face_psnr": self.face_psnr, "face_ssim": self.face_ssim,
                                                    "frame_psnr": self.frame_psnr}}
