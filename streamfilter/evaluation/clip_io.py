"""Read the first frames of a clip as RGB, write RGB frames losslessly (FFV1 in Matroska).

The lossless clip keeps the source's frame rate and pts (Matroska stores them in
milliseconds), so the pipeline sees the same timing as it would on the original clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import InputError, OutputError
from ..io.locations import parse_input
from ..io.reader import open_input
from ..orientation import upright_rgb

LOSSLESS_CODEC = "ffv1"
LOSSLESS_PIX_FMT = "bgr0"
"""8-bit RGB that FFV1 stores exactly: decoding it back to rgb24 gives the written pixels."""


@dataclass(frozen=True, eq=False)
class Clip:
    """The first frames of a clip.

    frames:    (T, H, W, 3) uint8 RGB
    pts:       T presentation timestamps in ``time_base`` units
    rate:      average frame rate (None when the container does not say)
    """

    name: str
    frames: np.ndarray
    pts: tuple[int, ...]
    time_base: Fraction
    rate: Fraction | None

    def __post_init__(self) -> None:
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(f"frames must be (T, H, W, 3) uint8, got {self.frames.shape} {self.frames.dtype}")
        if len(self.pts) != len(self.frames):
            raise ValueError(f"{len(self.pts)} pts for {len(self.frames)} frames")

    @property
    def times(self) -> list[float]:
        """Frame times in seconds."""
        return [float(p * self.time_base) for p in self.pts]


def read_clip(path: Path, *, max_frames: int) -> Clip:
    """Decode up to ``max_frames`` frames of ``path``'s first video stream as upright RGB.

    The frame rate is read from the header before decoding: read afterwards, the demuxer's
    running estimate was once 64472 fps for a 25 fps clip, and FFV1 refused that rate."""
    container = open_input(parse_input(str(path), input_format=None), input_format=None, options={})
    with container:
        if not container.streams.video:
            raise InputError(f"{path} has no video stream")
        stream = container.streams.video[0]
        time_base = stream.time_base or Fraction(1, 1000)
        rate = stream.average_rate or stream.guessed_rate
        frames, pts = [], []
        try:
            for frame in container.decode(stream):
                frames.append(upright_rgb(frame))
                pts.append(frame.pts if frame.pts is not None else (pts[-1] + 1 if pts else 0))
                if len(frames) == max_frames:
                    break
        except av.FFmpegError as exc:
            raise InputError(f"cannot decode {path}: {exc}") from exc
    if not frames:
        raise InputError(f"no video frame could be decoded from {path}")
    return Clip(name=path.name, frames=np.stack(frames), pts=tuple(pts), time_base=time_base, rate=rate)


def write_lossless(path: Path, frames: np.ndarray, *, like: Clip) -> None:
    """Write (T, H, W, 3) uint8 RGB ``frames`` to ``path`` with FFV1, timed like ``like``."""
    try:
        container = av.open(str(path), "w")
    except (av.FFmpegError, OSError) as exc:
        raise OutputError(f"cannot write {path}: {exc}") from exc
    with container:
        stream = container.add_stream(LOSSLESS_CODEC, rate=like.rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = LOSSLESS_PIX_FMT
        stream.time_base = like.time_base
        for image, pts in zip(frames, like.pts):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24").reformat(format=LOSSLESS_PIX_FMT)
            frame.pts, frame.time_base = pts, like.time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def decode_rgb(path: Path):
    """Yield the frames of ``path`` as upright (H, W, 3) uint8 RGB arrays."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield upright_rgb(frame)
