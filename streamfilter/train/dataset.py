"""Training data: cached face clips and photos, turned into batches indexed by step.

Batch ``i`` is drawn with ``numpy.random.default_rng([seed, i])``, so the data stream is the
same whatever the number of loader workers and a resumed run continues it exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..faces.backend import make_backend
from ..io.folders import video_files
from .facecache import CachedClip, load_or_build
from .windows import Photo, WindowConfig, WindowSampler, load_photos


@dataclass(frozen=True)
class Sources:
    """Face clips (cached tracks) and photos to draw training windows from."""

    clips: list[CachedClip]
    photos: list[Photo]


def load_sources(
    data: Path | None, images: Path | None, *, cache_dir: Path, crop_size: int, max_frames: int, log=print
) -> Sources:
    """Cache (first time) and load the face tracks of the videos in ``data`` and the photos."""
    clips = []
    if data is not None:
        for path in video_files(data, role="training data"):
            clip = load_or_build(path, cache_dir, crop_size=crop_size, max_frames=max_frames, log=log)
            if clip is None:
                log(f"no face in {path.name}: skipped")
            else:
                clips.append(clip)
        if not clips:
            raise InputError(f"no video in {data} has a trackable face")
    photos = []
    if images is not None:
        backend = make_backend("dlib")
        try:
            photos = load_photos(images, backend, log=log)
        finally:
            backend.close()
        log(f"{len(photos)} photos with a face in {images}")
    if not clips and not photos:
        raise InputError("no training data: give a folder of face videos and/or a folder of face photos")
    return Sources(clips, photos)


class WindowBatches(torch.utils.data.Dataset):
    """``dataset[i]``: batch i as tensors crops (B, T, 3, S, S), heatmaps (B, T, 68, H, H),
    target (B, 3, S, S). The landmark backend is created lazily in each loader process."""

    def __init__(self, sources: Sources, config: WindowConfig, *, batch: int, seed: int, length: int):
        self.sources = sources
        self.config = config
        self.batch = batch
        self.seed = seed
        self.length = length
        self._sampler: WindowSampler | None = None

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self._sampler is None:
            self._sampler = WindowSampler(self.sources.clips, self.sources.photos, make_backend("dlib"), self.config)
        rng = np.random.default_rng([self.seed, index])
        windows = [self._sampler.sample(rng) for _ in range(self.batch)]
        return {
            "crops": torch.from_numpy(np.stack([w.inputs for w in windows])),
            "heatmaps": torch.from_numpy(np.stack([w.heatmaps for w in windows])),
            "target": torch.from_numpy(np.stack([w.target for w in windows])),
        }

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_sampler": None}


def fixed_batches(sources: Sources, config: WindowConfig, *, count: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """``count`` windows drawn with ``seed`` (rounded up to whole batches of at most 16), as
    ``WindowBatches`` batches: the same windows on every call."""
    batches = WindowBatches(sources, config, batch=min(count, 16), seed=seed, length=math.ceil(count / 16))
    return [batches[i] for i in range(len(batches))]
