"""A fixed pool of training windows, synthesised once, cached on disk, drawn from every step.

Synthesising a window (cut, blur, compression, landmark fits) costs several times what a
small model's step spends per window (``pool_synthesis_s_per_window`` and ``data_wait`` in
bench/results/train.json), so on-the-fly windows leave the step waiting. A pool of N windows is synthesised once, in parallel, and stored under the
cache directory, keyed by the sources, the window configuration, the seed and N; every run
with the same key reads the same windows. Window j is drawn with
``default_rng([seed, POOL_STREAM, j])`` and batch i picks its windows with
``default_rng([seed, i])``, so a resumed run continues the same stream.

Files in ``<cache>/pool-<key>/``: ``inputs.npy`` (N, T, S, S, 3) uint8 degraded frames,
``targets.npy`` (N, S, S, 3) uint8 sharp centres, ``points.npy`` (N, T, 68, 2) float32
landmarks fitted on the degraded frames (only when the windows use landmarks); all
memory-mapped.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from ..faces.backend import make_backend
from .dataset import Sources
from .windows import WindowConfig, WindowSampler, heatmaps_of

POOL_STREAM = 104729
"""Second seed word of pool windows: keeps them apart from the step-indexed batch stream."""


def pool_key(sources: Sources, config: WindowConfig, *, size: int, seed: int) -> str:
    """A digest of everything that decides the pool's windows."""
    parts = [repr(config), str(size), str(seed)]
    parts += [f"{clip.name}:{len(clip.frames)}" for clip in sources.clips]
    parts += [photo.name for photo in sources.photos]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


_JOB: tuple = ()
"""(sources, config, seed, folder) of the pool being built: set before the workers fork, so
that only the window indices cross the pipe (pickling the sources would copy every cached
crop)."""


def _synthesise(indices: np.ndarray) -> None:
    """Worker: windows ``indices`` of the pool into the memory-mapped files of the job's folder."""
    sources, config, seed, folder = _JOB
    backend = make_backend("dlib") if config.landmarks else None
    sampler = WindowSampler(sources.clips, sources.photos, backend, config)
    inputs = np.load(folder / "inputs.npy", mmap_mode="r+")
    targets = np.load(folder / "targets.npy", mmap_mode="r+")
    points = np.load(folder / "points.npy", mmap_mode="r+") if config.landmarks else None
    try:
        for j in indices:
            window = sampler.sample(np.random.default_rng([seed, POOL_STREAM, int(j)]))
            inputs[j] = np.rint(window.inputs.transpose(0, 2, 3, 1) * 255.0).astype(np.uint8)
            targets[j] = np.rint(window.target.transpose(1, 2, 0) * 255.0).astype(np.uint8)
            if points is not None:
                points[j] = window.points
    finally:
        if backend is not None:
            backend.close()
    for array in (inputs, targets, points):
        if array is not None:
            array.flush()


class WindowPool:
    """N windows: inputs (N, T, S, S, 3) uint8, targets (N, S, S, 3) uint8, points
    (N, T, 68, 2) float32 or None."""

    def __init__(self, folder: Path, config: WindowConfig):
        self.folder = folder
        self.config = config
        self.inputs = np.load(folder / "inputs.npy", mmap_mode="r")
        self.targets = np.load(folder / "targets.npy", mmap_mode="r")
        self.points = np.load(folder / "points.npy", mmap_mode="r") if config.landmarks else None

    def __len__(self) -> int:
        return len(self.inputs)

    @classmethod
    def load_or_build(cls, sources: Sources, config: WindowConfig, *, size: int, seed: int, cache_dir: Path,
                      processes: int | None = None, log=print) -> WindowPool:
        """The cached pool for these arguments, synthesised first (``processes`` workers,
        default: every core) when the cache does not hold it."""
        folder = cache_dir / f"pool-{pool_key(sources, config, size=size, seed=seed)}"
        if not folder.is_dir():
            cls._build(folder, sources, config, size=size, seed=seed, processes=processes or os.cpu_count() or 1,
                       log=log)
        return cls(folder, config)

    @staticmethod
    def _build(folder: Path, sources: Sources, config: WindowConfig, *, size: int, seed: int, processes: int,
               log) -> None:
        t, s = 2 * config.radius + 1, config.crop_size
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        np.lib.format.open_memmap(partial / "inputs.npy", "w+", np.uint8, (size, t, s, s, 3)).flush()
        np.lib.format.open_memmap(partial / "targets.npy", "w+", np.uint8, (size, s, s, 3)).flush()
        if config.landmarks:
            np.lib.format.open_memmap(partial / "points.npy", "w+", np.float32, (size, t, 68, 2)).flush()
        log(f"synthesising a pool of {size} training windows in {processes} processes ({folder.name})")
        global _JOB
        _JOB = (sources, config, seed, partial)
        chunks = np.array_split(np.arange(size), 4 * processes)
        try:
            if processes == 1:
                for chunk in chunks:
                    _synthesise(chunk)
            else:
                with multiprocessing.get_context("fork").Pool(processes) as workers:
                    workers.map(_synthesise, chunks)
        finally:
            _JOB = ()
        os.replace(partial, folder)

    def batch(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        """Windows ``indices`` as training tensors: crops (B, T, 3, S, S) and target (B, 3, S, S)
        float32 in [0, 1], heatmaps (B, T, 68, H, H) ((B, T, 0, H, H) without landmarks)."""
        order = np.sort(indices)
        inputs = torch.from_numpy(np.ascontiguousarray(self.inputs[order])).permute(0, 1, 4, 2, 3)
        targets = torch.from_numpy(np.ascontiguousarray(self.targets[order])).permute(0, 3, 1, 2)
        t = inputs.shape[1]
        points = [None] * len(order) if self.points is None else self.points[order]
        heatmaps = np.stack([heatmaps_of(None if p is None else np.asarray(p), self.config, t) for p in points])
        return {"crops": inputs.float().div_(255.0), "heatmaps": torch.from_numpy(heatmaps),
                "target": targets.float().div_(255.0)}


class PoolBatches(torch.utils.data.Dataset):
    """``dataset[i]``: batch i, ``batch`` distinct windows of ``pool`` chosen with
    ``default_rng([seed, i])``, as ``WindowPool.batch`` tensors."""

    def __init__(self, pool: WindowPool, *, batch: int, seed: int, length: int):
        if batch > len(pool):
            raise ValueError(f"batch {batch} is larger than the pool of {len(pool)} windows")
        self.pool = pool
        self.batch = batch
        self.seed = seed
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        return self.pool.batch(rng.choice(len(self.pool), self.batch, replace=False))
