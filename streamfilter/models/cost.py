"""Parameter and multiply-accumulate counts per output frame, deformable convs included.

Counted with ``torch.utils.flop_counter.FlopCounterMode`` on one frame through the per-frame
part plus one window through the per-window part: the streaming cost of one output frame, since
each frame's per-frame work is done once. The deformable convolution is registered with the
counter as Co * C * kH * kW MACs per output pixel, like a plain convolution; its bilinear
sampling (4 reads and 3 lerps per tap and channel) is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode, register_flop_formula

from . import dcn  # noqa: F401  (registers facedeblur::deform_conv2d before its FLOP formula)
from .config import ModelConfig
from .registry import build_model


@register_flop_formula(torch.ops.facedeblur.deform_conv2d)
def _deform_conv_flops(x_shape, weight_shape, bias_shape, offset_shape, mask_shape, *args, out_shape=None, **kwargs):
    n, c_out = x_shape[0], weight_shape[0]
    taps_in = weight_shape[1] * weight_shape[2] * weight_shape[3]
    return 2 * n * c_out * taps_in * offset_shape[2] * offset_shape[3]


@dataclass(frozen=True)
class ModelCost:
    parameters: int
    frame_gmacs: float
    window_gmacs: float

    @property
    def gmacs_per_output_frame(self) -> float:
        return self.frame_gmacs + self.window_gmacs


def _gmacs(fn) -> float:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        fn()
    return counter.get_total_flops() / 2e9


def model_cost(config: ModelConfig) -> ModelCost:
    """Parameters and GMACs of one output frame (per-frame part once, per-window part once).

    The network is built on the ``meta`` device: shapes only, no memory and no arithmetic.
    """
    with torch.device("meta"), torch.no_grad():
        model = build_model(config)
        frames = 2 * config.radius + 1
        size, hsize = config.crop_size, config.heatmap_size
        crops = torch.empty(1, 3, size, size)
        heatmaps = torch.empty(1, 68, hsize, hsize)
        features = model.frame(crops, heatmaps)
        stacked = [f.unsqueeze(1).expand(-1, frames, *f.shape[1:]) for f in features]
        window_crops = torch.empty(1, frames, 3, size, size)
        return ModelCost(
            parameters=sum(p.numel() for p in model.parameters()),
            frame_gmacs=_gmacs(lambda: model.frame(crops, heatmaps)),
            window_gmacs=_gmacs(lambda: model.window(window_crops, *stacked)),
        )
