"""Modulated deformable convolution (DCNv2, eq. 2 of FineNet) in pure PyTorch.

``F'(p) = sum_k w_k * F(p + p_k + dp_k) * m_k``: every kernel tap k samples the input at its
regular position plus a learned fractional offset ``dp_k`` (bilinear interpolation, zero outside
the image) and scales it by a modulation scalar ``m_k``.

Layout (identical to ONNX ``DeformConv``, opset 19, so the exported graph needs no reshuffling):

- ``offset``: (N, 2 * G * kH * kW, Ho, Wo). Channel ``2 * (g * kH * kW + i * kW + j) + 0`` is
  the y (row) offset and ``... + 1`` the x (column) offset of tap (i, j) in offset group g:
  offset groups outermost, then taps in row-major order, then the (dy, dx) pair.
- ``mask``: (N, G * kH * kW, Ho, Wo), channel ``g * kH * kW + i * kW + j``.
- Offset group g deforms input channels ``[g * C / G, (g + 1) * C / G)``.

The op is registered as ``facedeblur::deform_conv2d`` (a ``torch.library.custom_op``) so that
``torch.export`` sees one node, which ``onnx_deform_conv`` translates into ``DeformConv``. Its
body samples with ``grid_sample`` (CPU and CUDA); the backward pass differentiates that same body
again, so training works on any device without a hand-written gradient.

Precision: sampling positions, bilinear weights and masks are computed in the offsets' dtype
and the sampled columns are cast to the weight's dtype for the large product. The op never
sees autocast (it is opaque to it), so under autocast ``ModulatedDeformConv`` hands it fp32
offsets and masks and the feature map and weights in the autocast dtype (bf16 on AMX CPUs and
CUDA); with every input in fp32 it is the fp32 reference that the gradient and ONNX tests check.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from onnxscript import opset19 as op
from torch import Tensor, nn


def _deform_conv2d_reference(
    x: Tensor,
    weight: Tensor,
    bias: Tensor,
    offset: Tensor,
    mask: Tensor,
    stride: int,
    padding: int,
    dilation: int,
    offset_groups: int,
) -> Tensor:
    """Differentiable body of the op. x: (N, C, H, W), weight: (Co, C, kH, kW) -> (N, Co, Ho, Wo)."""
    n, c, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    ho, wo = offset.shape[-2:]
    taps = kh * kw
    # Regular sampling grid p + p_k, (taps, Ho, Wo) each for y and x.
    position = offset.dtype
    ky, kx = torch.meshgrid(
        torch.arange(kh, device=x.device, dtype=position) * dilation,
        torch.arange(kw, device=x.device, dtype=position) * dilation,
        indexing="ij",
    )
    oy = torch.arange(ho, device=x.device, dtype=position) * stride - padding
    ox = torch.arange(wo, device=x.device, dtype=position) * stride - padding
    base_y = ky.reshape(taps, 1, 1) + oy.reshape(1, ho, 1)
    base_x = kx.reshape(taps, 1, 1) + ox.reshape(1, 1, wo)
    off = offset.reshape(n, offset_groups, taps, 2, ho, wo)
    pos_y = base_y + off[:, :, :, 0]  # (N, G, taps, Ho, Wo)
    pos_x = base_x + off[:, :, :, 1]
    # grid_sample with align_corners=False maps normalised u to pixel (u + 1) * size / 2 - 0.5.
    grid = torch.stack(((2 * pos_x + 1) / w - 1, (2 * pos_y + 1) / h - 1), dim=-1)
    grid = grid.reshape(n * offset_groups, taps * ho, wo, 2)
    grouped = x.reshape(n * offset_groups, c // offset_groups, h, w).to(position)
    sampled = F.grid_sample(grouped, grid, mode="bilinear", padding_mode="zeros", align_corners=False)  # (N * G, C / G, taps * Ho, Wo)
    sampled = sampled.reshape(n, offset_groups, c // offset_groups, taps, ho, wo)
    sampled = sampled * mask.reshape(n, offset_groups, 1, taps, ho, wo).to(position)
    columns = sampled.reshape(n, c * taps, ho * wo).to(weight.dtype)
    out = torch.matmul(weight.reshape(c_out, c * taps), columns)
    return out.reshape(n, c_out, ho, wo) + bias.to(weight.dtype).reshape(1, c_out, 1, 1)


@torch.library.custom_op("facedeblur::deform_conv2d", mutates_args=())
def deform_conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor,
    offset: Tensor,
    mask: Tensor,
    stride: int,
    padding: int,
    dilation: int,
    offset_groups: int,
) -> Tensor:
    """Modulated deformable convolution; layouts in the module docstring.

    x: (N, C, H, W), weight: (Co, C, kH, kW), bias: (Co,), offset: (N, 2 G kH kW, Ho, Wo),
    mask: (N, G kH kW, Ho, Wo) -> (N, Co, Ho, Wo).
    """
    return _deform_conv2d_reference(x, weight, bias, offset, mask, stride, padding, dilation, offset_groups)


@deform_conv2d.register_fake
def _deform_conv2d_fake(x, weight, bias, offset, mask, stride, padding, dilation, offset_groups):
    return x.new_empty((x.shape[0], weight.shape[0], offset.shape[2], offset.shape[3]))


def _setup_context(ctx, inputs, output) -> None:
    ctx.save_for_backward(*inputs[:5])
    ctx.params = inputs[5:]


def _backward(ctx, grad_out):
    saved = ctx.saved_tensors
    with torch.enable_grad():
        leaves = [t.detach().requires_grad_(need) for t, need in zip(saved, ctx.needs_input_grad[:5], strict=True)]
        out = _deform_conv2d_reference(*leaves, *ctx.params)
        wanted = [t for t in leaves if t.requires_grad]
        grads = iter(torch.autograd.grad(out, wanted, grad_out) if wanted else ())
    return (*(next(grads) if t.requires_grad else None for t in leaves), None, None, None, None)


deform_conv2d.register_autograd(_backward, setup_context=_setup_context)


def onnx_deform_conv(
    x, weight, bias, offset, mask, stride: int, padding: int, dilation: int, offset_groups: int
):
    """onnxscript translation of ``facedeblur::deform_conv2d`` into opset-19 ``DeformConv``."""
    return op.DeformConv(
        x,
        weight,
        offset,
        bias,
        mask,
        dilations=[dilation, dilation],
        pads=[padding, padding, padding, padding],
        strides=[stride, stride],
        offset_group=offset_groups,
    )


ONNX_TRANSLATIONS = {torch.ops.facedeblur.deform_conv2d.default: onnx_deform_conv}
"""Pass as ``custom_translation_table`` to ``torch.onnx.export(..., dynamo=True)``."""


class ModulatedDeformConv(nn.Module):
    """3x3 (by default) DCNv2 layer whose offsets and masks come from an offset feature map.

    A plain conv maps the offset feature (N, Cf, Ho, Wo) to 3 G kH kW channels: the first
    2 G kH kW are offsets (ONNX layout), the rest pass through a sigmoid to give the masks.
    That conv starts at zero (offsets 0, masks 0.5), the usual DCNv2 initialisation, so an
    untrained layer behaves like a regular convolution. With ``max_offset`` > 0 the offsets are
    ``max_offset * tanh(raw / max_offset)``: the identity near zero, never beyond ``max_offset``
    pixels, so an alignment cannot run off its feature map (0: unbounded).

    forward(x: (N, C, H, W), offset_feature: (N, Cf, H, W)) -> (N, Co, H, W). In training mode
    with gradients on, the body runs as plain autograd ops (its backward reuses the saved
    sampling instead of rerunning the forward, as the op's does); otherwise, in evaluation and
    export, it runs as the ``facedeblur::deform_conv2d`` op.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        offset_channels: int,
        deformable_groups: int,
        kernel_size: int = 3,
        max_offset: float = 0.0,
    ):
        super().__init__()
        if max_offset < 0:
            raise ValueError(f"max_offset must be >= 0, got {max_offset}")
        if in_channels % deformable_groups:
            raise ValueError(f"in_channels={in_channels} is not divisible by deformable_groups={deformable_groups}")
        self.deformable_groups = deformable_groups
        self.kernel_size = kernel_size
        self.max_offset = float(max_offset)
        taps = kernel_size * kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.offset_mask = nn.Conv2d(offset_channels, 3 * deformable_groups * taps, 3, padding=1)
        nn.init.zeros_(self.offset_mask.weight)
        nn.init.zeros_(self.offset_mask.bias)
        self.offset_mask.init_scale = 0.0

    def offsets_and_masks(self, offset_mask: Tensor) -> tuple[Tensor, Tensor]:
        """The offset conv's output (N, 3 G kH kW, H, W) -> offsets (N, 2 G kH kW, H, W) and
        masks (N, G kH kW, H, W) in (0, 1); offsets within ``max_offset`` when it is set."""
        split = 2 * self.deformable_groups * self.kernel_size * self.kernel_size
        offset = offset_mask[:, :split]
        if self.max_offset > 0:
            offset = self.max_offset * torch.tanh(offset / self.max_offset)
        return offset, torch.sigmoid(offset_mask[:, split:])

    def forward(self, x: Tensor, offset_feature: Tensor) -> Tensor:
        offset, mask = self.offsets_and_masks(self.offset_mask(offset_feature))
        weight, bias = self.weight, self.bias
        if x.device.type in ("cpu", "cuda") and torch.is_autocast_enabled(x.device.type):
            low = torch.get_autocast_dtype(x.device.type)
            x, weight, bias = x.to(low), weight.to(low), bias.to(low)
            offset, mask = offset.float(), mask.float()
        if self.training and torch.is_grad_enabled():
            # the op's backward reruns the whole body; plain autograd keeps what the gradient needs
            return _deform_conv2d_reference(x, weight, bias, offset, mask, 1, self.kernel_size // 2, 1,
                                            self.deformable_groups)
        return deform_conv2d(x, weight, bias, offset, mask, 1, self.kernel_size // 2, 1, self.deformable_groups)
