"""FAN landmarks: the 2D Face Alignment Network of the ``face-alignment`` package (Bulat and
Tzimiropoulos 2017, the landmark network FineNet uses), with dlib's HOG detector for boxes.

face-alignment's own detectors (SFD, ...) download their weights, so detection uses
:class:`DlibDetector` (offline); the box is turned into FAN's centre/scale as face-alignment
does for its detectors. Weights are the file face-alignment itself downloads, looked up in
the torch hub cache (``torch.hub.get_dir()/checkpoints``, moved by ``TORCH_HOME``); nothing
is downloaded here, and a missing file is an error naming the file, its URL and the folder.

On the 2-core CPU box one FAN-4 forward pass (256 x 256) takes about half a second: the fan
backend suits offline runs and GPUs; dlib is the real-time default.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from ..errors import ModelError, UsageError, WeightsMissingError
from .crop import crop_face
from .dlib_backend import DlibDetector
from .heatmaps import rescale_points
from .types import CropBox, Detection, Fit

FAN_INPUT = 256
FAN_STACKS = 4
BOX_TO_FAN_SIDE = 200.0 / 195.0
"""face-alignment: crop side = 200 * scale with scale = (box w + box h) / 195."""
CENTER_SHIFT = 0.12
"""face-alignment moves the box centre up by 0.12 box heights."""


def fan_weights_url() -> str:
    """The URL face-alignment downloads the 2D FAN-4 weights from."""
    from face_alignment.api import models_urls

    return models_urls["2DFAN-4"]


def fan_weights_path() -> Path:
    """Where face-alignment keeps the 2D FAN weights: ``<torch hub dir>/checkpoints/<file>``."""
    import torch

    name = Path(urlparse(fan_weights_url()).path).name
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def heatmap_peaks(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of (N, P, H, W) maps: (N, P, 2) ``(x, y)`` heatmap pixels and (N, P) peak values.

    The integer argmax is moved a quarter pixel towards the larger neighbour on each axis,
    as face-alignment decodes FAN's output.
    """
    count, points, height, width = maps.shape
    flat = maps.reshape(count, points, -1)
    index = flat.argmax(axis=-1)
    scores = np.take_along_axis(flat, index[..., None], axis=-1)[..., 0]
    ys, xs = np.divmod(index, width)
    n, p = np.meshgrid(np.arange(count), np.arange(points), indexing="ij")
    inner_x = (xs > 0) & (xs < width - 1)
    inner_y = (ys > 0) & (ys < height - 1)
    right = maps[n, p, ys, np.minimum(xs + 1, width - 1)] - maps[n, p, ys, np.maximum(xs - 1, 0)]
    down = maps[n, p, np.minimum(ys + 1, height - 1), xs] - maps[n, p, np.maximum(ys - 1, 0), xs]
    px = xs + np.where(inner_x, 0.25 * np.sign(right), 0.0)
    py = ys + np.where(inner_y, 0.25 * np.sign(down), 0.0)
    return np.stack([px, py], axis=-1).astype(np.float32), scores.astype(np.float32)


def fan_crop_box(box: np.ndarray) -> CropBox:
    """FAN's square input region for a face box ``[x0, y0, x1, y1]``."""
    width, height = float(box[2] - box[0]), float(box[3] - box[1])
    cx = float(box[0] + box[2]) / 2
    cy = float(box[1] + box[3]) / 2 - CENTER_SHIFT * height
    return CropBox.around(cx, cy, (width + height) * BOX_TO_FAN_SIDE)


class FanBackend:
    """``fan`` landmarks: dlib boxes, 2D FAN-4 points; score = mean heatmap peak per face."""

    name = "fan"
    lost_score = 0.2

    def __init__(self, *, min_face_size: int = 40, device: str = "cpu"):
        import torch
        from face_alignment.models import FAN

        if not device.startswith(("cpu", "cuda")):
            raise UsageError(f"unknown device {device!r}; use cpu or cuda[:N]")
        path = fan_weights_path()
        if not path.is_file():
            raise WeightsMissingError(
                f"FAN weights {path.name} not found in {path.parent}: download {fan_weights_url()} "
                f"into that folder (or point TORCH_HOME at a cache that has it)"
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            net = FAN(FAN_STACKS)
            net.load_state_dict(state)
        except (RuntimeError, OSError, ValueError) as exc:
            raise ModelError(f"cannot load FAN weights {path}: {exc}") from exc
        self._torch = torch
        self._device = torch.device(device)
        self._net = net.to(self._device).eval()
        self._detector = DlibDetector(min_face_size=min_face_size)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        return self._detector.detect(rgb)

    def fit(self, rgb: np.ndarray, boxes: Sequence[np.ndarray]) -> list[Fit]:
        if not boxes:
            return []
        regions = [fan_crop_box(box) for box in boxes]
        crops = np.stack([crop_face(rgb, region, FAN_INPUT) for region in regions])
        batch = self._torch.from_numpy(crops).permute(0, 3, 1, 2).float().div(255.0).to(self._device)
        with self._torch.inference_mode():
            maps = self._net(batch)[-1].float().cpu().numpy()
        peaks, scores = heatmap_peaks(maps)
        fits = []
        for region, peak, score in zip(regions, peaks, scores):
            in_crop = rescale_points(peak, maps.shape[-1], FAN_INPUT)
            fits.append(Fit(region.to_frame(in_crop, FAN_INPUT), float(score.mean())))
        return fits

    def close(self) -> None:
        self._net = None
