"""First pass over a video: follow the main face and measure every frame.

The followed face (the "subject") is the track followed in the previous frame while the
tracker keeps it, else the largest track of the frame. Every ``check_every`` frames the
detector runs again and its best IoU with the subject's box is recorded; frames where the
tracker itself just took the detector's box (``source == "detected"``) are not checked, as
the agreement would hold by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import InputError
from ..faces.tracker import FaceTracker, TrackerConfig, iou
from ..faces.types import FaceTrack, LandmarkBackend
from ..orientation import quarter_turns, upright_rgb
from .config import MiningConfig
from .measure import eye_ratio, face_sharpness, landmark_motion, refit_error


@dataclass(frozen=True, eq=False)
class FrameRecord:
    """Measurements of one decoded frame (``None``: not measured, e.g. no face).

    subject:     the followed face track, or ``None`` when no face is tracked
    detector_iou: best IoU of a fresh detection with the subject's box on checked frames
    refit_error: see :func:`.measure.refit_error`
    eye_ratio:   see :func:`.measure.eye_ratio`
    motion:      :func:`.measure.landmark_motion` from the previous frame (same track only)
    sharpness:   :func:`.measure.face_sharpness` of the subject's crop box
    """

    index: int
    pts: int | None
    time: float
    subject: FaceTrack | None
    detector_iou: float | None = None
    refit_error: float | None = None
    eye_ratio: float | None = None
    motion: float | None = None
    sharpness: float | None = None


@dataclass(frozen=True, eq=False)
class VideoScan:
    """All frame records of one video and the stream facts needed to write its segments."""

    path: Path
    backend: str
    width: int
    height: int
    rate: Fraction
    time_base: Fraction
    frames: list[FrameRecord]
    turns: int = 0
    """Display rotation in counter-clockwise quarter turns; records are in upright pixels."""

    @property
    def upright_size(self) -> tuple[int, int]:
        """(width, height) of the frames as displayed, the pixels the records are in."""
        return (self.height, self.width) if self.turns % 2 else (self.width, self.height)


def open_video(path: Path) -> av.container.InputContainer:
    """Open ``path`` for decoding; an unreadable file or one without video is an ``InputError``."""
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise InputError(f"cannot open {path}: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise InputError(f"{path} has no video stream")
    return container


def stream_rate(stream: av.VideoStream) -> Fraction:
    """The stream's average frame rate (25 when the container does not say)."""
    return Fraction(stream.average_rate or stream.guessed_rate or 25)


def decoded_frames(container: av.container.InputContainer, path: Path):
    """Video frames in decode order; a corrupt stream becomes an ``InputError``."""
    try:
        yield from container.decode(video=0)
    except av.FFmpegError as exc:
        raise InputError(f"cannot decode {path}: {exc}") from exc


def choose_subject(tracks: list[FaceTrack], previous_id: int | None) -> FaceTrack | None:
    """The track with ``previous_id`` if present, else the one with the largest box."""
    for track in tracks:
        if track.track_id == previous_id:
            return track
    if not tracks:
        return None
    return max(tracks, key=lambda t: float((t.box[2] - t.box[0]) * (t.box[3] - t.box[1])))


def scan_video(
    path: Path,
    backend: LandmarkBackend,
    config: MiningConfig,
    *,
    on_frame: Callable[[int], None] | None = None,
) -> VideoScan:
    """Decode ``path`` once and measure every frame; ``on_frame(decoded so far)`` reports progress."""
    tracker = FaceTracker(backend, config=TrackerConfig(min_face_size=config.min_face_size))
    records: list[FrameRecord] = []
    with open_video(path) as container:
        stream = container.streams.video[0]
        rate = stream_rate(stream)
        time_base = Fraction(stream.time_base or 1 / rate)
        previous: FaceTrack | None = None
        turns = 0
        for index, frame in enumerate(decoded_frames(container, path)):
            time = float(frame.pts * time_base) if frame.pts is not None else index / float(rate)
            if index == 0:
                turns = quarter_turns(frame)
            rgb = upright_rgb(frame)
            subject = choose_subject(tracker.update(rgb, time), previous.track_id if previous else None)
            records.append(measure_frame(rgb, index, frame.pts, time, subject, previous, backend, config))
            previous = subject
            if on_frame is not None:
                on_frame(index + 1)
        width, height = stream.width, stream.height
    return VideoScan(path=path, backend=backend.name, width=width, height=height, rate=rate, time_base=time_base, frames=records, turns=turns)


def measure_frame(
    rgb: np.ndarray,
    index: int,
    pts: int | None,
    time: float,
    subject: FaceTrack | None,
    previous: FaceTrack | None,
    backend: LandmarkBackend,
    config: MiningConfig,
) -> FrameRecord:
    """The :class:`FrameRecord` of an (H, W, 3) RGB frame given its subject and the previous one."""
    if subject is None:
        return FrameRecord(index=index, pts=pts, time=time, subject=None)
    overlap = None
    if index % config.check_every == 0 and subject.source == "tracked":
        overlap = max((iou(subject.box, d.box) for d in backend.detect(rgb)), default=0.0)
    same_track = previous is not None and previous.track_id == subject.track_id
    return FrameRecord(
        index=index,
        pts=pts,
        time=time,
        subject=subject,
        detector_iou=overlap,
        refit_error=refit_error(backend, rgb, subject.box, subject.points),
        eye_ratio=eye_ratio(subject.points),
        motion=landmark_motion(previous.points, subject.points) if same_track else None,
        sharpness=face_sharpness(rgb, subject.crop_box, config.sharpness_size),
    )
