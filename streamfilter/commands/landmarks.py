"""``facedeblur landmarks``: run the face stage on an image or a video.

Writes, per frame, the face tracks (id, box, score, crop box, 68 points as ``[[x, y], ...]``
in input pixels) as JSON, and optionally a drawing of points and boxes (a video for videos, a
PNG/JPEG for a single image). Pixels are those of the frame as displayed: an input with a
display rotation (portrait phone video) is turned upright first, and the header's
``rotation`` says by how many degrees (counter-clockwise). The JSON is streamed frame by
frame, so long videos do not accumulate in memory.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import IO

import av
import click
import cv2
import numpy as np

from ..errors import InputError, OutputError, UsageError
from ..faces.backend import make_backend
from ..faces.processor import slot_time
from ..faces.tracker import FaceTracker, TrackerConfig
from ..faces.types import FaceTrack
from ..frames import FrameSlot
from ..orientation import quarter_turns
from .options import debug_option, landmarks_option

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
POINT_COLOUR = (0, 255, 0)
BOX_COLOUR = (255, 160, 0)
CROP_COLOUR = (255, 0, 255)


def draw_tracks(rgb: np.ndarray, tracks: list[FaceTrack]) -> np.ndarray:
    """A copy of an (H, W, 3) RGB frame with each track's box, crop box, id and points drawn."""
    canvas = np.ascontiguousarray(rgb).copy()
    thickness = max(1, round(max(rgb.shape[:2]) / 500))
    for track in tracks:
        x0, y0, x1, y1 = (int(round(float(v))) for v in track.box)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), BOX_COLOUR, thickness)
        crop = track.crop_box
        cv2.rectangle(canvas, (crop.x0, crop.y0), (crop.x0 + crop.side - 1, crop.y0 + crop.side - 1), CROP_COLOUR, thickness)
        cv2.putText(canvas, str(track.track_id), (x0, max(y0 - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thickness, BOX_COLOUR, thickness)
        for x, y in track.points:
            cv2.circle(canvas, (int(round(float(x))), int(round(float(y)))), thickness + 1, POINT_COLOUR, -1)
    return canvas


class DrawingWriter:
    """Writes drawn frames: an H.264 video, or one image for a single-image input."""

    def __init__(self, path: Path, stream: av.VideoStream):
        self.path = path
        self.image = path.suffix.lower() in IMAGE_SUFFIXES
        self.frames = 0
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._time_base = stream.time_base or Fraction(1, 25)
        self._rate = stream.average_rate or Fraction(25)

    def write(self, rgb: np.ndarray, pts: int | None) -> None:
        self.frames += 1
        if self.image:
            if self.frames > 1:
                raise UsageError(f"--draw {self.path.name}: an image holds one frame; draw videos to .mp4")
            if not cv2.imwrite(str(self.path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
                raise OutputError(f"cannot write {self.path}")
            return
        if self._container is None:
            self._open(rgb.shape[1], rgb.shape[0])
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = pts if pts is not None else self.frames - 1
        frame.time_base = self._time_base
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def _open(self, width: int, height: int) -> None:
        try:
            self._container = av.open(str(self.path), "w")
        except av.FFmpegError as exc:
            raise OutputError(f"cannot open {self.path} for writing: {exc}") from exc
        self._stream = self._container.add_stream("libx264", rate=self._rate)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        self._stream.time_base = self._time_base

    def close(self) -> None:
        if self._container is not None:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()


def open_output(path: str | None) -> IO[str]:
    if path is None or path == "-":
        return sys.stdout
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from exc


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("input_path", metavar="INPUT")
@landmarks_option
@click.option("--json", "json_path", metavar="OUT.json", help="Write landmarks JSON here ('-' or omitted: stdout).")
@click.option("--draw", "draw_path", metavar="OUT.mp4|png", help="Draw points and boxes into a video or image.")
@click.option("--max-faces", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--min-face-size", type=click.IntRange(min=1), default=40, show_default=True, help="Pixels.")
@click.option("--detect-every", type=click.IntRange(min=1), default=TrackerConfig().detect_every, show_default=True, help="Frames between detector runs.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N] (fan backend).")
@debug_option
def landmarks(
    input_path: str,
    landmarks: str,
    json_path: str | None,
    draw_path: str | None,
    max_faces: int,
    min_face_size: int,
    detect_every: int,
    device: str,
    debug: bool,
) -> None:
    """Detect, track and fit 68 landmarks on every frame of INPUT (image or video)."""
    try:
        container = av.open(input_path)
    except (av.FFmpegError, OSError) as exc:
        raise InputError(f"cannot open {input_path}: {exc}") from exc
    with container:
        if not container.streams.video:
            raise InputError(f"{input_path} has no video stream")
        stream = container.streams.video[0]
        config = TrackerConfig(max_faces=max_faces, min_face_size=min_face_size, detect_every=detect_every)
        tracker = FaceTracker(make_backend(landmarks, min_face_size=min_face_size, device=device), config=config)
        drawing = DrawingWriter(Path(draw_path), stream) if draw_path else None
        if drawing is not None and drawing.image and stream.frames > 1:
            raise UsageError(f"--draw {draw_path}: {input_path} has {stream.frames} frames; draw videos to .mp4")
        out = open_output(json_path)
        first, frames = first_frame(decode_frames(container, input_path))
        turns = quarter_turns(first) if first is not None else 0
        width, height = (stream.height, stream.width) if turns % 2 else (stream.width, stream.height)
        header = {"input": input_path, "backend": landmarks, "width": width, "height": height,
                  "rotation": 90 * turns, "time_base": str(stream.time_base) if stream.time_base else None}
        out.write(json.dumps(header)[:-1] + ', "frames": [\n')
        try:
            for index, frame in enumerate(frames):
                slot = FrameSlot(index=index, frame=frame)
                tracks = tracker.update(slot.upright(), slot_time(slot))
                record = {"index": index, "pts": frame.pts, "time": round(slot_time(slot), 6), "tracks": [t.to_json() for t in tracks]}
                out.write((",\n" if index else "") + json.dumps(record))
                if drawing is not None:
                    drawing.write(draw_tracks(slot.upright(), tracks), frame.pts)
            out.write("\n]}\n")
        finally:
            if drawing is not None:
                drawing.close()
            if out is not sys.stdout:
                out.close()
            tracker.backend.close()


def first_frame(frames: Iterator[av.VideoFrame]) -> tuple[av.VideoFrame | None, Iterator[av.VideoFrame]]:
    """The first of ``frames`` (None if there is none) and all of them, the first included."""
    first = next(frames, None)
    return first, (frames if first is None else itertools.chain([first], frames))


def decode_frames(container: av.container.InputContainer, name: str):
    """Decoded video frames; a corrupt stream becomes an ``InputError``."""
    try:
        yield from container.decode(video=0)
    except av.FFmpegError as exc:
        raise InputError(f"cannot decode {name}: {exc}") from exc
