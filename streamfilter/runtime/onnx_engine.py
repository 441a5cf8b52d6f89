"""The ``onnxruntime`` engine: the exported per-frame and per-window graphs on ONNX Runtime.

Sessions are tuned for a streaming filter that shares the CPU with decoding, the face stage
and encoding: a fixed number of intra-op threads, one inter-op thread, sequential execution,
and no spin-waiting (idle worker threads sleep instead of burning a core).

On the CPU the pipeline hands the restorer ``CPU_WINDOWS_IN_FLIGHT`` windows at once (its
``concurrency``; ONNX Runtime sessions may run concurrently), each session on half the cores:
the small convolutions of finenet-lite do not split well across threads. Two windows on one
thread each were chosen over one window on two threads, two on two threads each and three on
one thread each by timing the whole 720p pipeline with the model on every face on the 2-core
machine (the figures are in the README's "Benchmarks"; no results file records them).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from ..errors import ModelError
from ..models.config import ModelConfig
from .cache import CachedRestorer
from .graphs import GraphPaths


CPU_WINDOWS_IN_FLIGHT = 2
"""Windows restored at once on the CPU (see the module docstring)."""


def session_options(*, threads: int) -> ort.SessionOptions:
    """ONNX Runtime options: ``threads`` intra-op threads, no spinning, full graph optimisation."""
    if threads < 1:
        raise ModelError(f"threads must be >= 1, got {threads}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def open_session(path: Path, *, threads: int, providers: Sequence[str]) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(path), sess_options=session_options(threads=threads), providers=list(providers))
    except (ort_state.Fail, ort_state.InvalidGraph, ort_state.InvalidProtobuf) as exc:
        raise ModelError(f"ONNX Runtime cannot load {path}: {exc}") from exc


class OnnxRestorer(CachedRestorer):
    """Restorer over the two graphs at ``graphs`` (see ``runtime.export``, ``runtime.graphs``)."""

    def __init__(
        self,
        config: ModelConfig,
        graphs: GraphPaths,
        *,
        threads: int = 2,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        cache_size: int = 64,
        concurrency: int = 1,
    ):
        super().__init__(config=config, cache_size=cache_size)
        if concurrency < 1:
            raise ModelError(f"concurrency must be >= 1, got {concurrency}")
        self.concurrency = concurrency
        self.frame_session = open_session(graphs.frame, threads=threads, providers=providers)
        self.window_session = open_session(graphs.window, threads=threads, providers=providers)
        self._frame_inputs = {i.name for i in self.frame_session.get_inputs()}
        self._window_inputs = [i.name for i in self.window_session.get_inputs()]
        self._frame_outputs = [o.name for o in self.frame_session.get_outputs()]

    def _run_frame(self, crops: np.ndarray, heatmaps: np.ndarray) -> list[tuple[Any, ...]]:
        given = {"crops": crops, "heatmaps": heatmaps}
        feeds = {name: value for name, value in given.items() if name in self._frame_inputs}
        outputs = self.frame_session.run(self._frame_outputs, feeds)
        return list(zip(*outputs, strict=True))

    def _run_window(self, crops: np.ndarray, features: list[Any]) -> np.ndarray:
        named = dict(zip(["crops", *self._frame_outputs], [crops, *features], strict=True))
        return self.window_session.run(["output"], {name: named[name] for name in self._window_inputs})[0]

    def _stack(self, items: Sequence[Any]) -> Any:
        return np.stack(items)

    def close(self) -> None:
        super().close()
        self.frame_session = self.window_session = None
