"""``facedeblur-stream INPUT OUTPUT``: the streaming filter (also ``facedeblur stream``)."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from typing import TYPE_CHECKING

from ..errors import FaceDeblurError
from ..io.crashsafe import MODES as CRASH_SAFE_MODES
from ..io.locations import (DEFAULT_INPUT_TIMEOUT_S, check_input, check_paths, check_side_output, parse_input,
                            parse_options, parse_output, redact)
from ..ring import DEFAULT_MAX_MEMORY
from .options import FiniteFloatRange, blur_gate_option, debug_option, engine_option, landmarks_option

if TYPE_CHECKING:
    from ..pipeline import Pipeline

EXAMPLES = """\b
Examples:
  facedeblur-stream in.mp4 out.mp4
  facedeblur-stream in.mp4 out.mkv -c ffv1                      # lossless
  facedeblur-stream -f v4l2 /dev/video0 rtmp://host/live/key    # webcam to a streaming server
  ffmpeg -i in.mov -f nut - | facedeblur-stream - - -F nut | ffplay -
  facedeblur-stream 'tcp://0.0.0.0:9000?listen' out.mp4 --reconnect 3 --input-timeout 60
  facedeblur-stream in.mp4 cmp.mp4 --compare --stats stats.json

\b
Exit codes: 0 success, 1 runtime failure (also a damaged or silent input, after the output
is finalised, and an interrupted run), 2 usage error. Ctrl-C / SIGTERM stop reading at once,
even while a read waits, then flush and finalise the output; a second one stops without
flushing. Live inputs (devices, network URLs) drop newly decoded frames when the pipeline
falls behind (counted in --stats and in the summary); files and -f lavfi graphs never drop
(a graph is live only when paced by a realtime filter: 'testsrc=rate=30,realtime').
"""


class Interrupted(FaceDeblurError):
    """The run was stopped by SIGINT/SIGTERM (the output was finalised)."""


class StderrFormatter(logging.Formatter):
    """``level: message``, with the secrets of any URL in it masked."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {redact(record.getMessage())}"


def configure_logging(*, quiet: bool, verbose: bool) -> None:
    logger = logging.getLogger("streamfilter")
    logger.setLevel(logging.ERROR if quiet else logging.DEBUG if verbose else logging.WARNING)
    if not any(getattr(h, "facedeblur", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(StderrFormatter())
        handler.facedeblur = True
        logger.addHandler(handler)
        logger.propagate = False


class SignalStop:
    """What SIGINT/SIGTERM do under ``stop_on_signals``: until ``pipeline`` is set (while the
    input and output open) raise ``Interrupted``; then the first one stops reading (the output
    is finalised) and any later one aborts the run."""

    def __init__(self) -> None:
        self.pipeline: Pipeline | None = None
        self.received: list[str] = []

    def __call__(self, signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        self.received.append(name)
        if self.pipeline is None:
            raise Interrupted(f"interrupted by {name} before the run started")
        if len(self.received) == 1:
            self.pipeline.interrupt()
        else:
            self.pipeline.abort()

    def raise_if_received(self) -> None:
        """After the run: ``Interrupted``, saying how it ended, if a signal stopped it."""
        if len(self.received) > 1:
            outcome = ("left unfinished (a stage was still busy)" if self.pipeline.running
                       else "closed without flushing the encoder")
            raise Interrupted(f"stopped by a second signal ({self.received[1]}): output {outcome}")
        if self.received:
            raise Interrupted(f"interrupted by {self.received[0]}: output finalised with "
                              f"{self.pipeline.stats.frames_out} frames")


@contextmanager
def stop_on_signals() -> Iterator[SignalStop]:
    """Handle SIGINT/SIGTERM with a ``SignalStop`` inside the block."""
    handler = SignalStop()
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield handler
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXAMPLES)
@click.argument("input_", metavar="INPUT")
@click.argument("output", metavar="OUTPUT")
@click.option("-f", "--input-format", help="Demuxer or capture device (v4l2, avfoundation, dshow, nut, mpegts, ...).")
@click.option("-F", "--output-format", help="Muxer; inferred from the extension or URL when omitted (needed for '-').")
@click.option("--input-option", multiple=True, metavar="K=V", help="FFmpeg option for opening the input (repeatable).")
@click.option("--output-option", multiple=True, metavar="K=V", help="FFmpeg option for opening the output (repeatable).")
@click.option("-c", "--codec", default="libx264", show_default=True, help="Video encoder (ffv1 or libx264 --crf 0: lossless).")
@click.option("--crf", type=int, help="Constant rate factor (x264/x265/vpx).")
@click.option("--preset", help="Encoder preset, e.g. ultrafast ... veryslow for libx264.")
@click.option("--pix-fmt", help="Encoder pixel format (default: the input's, when the encoder takes it).")
@click.option("--bitrate", help="Target video bitrate, e.g. 4M or 800k.")
@click.option("--codec-option", multiple=True, metavar="K=V",
              help="Encoder option (repeatable), e.g. tune=film or x264-params=keyint=60.")
@click.option("--model", default="auto", show_default=True,
              help="none (passthrough), auto (the trained weights shipped for the device), a model name "
                   "(see 'facedeblur models'), a checkpoint, or identity (face path only).")
@engine_option
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N].")
@landmarks_option
@click.option("--max-faces", type=int, default=4, show_default=True)
@click.option("--min-face-size", type=int, default=40, show_default=True, metavar="PX")
@blur_gate_option
@click.option("--compare", is_flag=True, help="Write input | output side by side (double width).")
@click.option("--stats", "stats_path", type=click.Path(dir_okay=False), help="Write frames, faces, fps and per-stage latency as JSON.")
@click.option("--latency-budget", type=FiniteFloatRange(min=0, min_open=True), default=200, show_default=True,
              metavar="MS", help="Live inputs: time from decode to the end of processing; a frame that would "
                                 "miss it keeps its faces unrestored ('late' in the stats).")
@click.option("--reconnect", type=click.IntRange(min=0), default=0, show_default=True,
              help="Reopen a network input up to N times in all when it is lost: a read error, silence "
                   "past --input-timeout, or the end of a live stream (its sender went away).")
@click.option("--input-timeout", type=FiniteFloatRange(min=0), default=DEFAULT_INPUT_TIMEOUT_S, show_default=True,
              metavar="SECONDS", help="Pipes and live inputs: end the run (output finalised, exit 1) when the "
                                      "input sends nothing for this long, opening included (a listening URL "
                                      "waits this long for its sender); 0: no limit. Files have none.")
@click.option("--max-memory", type=click.IntRange(min=0), default=DEFAULT_MAX_MEMORY // 2**20, show_default=True,
              metavar="MB", help="Budget for the frames the pipeline holds, in MiB (estimated from the input's "
                                 "frame size): the ring of 16 frames shrinks to fit, and an input too large "
                                 "for the smallest ring is refused; 0: no limit. Encoder buffers not counted.")
@click.option("--crash-safe", type=click.Choice(CRASH_SAFE_MODES), default="auto", show_default=True,
              help="Write the output so that a run killed without warning (SIGKILL, power loss) keeps all but "
                   "its last seconds: fragmented MP4, Matroska clusters every second, flushed after every "
                   "packet. auto: on for pipe, device and network inputs written to a file or a pipe, off "
                   "for file inputs.")
@click.option("-y", "--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, summary or warnings (errors only).")
@click.option("-v", "--verbose", is_flag=True, help="Log stream details.")
@debug_option
def stream(input_: str, output: str, input_format: str | None, output_format: str | None,
           input_option: tuple[str, ...], output_option: tuple[str, ...], codec: str, crf: int | None,
           preset: str | None, pix_fmt: str | None, bitrate: str | None, codec_option: tuple[str, ...],
           model: str, engine: str, device: str,
           landmarks: str, max_faces: int, min_face_size: int, blur_gate: float, compare: bool, stats_path: str | None,
           latency_budget: float, reconnect: int, input_timeout: float, max_memory: int, crash_safe: str,
           overwrite: bool, quiet: bool, verbose: bool, debug: bool) -> None:
    """Deblur faces in a video stream: INPUT (file, '-', URL or device) -> OUTPUT (file, '-' or URL).

    Every input frame gives one output frame with the same timestamp; audio is copied, or
    re-encoded (with a warning) where the output container cannot take it.
    """
    from ..factory import ProcessorOptions, make_processor  # numpy, av, numba: not loaded for --help
    from ..io.ffoptions import check_option_names
    from ..io.sink import EncoderOptions, plan_crash_safe
    from ..pipeline import Pipeline
    from ..progress import Progress

    configure_logging(quiet=quiet, verbose=verbose)
    input_options = parse_options(input_option, flag="--input-option")
    output_options = parse_options(output_option, flag="--output-option")
    check_option_names(input_options, flag="--input-option")
    check_option_names(output_options, flag="--output-option")
    encoder = EncoderOptions(codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt, bitrate=bitrate,
                             extra=tuple(parse_options(codec_option, flag="--codec-option").items()))
    source_at = parse_input(input_, input_format=input_format)
    sink_at, muxer = parse_output(output, output_format=output_format)
    check_input(source_at)
    check_paths(source_at, sink_at, overwrite=overwrite)
    if stats_path is not None:
        check_side_output(stats_path, flag="--stats", source=source_at, sink=sink_at, overwrite=overwrite)
    # Refused --crash-safe combinations before the model is built; Pipeline.open plans the same again.
    plan_crash_safe(crash_safe, source=source_at, sink=sink_at, output_format=muxer, options=output_options)
    processor = make_processor(ProcessorOptions(model=model, engine=engine, device=device, landmarks=landmarks,
                                                max_faces=max_faces, min_face_size=min_face_size, blur_gate=blur_gate))
    with stop_on_signals() as stop:
        stop.pipeline = Pipeline.open(input_, output, processor=processor, input_format=input_format,
                                      output_format=output_format, input_options=input_options,
                                      output_options=output_options, encoder=encoder, compare=compare,
                                      reconnect=reconnect, overwrite=overwrite,
                                      latency_budget=latency_budget / 1e3, input_timeout=input_timeout or None,
                                      crash_safe=crash_safe, max_memory=max_memory * 2**20 or None)
        pipeline = stop.pipeline
        log = logging.getLogger("streamfilter")
        info = pipeline.info
        log.info("input %s: %dx%d, time base %s, %s fps, %d audio stream(s)", source_at.shown, info.width,
                 info.height, info.time_base, info.average_rate, len(pipeline.source.audio))
        progress = Progress(info.frames, enabled=not quiet and pipeline.source.location.kind == "file")
        try:
            pipeline.run(on_tick=progress.update)
            stop.raise_if_received()
        finally:
            progress.close()
            pipeline.close()
            if stats_path is not None:
                pipeline.stats.write_json(stats_path)
            if not quiet:
                click.echo(f"facedeblur-stream: {pipeline.stats.summary()}", err=True)
