"""Deformable convolution: agreement with nn.Conv2d and ONNX Runtime, gradients, training."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper

from streamfilter.models.dcn import ModulatedDeformConv, deform_conv2d


def _inputs(*, n=2, c=8, h=9, w=11, c_out=6, groups=2, seed=0, offset_scale=3.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=g)
    weight = torch.randn(c_out, c, 3, 3, generator=g)
    bias = torch.randn(c_out, generator=g)
    offset = torch.randn(n, 2 * groups * 9, h, w, generator=g) * offset_scale
    mask = torch.rand(n, groups * 9, h, w, generator=g)
    return x, weight, bias, offset, mask


def test_zero_offsets_and_unit_masks_equal_conv2d():
    x, weight, bias, offset, mask = _inputs()
    out = deform_conv2d(x, weight, bias, torch.zeros_like(offset), torch.ones_like(mask), 1, 1, 1, 2)
    torch.testing.assert_close(out, F.conv2d(x, weight, bias, padding=1), atol=1e-5, rtol=1e-5)


def test_integer_offset_shifts_the_sampling_position():
    # Every tap moved by (dy, dx) = (0, 1) equals a conv of the input shifted left (away from
    # column 0, where the deformed tap reads x[..., 0] but the shifted input has padding).
    x, weight, bias, offset, mask = _inputs(groups=1)
    offset = torch.zeros_like(offset)
    offset[:, 1::2] = 1.0
    out = deform_conv2d(x, weight, bias, offset, torch.ones_like(mask), 1, 1, 1, 1)
    shifted = F.pad(x[..., 1:], (0, 1))
    expected = F.conv2d(shifted, weight, bias, padding=1)
    torch.testing.assert_close(out[..., 1:], expected[..., 1:], atol=1e-5, rtol=1e-5)


def _onnx_deform_conv_model(shapes: dict[str, tuple[int, ...]], groups: int) -> bytes:
    """A one-node ONNX graph with the standard DeformConv (built by hand, independent of our export)."""
    names = ["X", "W", "offset", "B", "mask"]
    inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, shapes[name]) for name in names]
    node = helper.make_node("DeformConv", names, ["Y"], pads=[1, 1, 1, 1], offset_group=groups)
    output = helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)
    graph = helper.make_graph([node], "dcn", inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)], ir_version=9)
    return model.SerializeToString()


def test_matches_onnxruntime_deformconv_on_random_offsets():
    x, weight, bias, offset, mask = _inputs(groups=2, offset_scale=4.0)  # offsets reach outside the image
    arrays = {"X": x, "W": weight, "offset": offset, "B": bias, "mask": mask}
    model = _onnx_deform_conv_model({k: tuple(v.shape) for k, v in arrays.items()}, groups=2)
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    expected = session.run(None, {k: v.numpy() for k, v in arrays.items()})[0]
    ours = deform_conv2d(x, weight, bias, offset, mask, 1, 1, 1, 2).numpy()
    assert np.abs(ours - expected).max() <= 1e-4


def test_exported_op_is_a_deformconv_node(tmp_path):
    from streamfilter.models.dcn import ONNX_TRANSLATIONS

    class Layer(torch.nn.Module):
        def forward(self, x, weight, bias, offset, mask):
            return deform_conv2d(x, weight, bias, offset, mask, 1, 1, 1, 2)

    args = _inputs(groups=2)
    program = torch.onnx.export(
        Layer(), args, dynamo=True, opset_version=19, custom_translation_table=ONNX_TRANSLATIONS, verbose=False
    )
    path = tmp_path / "dcn.onnx"
    program.save(str(path))
    assert "DeformConv" in {node.op_type for node in onnx.load(str(path)).graph.node}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: a.numpy() for i, a in zip(session.get_inputs(), args, strict=True)}
    got = session.run(None, feeds)[0]
    assert np.abs(got - Layer()(*args).numpy()).max() <= 1e-4


def test_gradcheck_tiny_double():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 4, 5, 5, generator=g, dtype=torch.float64)
    weight = torch.randn(2, 4, 3, 3, generator=g, dtype=torch.float64)
    bias = torch.randn(2, generator=g, dtype=torch.float64)
    offset = torch.randn(1, 2 * 2 * 9, 5, 5, generator=g, dtype=torch.float64)  # non-integer: away from kinks
    mask = torch.rand(1, 2 * 9, 5, 5, generator=g, dtype=torch.float64)
    inputs = tuple(t.requires_grad_() for t in (x, weight, bias, offset, mask))
    assert torch.autograd.gradcheck(lambda *a: deform_conv2d(*a, 1, 1, 1, 2), inputs)


def test_layer_trains_its_offsets():
    torch.manual_seed(0)
    layer = ModulatedDeformConv(4, 4, offset_channels=4, deformable_groups=2)
    x, feature, target = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    optimiser = torch.optim.SGD(layer.parameters(), lr=0.05)
    losses = []
    for _ in range(5):
        optimiser.zero_grad()
        loss = F.mse_loss(layer(x, feature), target)
        loss.backward()
        losses.append(loss.item())
        optimiser.step()
    assert layer.offset_mask.weight.abs().sum() > 0  # started at zero, moved by its gradient
    assert losses[-1] < losses[0]


@pytest.mark.needs_cuda
def test_cuda_matches_cpu():
    args = _inputs()
    cpu = deform_conv2d(*args, 1, 1, 1, 2)
    gpu = deform_conv2d(*(a.cuda() for a in args), 1, 1, 1, 2)
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=1e-4)


def test_bounded_offsets_saturate_at_the_bound_and_keep_small_ones():
    layer = ModulatedDeformConv(4, 4, offset_channels=4, deformable_groups=2, max_offset=2.0)
    split = 2 * 2 * 9
    with torch.no_grad():
        layer.offset_mask.bias[:split:2].fill_(500.0)
        layer.offset_mask.bias[1:split:2].fill_(0.01)
    offset, mask = layer.offsets_and_masks(layer.offset_mask(torch.randn(1, 4, 5, 5)))
    assert offset.abs().max() <= 2.0
    torch.testing.assert_close(offset[:, 0:split:2], torch.full_like(offset[:, 0:split:2], 2.0))
    torch.testing.assert_close(offset[:, 1:split:2], torch.full_like(offset[:, 1:split:2], 0.01), rtol=1e-4, atol=0)
    assert torch.all(mask == 0.5)
    with pytest.raises(ValueError, match="max_offset"):
        ModulatedDeformConv(4, 4, offset_channels=4, deformable_groups=2, max_offset=-1.0)


def test_training_path_gives_the_ops_values_and_gradients():
    torch.manual_seed(2)
    layer = ModulatedDeformConv(8, 8, offset_channels=8, deformable_groups=2)
    torch.nn.init.normal_(layer.offset_mask.weight, std=0.1)
    x, feature = torch.randn(2, 8, 10, 10), torch.randn(2, 8, 10, 10)
    grads = []
    for training in (False, True):
        layer.train(training)
        layer.zero_grad()
        out = layer(x, feature)
        out.square().mean().backward()
        grads.append((out.detach(), layer.weight.grad.clone(), layer.offset_mask.weight.grad.clone()))
    for op, plain in zip(*grads, strict=True):
        assert torch.allclose(op, plain, atol=1e-6)

