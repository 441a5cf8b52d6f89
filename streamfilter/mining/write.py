"""Third step: write each kept segment as its own clip plus a landmarks JSON beside it.

Segments are re-encoded (libx264, ``crf`` 12 by default: visually lossless, so the sharp
frames stay sharp) rather than stream-copied: cuts fall on arbitrary frames, not keyframes.
Timestamps start at 0 in each clip and keep the source's frame spacing; a coarse source time
base (e.g. 1/25) is refined by an integer factor to at least 1/10000, because PyAV's libx264
into MP4 fails to mux ("Invalid argument") after about 70 frames at 1/25 (seen with av 18).
Audio is not written (training reads video only). ``<clip>.landmarks.json`` has the layout of
``facedeblur landmarks --json`` (header, then per frame index, pts, time and the tracks, here
the mined face only) with the source video and frame range added to the header.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import av

from ..errors import OutputError
from .config import MiningConfig
from .scan import VideoScan, decoded_frames, open_video
from .select import Segment

CLIP_SUFFIX = ".mp4"
LANDMARKS_SUFFIX = ".landmarks.json"
MIN_TIME_BASE_DENOMINATOR = 10000


def clip_time_base(source: Fraction) -> Fraction:
    """``source`` divided by the least integer that makes its denominator >= 10000."""
    return source / math.ceil(MIN_TIME_BASE_DENOMINATOR / source.denominator) if source.denominator < MIN_TIME_BASE_DENOMINATOR else source


def clip_name(stem: str, segment: Segment) -> str:
    """``<stem>_<first frame>-<last frame>.mp4`` (frame numbers of the source, 6 digits)."""
    return f"{stem}_{segment.start:06d}-{segment.stop - 1:06d}{CLIP_SUFFIX}"


def landmarks_name(clip: str) -> str:
    """The landmarks JSON file name beside ``clip``."""
    return clip[: -len(CLIP_SUFFIX)] + LANDMARKS_SUFFIX


class ClipWriter:
    """An H.264 clip being written; frames keep their spacing, shifted to start at pts 0, in
    ``time_base`` (:func:`clip_time_base` of the source's)."""

    def __init__(self, path: Path, scan: VideoScan, config: MiningConfig):
        self.path = path
        try:
            self._container = av.open(str(path), "w")
        except (av.FFmpegError, OSError) as exc:
            raise OutputError(f"cannot open {path} for writing: {exc}") from exc
        self._stream = self._container.add_stream("libx264", rate=scan.rate, options={"crf": str(config.crf), "preset": config.preset})
        self._stream.width, self._stream.height = scan.width, scan.height
        self._stream.pix_fmt = "yuv420p" if scan.width % 2 == 0 and scan.height % 2 == 0 else "yuv444p"
        if scan.turns:
            self._stream.set_display_rotation(90 * scan.turns)
        self.time_base = clip_time_base(scan.time_base)
        self._scale = int(scan.time_base / self.time_base)
        self._stream.time_base = self.time_base
        self._origin: int | None = None

    def write(self, frame: av.VideoFrame, fallback_pts: int) -> int:
        """Encode one decoded frame (``fallback_pts`` in the source time base when it has
        none); returns its pts in the clip."""
        pts = frame.pts if frame.pts is not None else fallback_pts
        if self._origin is None:
            self._origin = pts
        clip_pts = (pts - self._origin) * self._scale
        out = frame.reformat(format=self._stream.pix_fmt)
        out.pts, out.time_base = clip_pts, self.time_base
        self._mux(self._stream.encode(out))
        return clip_pts

    def close(self) -> None:
        self._mux(self._stream.encode(None))
        self._container.close()

    def _mux(self, packets: list[av.Packet]) -> None:
        try:
            self._container.mux(packets)
        except av.FFmpegError as exc:
            raise OutputError(f"cannot write {self.path}: {exc}") from exc


def write_segments(scan: VideoScan, segments: list[Segment], out: Path, stem: str, config: MiningConfig) -> list[str]:
    """Decode ``scan.path`` again and write every segment (sorted, disjoint) into ``out``.

    Returns the clip file names, in segment order.
    """
    names = [clip_name(stem, s) for s in segments]
    if not segments:
        return names
    frame_step = max(1, round(1 / (scan.rate * scan.time_base)))
    pending = list(zip(segments, names))
    writer: ClipWriter | None = None
    rows: list[dict] = []
    with open_video(scan.path) as container:
        for index, frame in enumerate(decoded_frames(container, scan.path)):
            segment, name = pending[0]
            if index == segment.start:
                writer, rows = ClipWriter(out / name, scan, config), []
            if writer is None:
                continue
            record = scan.frames[index]
            pts = writer.write(frame, index * frame_step)
            rows.append({"index": index - segment.start, "pts": pts, "time": round(record.time - scan.frames[segment.start].time, 6),
                         "tracks": [record.subject.to_json()]})
            if index == segment.stop - 1:
                writer.close()
                write_landmarks(out / landmarks_name(name), scan, segment, name, writer.time_base, rows)
                writer = None
                pending.pop(0)
                if not pending:
                    break
    return names


def write_landmarks(path: Path, scan: VideoScan, segment: Segment, clip: str, time_base: Fraction, rows: list[dict]) -> None:
    """The ``facedeblur landmarks --json`` layout for one clip, plus its source and frame range."""
    document = {
        "input": clip,
        "backend": scan.backend,
        "width": scan.upright_size[0],
        "height": scan.upright_size[1],
        "rotation": 90 * scan.turns,
        "time_base": str(time_base),
        "source": str(scan.path),
        "source_frames": [segment.start, segment.stop],
        "frames": rows,
    }
    try:
        path.write_text(json.dumps(document) + "\n", encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from exc
