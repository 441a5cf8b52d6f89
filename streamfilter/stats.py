"""Run statistics: frames in/out, drops, faces and what became of them (``face_paths``: e.g.
restored, or passed through as sharp), corrupt packets, mean fps and per-stage latency.

Each counter has a single writer thread (the source counts frames in, the sink frames out), so
plain integers are enough. Latencies keep count, sum and max exactly, and percentiles over the
last ``LatencyMeter.window`` samples.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

import numpy as np


def paths_text(paths: dict[str, int]) -> str:
    """Face path counts as text, e.g. ``"120 restored, 180 sharp"`` (sorted by path)."""
    return ", ".join(f"{count} {path}" for path, count in sorted(paths.items()))


class LatencyMeter:
    """Durations (seconds) of one stage's per-item work."""

    window = 4096

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self._recent: deque[float] = deque(maxlen=self.window)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.max = max(self.max, seconds)
        self._recent.append(seconds)

    def as_dict(self) -> dict[str, float | int]:
        """Milliseconds: mean, p50, p95, max (count is the number of items)."""
        if not self.count:
            return {"count": 0}
        recent = np.asarray(self._recent)
        return {
            "count": self.count,
            "mean_ms": 1e3 * self.total / self.count,
            "p50_ms": 1e3 * float(np.percentile(recent, 50)),
            "p95_ms": 1e3 * float(np.percentile(recent, 95)),
            "max_ms": 1e3 * self.max,
        }


class Stats:
    """Counters and latencies of one pipeline run."""

    def __init__(self) -> None:
        self.frames_in = 0
        self.frames_out = 0
        self.faces = 0
        self.face_paths: Counter[str] = Counter()
        self.corrupt_packets = 0
        self.drops = 0
        self.started = time.perf_counter()
        self.ended: float | None = None
        self._meters: dict[str, LatencyMeter] = {}
        self._lock = threading.Lock()

    def record(self, stage: str, seconds: float) -> None:
        """Add one duration to ``stage``'s latency meter."""
        meter = self._meters.get(stage)
        if meter is None:
            with self._lock:
                meter = self._meters.setdefault(stage, LatencyMeter())
        meter.add(seconds)

    def stop(self) -> None:
        self.ended = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return (self.ended or time.perf_counter()) - self.started

    @property
    def mean_fps(self) -> float:
        return self.frames_out / self.elapsed if self.elapsed > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "drops": self.drops,
            "faces": self.faces,
            "face_paths": dict(sorted(self.face_paths.items())),
            "corrupt_packets": self.corrupt_packets,
            "seconds": self.elapsed,
            "mean_fps": self.mean_fps,
            "latency": {name: meter.as_dict() for name, meter in sorted(self._meters.items())},
        }

    def summary(self) -> str:
        """One line for stderr at the end of a run."""
        faces = f"{self.faces} faces"
        if self.face_paths:
            faces += f" ({paths_text(self.face_paths)})"
        line = f"{self.frames_in} frames in, {self.frames_out} out, {faces}, {self.mean_fps:.1f} fps mean ({self.elapsed:.1f} s)"
        if self.drops:
            line += f", {self.drops} dropped (live input, consumer too slow)"
        return line

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.as_dict(), indent=2) + "\n")
