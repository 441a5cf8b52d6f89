"""Per-frame feature caching shared by the engines.

``CachedRestorer`` implements ``Restorer.restore`` once for every engine: it converts the uint8
crops to float in [0, 1], runs the per-frame part only for frames whose ``FaceWindow.keys`` are
not cached (one batch for all of them), stacks the cached features of each window along a time
axis, runs the per-window part on all faces as one batch and returns its output in 8-bit
levels. Engines supply ``_run_frame`` and ``_run_window`` and the array type (numpy or torch)
through ``_stack``.

The cache is a bounded LRU: with F faces per frame and radius r, a frame's features are needed
by the 2 r + 1 windows that contain it, so F (2 r + 2) entries suffice for a steady stream; the
default bound leaves room for more faces and is configurable.

``restore`` may run in several threads at once (windows in flight, see ``window.WindowStage``):
the cache is locked, and two windows that miss the same frame at the same moment both compute
its features (the per-frame part is the cheap one).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from ..errors import ModelError
from ..models.config import ModelConfig
from ..restorer import FaceWindow, checked_heatmap


class FeatureCache:
    """Bounded LRU of per-frame features keyed by ``FaceWindow.keys`` entries (thread-safe)."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ModelError(f"feature cache capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._items: OrderedDict[Hashable, tuple[Any, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[Any, ...] | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: tuple[Any, ...]) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class CachedRestorer(ABC):
    """Base of the engines: batching, uint8 <-> float conversion and per-frame caching.

    ``frames_computed`` counts the per-frame computations done so far (one per cache miss).
    """

    concurrency = 1
    """Windows worth restoring at once (an engine that runs calls in parallel raises it)."""

    def __init__(self, *, config: ModelConfig, cache_size: int):
        self.config = config
        self.crop_size = config.crop_size
        self.heatmap_size = config.heatmap_size
        self.radius = config.radius
        self.cache = FeatureCache(cache_size)
        self.frames_computed = 0
        self._count_lock = threading.Lock()

    @abstractmethod
    def _run_frame(self, crops: np.ndarray, heatmaps: np.ndarray) -> list[tuple[Any, ...]]:
        """crops (M, 3, S, S) float32 in [0, 1], heatmaps (M, 68, H, H) -> M feature tuples."""

    @abstractmethod
    def _run_window(self, crops: np.ndarray, features: list[Any]) -> np.ndarray:
        """crops (N, T, 3, S, S) float32 + stacked features (N, T, ...) -> (N, 3, S, S) float32."""

    @abstractmethod
    def _stack(self, items: Sequence[Any]) -> Any:
        """Stack engine arrays along a new leading axis."""

    def _check(self, face: FaceWindow) -> None:
        frames = 2 * self.radius + 1
        if len(face.keys) != frames:
            raise ModelError(f"{self.config.name} needs windows of {frames} frames, got {len(face.keys)}")
        if face.crops.shape[1] != self.crop_size:
            raise ModelError(f"{self.config.name} needs {self.crop_size}px crops, got {face.crops.shape[1]}px")

    def _heatmap(self, face: FaceWindow, index: int) -> np.ndarray:
        try:
            return checked_heatmap(face, index, self.heatmap_size)
        except ValueError as exc:
            raise ModelError(f"{self.config.name}: {exc}") from None

    def restore(self, faces: Sequence[FaceWindow]) -> np.ndarray:
        """Restore the centre crop of each window: (N, S, S, 3) float32 RGB, 8-bit levels
        rounded but not clipped, so that the face path sees a NaN or infinity of the network."""
        size = self.crop_size
        if not faces:
            return np.zeros((0, size, size, 3), np.float32)
        for face in faces:
            self._check(face)
        features: dict[Hashable, tuple[Any, ...]] = {}
        missing: dict[Hashable, tuple[np.ndarray, np.ndarray]] = {}
        for face in faces:
            for i, key in enumerate(face.keys):
                if key in features or key in missing:
                    continue
                cached = self.cache.get(key)
                if cached is None:
                    missing[key] = (face.crops[i], self._heatmap(face, i))
                else:
                    features[key] = cached
        if missing:
            crops = _to_float(np.stack([crop for crop, _ in missing.values()]))
            heatmaps = np.ascontiguousarray(np.stack([heatmap for _, heatmap in missing.values()]))
            for key, value in zip(missing, self._run_frame(crops, heatmaps), strict=True):
                features[key] = value
                self.cache.put(key, value)
            with self._count_lock:
                self.frames_computed += len(missing)
        window_crops = _to_float(np.stack([face.crops for face in faces]))
        parts = len(features[faces[0].keys[0]])
        stacked = [
            self._stack([self._stack([features[key][p] for key in face.keys]) for face in faces]) for p in range(parts)
        ]
        restored = self._run_window(window_crops, stacked)
        return np.rint(restored.transpose(0, 2, 3, 1) * 255.0)

    def close(self) -> None:
        self.cache.clear()


def _to_float(crops: np.ndarray) -> np.ndarray:
    """(..., S, S, 3) uint8 -> (..., 3, S, S) float32 in [0, 1]."""
    return np.ascontiguousarray(np.moveaxis(crops, -1, -3), dtype=np.float32) / np.float32(255.0)
