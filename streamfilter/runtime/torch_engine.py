"""The ``torch`` engine: runs a ``SplitModel`` eagerly on CPU or CUDA.

Per-frame features stay on the device in the cache; only crops go in and restored crops come
out through host memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..models.split import SplitModel
from .cache import CachedRestorer


class TorchRestorer(CachedRestorer):
    def __init__(self, model: SplitModel, *, device: str = "cpu", cache_size: int = 64):
        super().__init__(config=model.config, cache_size=cache_size)
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array).to(self.device)

    @torch.inference_mode()
    def _run_frame(self, crops: np.ndarray, heatmaps: np.ndarray) -> list[tuple[Any, ...]]:
        outputs = self.model.frame(self._tensor(crops), self._tensor(heatmaps))
        return list(zip(*outputs, strict=True))

    @torch.inference_mode()
    def _run_window(self, crops: np.ndarray, features: list[Any]) -> np.ndarray:
        return self.model.window(self._tensor(crops), *features)["output"].float().cpu().numpy()

    def _stack(self, items: Sequence[Any]) -> Any:
        return torch.stack(list(items))

    def close(self) -> None:
        super().close()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
