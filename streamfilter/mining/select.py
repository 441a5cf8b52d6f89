"""Second step: turn a video's frame measurements into kept segments and rejection counts.

Per frame, the first failing check is its reason: ``no_face`` (nothing tracked),
``bad_fit`` (the re-fit error, median over the frame and its ``REFIT_RADIUS`` neighbours on
each side of the same track, above ``max_refit_error``, or an implausible eye distance), ``too_fast`` (landmark motion
above ``max_motion``), ``not_sharp`` (below the video's sharpness threshold). Runs of
accepted frames of one track form candidate segments, which are rejected as ``too_short``,
``detector_disagrees`` (fewer than ``min_agreement`` of the checked frames have a detection
overlapping the track's box by ``min_iou``; no checked frame counts as disagreement) or
``too_static`` (mean motion below ``min_motion``), in that order.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .config import MiningConfig
from .scan import FrameRecord, VideoScan

REFIT_RADIUS = 2
"""Re-fit errors are a median over 2 * 2 + 1 frames: on real clips a good fit's error has
single-frame spikes (a perturbed start that converges elsewhere), a lost fit stays high."""
FRAME_REASONS = ("no_face", "bad_fit", "too_fast", "not_sharp")
SEGMENT_REASONS = ("too_short", "detector_disagrees", "too_static")


@dataclass(frozen=True)
class Segment:
    """Frames ``start .. stop - 1`` of one track; ``reason`` is ``None`` for a kept segment."""

    start: int
    stop: int
    track_id: int
    motion: float
    agreement: float
    reason: str | None

    @property
    def frames(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Selection:
    """A video's segments (kept and rejected), per-frame rejection counts and the sharpness
    threshold that applied."""

    segments: list[Segment]
    frame_reasons: dict[str, int]
    sharpness_threshold: float

    @property
    def kept(self) -> list[Segment]:
        return [s for s in self.segments if s.reason is None]


def sharpness_threshold(records: list[FrameRecord], config: MiningConfig) -> float:
    """``max(min_sharpness, relative_sharpness * percentile)`` over the frames with a face."""
    values = [r.sharpness for r in records if r.sharpness is not None]
    if not values:
        return config.min_sharpness
    relative = config.relative_sharpness * float(np.percentile(values, config.sharpness_percentile))
    return max(config.min_sharpness, relative)


def smoothed_refit_errors(records: list[FrameRecord]) -> list[float | None]:
    """Per frame, the median re-fit error of frames within :data:`REFIT_RADIUS` that follow the
    same track (``None`` without a face)."""
    smoothed: list[float | None] = []
    for i, record in enumerate(records):
        if record.subject is None:
            smoothed.append(None)
            continue
        near = records[max(0, i - REFIT_RADIUS): i + REFIT_RADIUS + 1]
        same = [r.refit_error for r in near if r.subject is not None and r.subject.track_id == record.subject.track_id]
        smoothed.append(float(np.median(same)))
    return smoothed


def frame_reason(record: FrameRecord, refit: float | None, config: MiningConfig, threshold: float) -> str | None:
    """Why a frame is rejected (one of :data:`FRAME_REASONS`), or ``None`` when it passes;
    ``refit`` is its smoothed re-fit error."""
    if record.subject is None:
        return "no_face"
    low, high = config.eye_ratio
    if refit > config.max_refit_error or not low <= record.eye_ratio <= high:
        return "bad_fit"
    if record.motion is not None and record.motion > config.max_motion:
        return "too_fast"
    if record.sharpness < threshold:
        return "not_sharp"
    return None


def candidate_runs(records: list[FrameRecord], accepted: list[bool]) -> list[tuple[int, int, int]]:
    """``(start, stop, track_id)`` of maximal runs of accepted frames that follow one track."""
    runs: list[tuple[int, int, int]] = []
    start = None
    for i, record in enumerate(records):
        continues = start is not None and accepted[i] and record.subject.track_id == records[start].subject.track_id
        if start is not None and not continues:
            runs.append((start, i, records[start].subject.track_id))
            start = None
        if start is None and accepted[i]:
            start = i
    if start is not None:
        runs.append((start, len(records), records[start].subject.track_id))
    return runs


def judge_segment(records: list[FrameRecord], start: int, stop: int, track_id: int, min_frames: int, config: MiningConfig) -> Segment:
    """A :class:`Segment` for frames ``start .. stop - 1`` with its segment-level verdict."""
    span = records[start:stop]
    checks = [r.detector_iou for r in span if r.detector_iou is not None]
    agreement = sum(v >= config.min_iou for v in checks) / len(checks) if checks else 0.0
    motions = [r.motion for r in span if r.motion is not None]
    motion = float(np.mean(motions)) if motions else 0.0
    reason = None
    if stop - start < min_frames:
        reason = "too_short"
    elif agreement < config.min_agreement or not checks:
        reason = "detector_disagrees"
    elif motion < config.min_motion:
        reason = "too_static"
    return Segment(start=start, stop=stop, track_id=track_id, motion=motion, agreement=agreement, reason=reason)


def select_segments(scan: VideoScan, config: MiningConfig) -> Selection:
    """Judge every frame, then every run of accepted frames, of one scanned video."""
    threshold = sharpness_threshold(scan.frames, config)
    refits = smoothed_refit_errors(scan.frames)
    reasons = [frame_reason(r, refit, config, threshold) for r, refit in zip(scan.frames, refits)]
    min_frames = max(1, math.ceil(config.min_seconds * float(scan.rate)))
    runs = candidate_runs(scan.frames, [reason is None for reason in reasons])
    segments = [judge_segment(scan.frames, start, stop, track, min_frames, config) for start, stop, track in runs]
    counts = Counter(reason for reason in reasons if reason is not None)
    return Selection(segments=segments, frame_reasons={r: counts[r] for r in FRAME_REASONS}, sharpness_threshold=threshold)
