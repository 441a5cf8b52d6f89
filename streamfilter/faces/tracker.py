"""Face tracking: detection every N frames, landmark re-fitting in between, stable ids.

Per frame the tracker
1. derives each track's box from its previous points (the box-to-points relation measured
   when the detector last saw the face, so re-fitting gets detector-like boxes);
2. on detection frames (every ``detect_every`` frames, the frame after a detected face's fit
   was implausible, and see 3) runs the detector and matches its boxes to the tracks greedily
   by IoU: matched tracks keep their id and take the detector's box, new boxes start tracks
   (largest first, up to ``max_faces`` in all), tracks the detector missed are still re-fitted
   and dropped after ``max_missed`` missed detection rounds in a row (a motion-blurred face
   often escapes the detector for a frame or two while its landmarks still fit);
3. fits all boxes in one backend call and suspends the tracks whose fit looks lost (a backend
   score below its ``lost_score``, a face shrinking or growing by more than ``max_scale_step``
   in one frame or by more than ``max_drift`` since the detector last saw it, smaller than
   ``min_face_size / 2`` or centred outside the frame); the frame is then detected and fitted
   again at once: a detection matching a suspended track's last good points revives it with
   its id and smoothing state, otherwise the track is dropped;
4. smooths each track's crop transform ``(cx, cy, side)`` with a One-Euro filter and turns it
   into a sticky integer crop box (see :mod:`.smoothing`).
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from .smoothing import OneEuroFilter, StickyBox
from .types import Detection, FaceTrack, Fit, LandmarkBackend, TrackSource


@dataclass(frozen=True, kw_only=True)
class TrackerConfig:
    """Tracker settings.

    detect_every:     frames between detector runs (25: a new face is picked up within a
                      second at 25-30 fps; a lost track triggers detection on the next frame
                      regardless; with 10 the detector was more than half the dlib stage's
                      cost at 720p)
    max_faces:        most faces followed (existing tracks first, then the largest new ones)
    min_face_size:    smallest face, pixels (shorter side of the detector's box)
    iou_threshold:    least IoU to match a detection to a track
    max_missed:       detection rounds in a row a track may be missed before it is dropped
    crop_scale:       crop side over the landmarks' larger extent
    sticky_tolerance: see :class:`StickyBox` (0.02: from ``sticky_box`` in bench/results/landmarks.json)
    min_cutoff, beta: One-Euro parameters (Hz, and Hz per pixel/s)
    max_scale_step:   largest plausible change of face size between two frames
    max_drift:        largest plausible change of face size between detector rounds: re-fitting
                      in a box derived from the previous fit can drift, growing or shrinking a
                      little every frame onto hair, shoulders or background (seen on
                      realblur/liveportrait_d12: 2.3x in 30 frames); on 12 training clips
                      tracked faces stayed within 0.77-1.24x of their detected size
    """

    detect_every: int = 25
    max_faces: int = 4
    min_face_size: int = 40
    iou_threshold: float = 0.3
    max_missed: int = 2
    crop_scale: float = 1.6
    sticky_tolerance: float = 0.02
    min_cutoff: float = 0.5
    beta: float = 0.05
    max_scale_step: float = 1.3
    max_drift: float = 1.5

    def __post_init__(self) -> None:
        checks = {
            "detect_every": self.detect_every >= 1,
            "max_faces": self.max_faces >= 1,
            "min_face_size": self.min_face_size >= 1,
            "iou_threshold": 0.0 < self.iou_threshold < 1.0,
            "max_missed": self.max_missed >= 0,
            "crop_scale": self.crop_scale >= 1.0,
            "sticky_tolerance": 0.0 <= self.sticky_tolerance < 0.5,
            "min_cutoff": self.min_cutoff > 0,
            "beta": self.beta >= 0,
            "max_scale_step": self.max_scale_step > 1.0,
            "max_drift": self.max_drift > 1.0,
        }
        allowed = {
            "detect_every": ">= 1", "max_faces": ">= 1", "min_face_size": ">= 1", "iou_threshold": "in (0, 1)",
            "max_missed": ">= 0", "crop_scale": ">= 1", "sticky_tolerance": "in [0, 0.5)", "min_cutoff": "> 0",
            "beta": ">= 0", "max_scale_step": "> 1", "max_drift": "> 1",
        }
        for name, ok in checks.items():
            if not ok:
                raise UsageError(f"{name} must be {allowed[name]}, got {getattr(self, name)}")


def points_box(points: np.ndarray) -> np.ndarray:
    """(4,) float32 ``[x0, y0, x1, y1]`` bounding box of (P, 2) points."""
    return np.concatenate([points.min(axis=0), points.max(axis=0)]).astype(np.float32)


def box_extent(box: np.ndarray) -> float:
    """The larger side of an ``[x0, y0, x1, y1]`` box (at least 1 pixel)."""
    return max(float(box[2] - box[0]), float(box[3] - box[1]), 1.0)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``[x0, y0, x1, y1]`` boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = float(w * h)
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0


def match_by_iou(tracks: list[np.ndarray], detections: list[np.ndarray], threshold: float) -> list[tuple[int, int]]:
    """Greedy one-to-one matching, highest IoU first: ``(track index, detection index)`` pairs."""
    pairs = sorted(
        ((iou(t, d), i, j) for i, t in enumerate(tracks) for j, d in enumerate(detections)),
        key=lambda item: -item[0],
    )
    used_t: set[int] = set()
    used_d: set[int] = set()
    matches = []
    for overlap, i, j in pairs:
        if overlap < threshold:
            break
        if i not in used_t and j not in used_d:
            used_t.add(i)
            used_d.add(j)
            matches.append((i, j))
    return matches


class _Track:
    """Mutable state of one followed face."""

    def __init__(self, track_id: int, detection: Detection, config: TrackerConfig):
        self.track_id = track_id
        self.box = detection.box
        self.score = detection.score
        self.points: np.ndarray | None = None
        self.relation = np.zeros(4, np.float32)
        self.detected_extent: float | None = None
        self.missed = 0
        self.suspended = False
        self.source: TrackSource = "detected"
        self.smoother = OneEuroFilter(min_cutoff=config.min_cutoff, beta=config.beta)
        self.sticky = StickyBox(tolerance=config.sticky_tolerance)

    def tracking_box(self) -> np.ndarray:
        """The box for re-fitting: the previous points' box with the detector's relation."""
        if self.points is None:
            return self.box
        pbox = points_box(self.points)
        return (pbox + self.relation * box_extent(pbox)).astype(np.float32)

    def learn_relation(self, points: np.ndarray) -> None:
        pbox = points_box(points)
        self.detected_extent = box_extent(pbox)
        self.relation = ((self.box - pbox) / self.detected_extent).astype(np.float32)


class FaceTracker:
    """Follows faces frame by frame with a :class:`LandmarkBackend`; not thread-safe (one
    stream, frames in decode order)."""

    def __init__(self, backend: LandmarkBackend, *, config: TrackerConfig | None = None):
        self.backend = backend
        self.config = config or TrackerConfig()
        self._tracks: list[_Track] = []
        self._ids = itertools.count()
        self._since_detection = self.config.detect_every
        self._lost = False
        self._last: list[FaceTrack] = []

    def update(self, rgb: np.ndarray, t: float) -> list[FaceTrack]:
        """Track faces in an (H, W, 3) uint8 RGB frame at time ``t`` (seconds, increasing)."""
        detect = self._lost or self._since_detection >= self.config.detect_every
        kept = self._step(rgb, detect=detect)
        if self._lost and not detect:
            kept = self._step(rgb, detect=True)
        self._since_detection += 1
        self._last = [self._emit(track, points, t) for track, points in kept]
        return self._last

    def _step(self, rgb: np.ndarray, *, detect: bool) -> list[tuple[_Track, np.ndarray]]:
        """Detect (if ``detect``) and fit every track in the frame; the plausible (track, points)."""
        for track in self._tracks:
            track.source = "tracked"
        if detect:
            self._since_detection = 0
            self._apply_detections(self.backend.detect(rgb))
        self._lost = False
        boxes = [track.box if track.source == "detected" else track.tracking_box() for track in self._tracks]
        fits = self.backend.fit(rgb, boxes) if boxes else []
        height, width = rgb.shape[:2]
        kept: list[tuple[_Track, np.ndarray]] = []
        suspended: list[_Track] = []
        for track, box, fit in zip(self._tracks, boxes, fits):
            if not self._plausible(track, fit, width, height):
                self._lost = True
                track.suspended = True
                suspended.append(track)
                continue
            track.box = box
            if track.source == "detected":
                track.learn_relation(fit.points)
            if fit.score is not None:
                track.score = fit.score
            track.points = fit.points
            kept.append((track, fit.points))
        self._tracks = [track for track, _ in kept] + suspended
        return kept

    def predict(self) -> list[FaceTrack]:
        """Faces for a late frame without running any model: the previous frame's tracks."""
        return [dataclasses.replace(track, source="predicted") for track in self._last]

    def _apply_detections(self, detections: list[Detection]) -> None:
        cfg = self.config
        matches = match_by_iou([t.tracking_box() for t in self._tracks], [d.box for d in detections], cfg.iou_threshold)
        matched = dict(matches)
        for i, track in enumerate(self._tracks):
            if i in matched:
                detection = detections[matched[i]]
                track.box, track.score, track.missed, track.source = detection.box, detection.score, 0, "detected"
                track.suspended = False
            else:
                track.missed += 1
        matched_detections = set(matched.values())
        survivors = [track for track in self._tracks if track.missed <= cfg.max_missed and not track.suspended]
        fresh = sorted(
            (d for j, d in enumerate(detections) if j not in matched_detections),
            key=lambda d: -float((d.box[2] - d.box[0]) * (d.box[3] - d.box[1])),
        )
        for detection in fresh[: max(cfg.max_faces - len(survivors), 0)]:
            survivors.append(_Track(next(self._ids), detection, cfg))
        self._tracks = survivors

    def _plausible(self, track: _Track, fit: Fit, width: int, height: int) -> bool:
        cfg = self.config
        if self.backend.lost_score is not None and fit.score is not None and fit.score < self.backend.lost_score:
            return False
        pbox = points_box(fit.points)
        extent = box_extent(pbox)
        cx, cy = float(pbox[0] + pbox[2]) / 2, float(pbox[1] + pbox[3]) / 2
        if extent < cfg.min_face_size / 2 or not (0 <= cx < width and 0 <= cy < height):
            return False
        if track.source == "tracked" and track.points is not None:
            before = box_extent(points_box(track.points))
            if not 1 / cfg.max_scale_step <= extent / before <= cfg.max_scale_step:
                return False
        if track.source == "tracked" and track.detected_extent is not None:
            if not 1 / cfg.max_drift <= extent / track.detected_extent <= cfg.max_drift:
                return False
        return True

    def _emit(self, track: _Track, points: np.ndarray, t: float) -> FaceTrack:
        pbox = points_box(points)
        raw = np.array([(pbox[0] + pbox[2]) / 2, (pbox[1] + pbox[3]) / 2, self.config.crop_scale * box_extent(pbox)])
        cx, cy, side = track.smoother(t, raw)
        return FaceTrack(
            track_id=track.track_id,
            box=np.asarray(track.box, np.float32),
            points=points,
            score=float(track.score),
            crop_box=track.sticky.update(float(cx), float(cy), float(side)),
            source=track.source,
        )
