"""The pipeline: source -> ring -> [analysis] -> frame windows -> sink, one thread per stage.

    source (demux + decode)  --ring (capacity slots)-->  analyze (only if processor.needs_analysis)
        --channel-->  process (windows t-r..t+r -> frame t)  --channel (sink_queue)-->  sink (encode + mux)
    source --audio FIFO--> sink

Memory: at most ``ring_capacity`` slots are held between decode and the end of their last
window, plus ``sink_queue`` processed frames waiting for the encoder (see ``ring.py`` for the
per-slot size). ``estimate_memory`` bounds the bytes of all of them for the input's frame size,
and ``max_memory`` is a budget for that bound: a ring that would exceed it is shrunk (with a
warning) to what fits, never below the processor's minimum 2 * radius + 2; when even that does
not fit the run is refused (``InputError``) before any frame is read. The decoder's and the
encoder's own buffers (libx264's lookahead) are not counted.

Live inputs drop newly decoded frames instead of stalling when the ring is full
(``Stats.drops``); files, pipes and unpaced filter graphs never drop. On live inputs each frame
also carries a deadline (decode time + ``latency_budget``) after which the face path skips the
network on it.

Stopping: ``interrupt()`` (Ctrl-C) stops reading at once, whatever the input is doing (the
source waits on its reader in short slices, ``io/reader.py``); the frames read so far are
processed and the output is finalised. A pipe or live input that sends nothing for
``input_timeout`` seconds ends the run the same way, then ``run`` raises ``InputError``.
``abort()`` stops every stage without draining the encoder; a stage still busy after
``STOP_WAIT_S`` (a model call, a write that blocks) is left running. After a stage failure
the others still finalise the output (``JOIN_TIMEOUT_S``).

Use from Python::

    with Pipeline.open("in.mp4", "out.mp4", processor=Passthrough()) as pipeline:
        stats = pipeline.run()
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .errors import FaceDeblurError, InputError, StageError, UsageError
from .io.locations import DEFAULT_INPUT_TIMEOUT_S, Location, check_paths, parse_input, parse_output
from .io.sink import EncoderOptions, SinkStage, VideoSink, plan_crash_safe
from .io.source import SourceStage, VideoInfo, VideoSource
from .processor import Processor
from .ring import (DEFAULT_CAPACITY, DEFAULT_MAX_MEMORY, FrameRing, MemoryEstimate, check_capacity, decoded_bytes,
                   minimum_capacity)
from .stage import POLL_S, Channel, Flow, Stage
from .stats import Stats
from .window import AnalysisStage, WindowStage, windows_in_flight

log = logging.getLogger("streamfilter")

SINK_QUEUE = 4
DEFAULT_LATENCY_BUDGET = 0.2
"""Seconds from decode to the end of processing a live frame may take before the processor
skips its optional work on it (``FrameSlot.deadline``)."""
STOP_WAIT_S = 1.0
"""After ``abort()``, how long ``close`` waits for the stages before leaving the busy ones."""
JOIN_TIMEOUT_S = 10.0
"""The same after a stage failure, while the sink still flushes the encoder."""


def estimate_memory(width: int, height: int, pix_fmt: str | None, *, processor: Processor,
                    sink_queue: int = SINK_QUEUE, compare: bool = False) -> MemoryEstimate:
    """Bound on the frame memory of a run on ``width`` x ``height`` frames decoded as ``pix_fmt``.

    A slot holds the decoded planes, its RGB copy (W x H x 3) and what the processor caches on
    it (``slot_cache_bytes``, default 0); a frame whose display rotation is a quarter turn may
    hold a second, upright RGB copy, not counted. Beyond the ring: the slots of the frames
    queued for or being encoded that the ring has already released (``sink_queue`` + 1 -
    radius), the results in flight (``sink_queue`` queued, one being encoded, one per window in
    flight; each the larger of an RGB array and a decoded copy) and the sink's conversion of one
    frame (the side-by-side picture with ``compare``).
    """
    decoded = decoded_bytes(width, height, pix_fmt)
    rgb = width * height * 3
    slot = decoded + rgb + getattr(processor, "slot_cache_bytes", 0)
    released = max(0, sink_queue + 1 - processor.radius)
    results = (sink_queue + 1 + windows_in_flight(processor)) * max(decoded, rgb)
    converting = 5 * rgb + 2 * decoded if compare else rgb + decoded
    return MemoryEstimate(per_slot=slot, fixed=released * slot + results + converting)


def _mib(size: int) -> str:
    """``size`` bytes as whole MiB, rounded up."""
    return f"{-(-size // 2**20)} MiB"


class Pipeline:
    """One run from an opened source to an opened sink through ``processor``."""

    def __init__(self, source: VideoSource, sink: VideoSink, processor: Processor, *,
                 ring_capacity: int = DEFAULT_CAPACITY, sink_queue: int = SINK_QUEUE,
                 latency_budget: float = DEFAULT_LATENCY_BUDGET, max_memory: int | None = DEFAULT_MAX_MEMORY):
        """``ring_capacity`` below 2 * radius + 2 is a ValueError; ``max_memory``: bytes (None:
        no budget; see the module docstring)."""
        check_capacity(ring_capacity, processor.radius)
        self.source = source
        self.sink = sink
        self.processor = processor
        self.flow = Flow()
        self.stats = Stats()
        self.info: VideoInfo = source.info
        self.memory = estimate_memory(self.info.width, self.info.height, source.video.codec_context.pix_fmt,
                                      processor=processor, sink_queue=sink_queue, compare=sink.compare)
        capacity = ring_capacity if max_memory is None else self._fit_ring(ring_capacity, max_memory)
        self.ring = FrameRing(self.flow, capacity=capacity, radius=processor.radius)
        audio = Channel(self.flow, None)
        frames_out = Channel(self.flow, sink_queue)
        routes = sink.plan_audio(source.audio)
        self.source_stage = SourceStage(self.flow, source, self.ring, routes=routes, audio_out=audio, stats=self.stats)
        upstream = self.ring
        self.stages: list[Stage] = [self.source_stage]
        if processor.needs_analysis:
            analysed = Channel(self.flow, capacity)
            self.stages.append(AnalysisStage(self.flow, processor, upstream=self.ring, output=analysed,
                                             is_late=self._is_late, stats=self.stats))
            upstream = analysed
        self.stages.append(WindowStage(self.flow, processor, upstream=upstream, output=frames_out,
                                       release=self.ring.release, stats=self.stats,
                                       latency_budget=latency_budget if source.location.is_live else None))
        self.stages.append(SinkStage(self.flow, sink, self.info, frames=frames_out, audio_in=audio, stats=self.stats))
        self._channels = [audio, frames_out] + ([analysed] if processor.needs_analysis else [])
        self._started = False
        self._closed = False

    @classmethod
    def open(cls, input: str, output: str, *, processor: Processor, input_format: str | None = None,
             output_format: str | None = None, input_options: dict[str, str] | None = None,
             output_options: dict[str, str] | None = None, encoder: EncoderOptions | None = None,
             compare: bool = False, reconnect: int = 0, overwrite: bool = False,
             ring_capacity: int = DEFAULT_CAPACITY, latency_budget: float = DEFAULT_LATENCY_BUDGET,
             input_timeout: float | None = DEFAULT_INPUT_TIMEOUT_S, crash_safe: str = "auto",
             max_memory: int | None = DEFAULT_MAX_MEMORY) -> Pipeline:
        """Open INPUT and OUTPUT as the CLI does (``-`` for stdin/stdout, URLs, devices).

        ``input_timeout``: seconds a pipe or live input may send nothing, opening included
        (None: no limit; files and unpaced filter graphs have none). ``crash_safe``: auto, on or
        off (``io/crashsafe.py``), checked before the input is opened, as ``ring_capacity`` is.
        ``max_memory``: the frame memory budget in bytes (None: none); an input too large for
        it is refused before the output is written.

        The pipeline owns ``processor`` from the call on: closed with the pipeline, or here
        when opening fails.
        """
        try:
            windows_in_flight(processor)
            check_capacity(ring_capacity, processor.radius)
            source_at = parse_input(input, input_format=input_format)
            sink_at, muxer = parse_output(output, output_format=output_format)
            check_paths(source_at, sink_at, overwrite=overwrite)
            crash = plan_crash_safe(crash_safe, source=source_at, sink=sink_at, output_format=muxer,
                                    options=output_options or {})
            source = VideoSource(source_at, input_format=input_format, options=input_options, reconnect=reconnect,
                                 timeout=input_timeout)
        except BaseException:
            processor.close()
            raise
        try:
            sink = VideoSink(sink_at, output_format=muxer, options=output_options or {},
                             encoder=encoder or EncoderOptions(), compare=compare, crash_safe=crash)
            try:
                return cls(source, sink, processor, ring_capacity=ring_capacity, latency_budget=latency_budget,
                           max_memory=max_memory)
            except BaseException:
                sink.close(flush=False)
                raise
        except BaseException:
            source.close()
            processor.close()
            raise

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        if self._started:
            raise RuntimeError("a pipeline runs once")
        self._started = True
        self.stats.started = time.perf_counter()
        for stage in reversed(self.stages):
            stage.start()

    def interrupt(self) -> None:
        """Stop reading; frames already read are still processed and the output is finalised."""
        self.flow.interrupt.set()

    def abort(self) -> None:
        """Stop every stage now (the output container is still closed)."""
        self.flow.abort.set()

    @property
    def running(self) -> bool:
        return any(stage.alive for stage in self.stages)

    def run(self, *, on_tick: Callable[[Stats], None] | None = None) -> Stats:
        """Start (if needed), wait for the end of the stream (or an abort), close, and return
        the stats.

        Raises the first stage failure (a ``FaceDeblurError`` as is, anything else wrapped in
        ``StageError``), or ``InputError`` if the input was damaged or went silent (after the
        output is finalised with everything that could be decoded).
        """
        if not self._started:
            self.start()
        while self.running and not self.flow.aborted_by_request:
            time.sleep(POLL_S * 2)
            if on_tick is not None:
                on_tick(self.stats)
        self.close()
        self._raise_failure()
        return self.stats

    def close(self) -> None:
        """Stop the stages (abort if still running), drain the queues, release the input and
        the processor (left to a stage still busy when the wait is over)."""
        if self._closed:
            return
        self._closed = True
        if self.running:
            self.abort()
        waited = STOP_WAIT_S if self.flow.aborted_by_request else JOIN_TIMEOUT_S
        give_up_at = time.monotonic() + waited
        for stage in self.stages:
            stage.join(max(0.0, give_up_at - time.monotonic()))
        busy = [stage.name for stage in self.stages if stage.alive]
        for channel in self._channels:
            channel.drain()
        self.ring.clear()
        if not self._started:
            self.sink.close(flush=False)
        self.stats.drops = self.ring.dropped
        self.stats.stop()
        if busy:
            log.warning("stage %s still busy %g s after the stop; left running", ", ".join(busy), waited)
            return
        self.source.close()
        self.processor.close()

    def _fit_ring(self, wanted: int, budget: int) -> int:
        """The ring capacity, at most ``wanted``, whose estimate fits ``budget``; ``InputError``
        when even the processor's minimum does not fit."""
        minimum = minimum_capacity(self.processor.radius)
        capacity = self.memory.capacity_within(budget, wanted=wanted)
        size = f"{self.info.width}x{self.info.height}"
        if capacity < minimum:
            raise InputError(f"input {self.source.location.shown} is {size}: even the smallest ring ({minimum} "
                             f"frames) needs an estimated {_mib(self.memory.total(minimum))} of frame memory, "
                             f"over the budget of {_mib(budget)} (--max-memory)")
        if capacity < wanted:
            log.warning("%s input: ring shrunk from %d to %d frames to keep the estimated frame memory "
                        "(%s) within the budget of %s (--max-memory)", size, wanted, capacity,
                        _mib(self.memory.total(capacity)), _mib(budget))
        return capacity

    def _is_late(self) -> bool:
        return self.source.location.is_live and self.ring.held >= self.ring.capacity - 1

    def _raise_failure(self) -> None:
        if self.flow.failure is not None:
            stage, error = self.flow.failure
            if isinstance(error, FaceDeblurError):
                raise error
            raise StageError(stage, error) from error
        if self.source_stage.lost is not None:
            raise InputError(f"input {self.source.location.shown} lost: {self.source_stage.lost}; the output "
                             f"holds the {self.stats.frames_out} frames read")
        damage = self.source_stage.damage
        if damage:
            more = f" (+{len(damage) - 1} more)" if len(damage) > 1 else ""
            raise InputError(f"input is damaged: {damage[0]}{more}; the output holds the "
                             f"{self.stats.frames_out} frames that could be decoded")
        if self.source_stage.silent:
            raise InputError(f"input {self.source.location.shown} went silent: nothing received for "
                             f"{self.source.timeout:g} s (--input-timeout); the output holds the "
                             f"{self.stats.frames_out} frames read")
        if self.stats.frames_in == 0 and not self.flow.interrupt.is_set():
            raise InputError(f"no video frame could be decoded from {self.source.location.shown}")
