"""ONNX export of the per-frame and per-window graphs, and the cache of exported graphs.

``export_onnx(model, "out.onnx")`` writes two opset-19 graphs beside each other:

- ``out.frame.onnx``: inputs ``crops`` (N, 3, S, S) float32 in [0, 1] and ``heatmaps``
  (N, 68, H, H) float32 (absent when the model ignores them); outputs named as
  ``model.frame.output_names`` (FineNet: ``level1``, ``level2``, ``level3`` and
  ``heatmap_features``).
- ``out.window.onnx``: inputs ``crops`` (N, T, 3, S, S) and every per-frame output stacked as
  (N, T, ...); output ``output`` (N, 3, S, S).

N (faces) is a dynamic axis in both. Deformable convolutions become standard ``DeformConv``
nodes. ``cached_export`` keeps exported graphs next to the checkpoint, or under the user cache
directory for built-in configurations without weights, named by a hash of the weights, the
configuration and the exporter version, so re-exports happen only when one of them changes.
``metadata`` (string pairs) goes into both graphs' ``metadata_props``: the graphs shipped in
the package record their weights file there (``graphs``, ``ship``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from ..cachedir import user_cache_dir
from ..errors import ModelError
from ..models.checkpoint import weights_digest
from ..models.config import config_to_dict
from ..models.dcn import ONNX_TRANSLATIONS
from ..models.split import SplitModel
from .graphs import EXPORTER_VERSION, GraphPaths, graph_paths

log = logging.getLogger(__name__)

OPSET = 19


class _FrameGraph(nn.Module):
    def __init__(self, model: SplitModel):
        super().__init__()
        self.frame = model.frame

    def forward(self, crops: Tensor, heatmaps: Tensor) -> tuple[Tensor, ...]:
        return tuple(self.frame(crops, heatmaps))


class _WindowGraph(nn.Module):
    def __init__(self, model: SplitModel):
        super().__init__()
        self.window = model.window

    def forward(self, crops: Tensor, features: tuple[Tensor, ...]) -> Tensor:
        return self.window(crops, *features)["output"]


def _export(module: nn.Module, args: tuple, names: list[str], outputs: list[str], path: Path,
            metadata: Mapping[str, str]) -> None:
    """Export with a dynamic leading (faces) axis on every input tensor of ``args`` (a tuple
    argument is a tuple of tensors, each with its own faces axis)."""
    faces = torch.export.Dim("faces", min=1, max=4096)

    def batch_axis(arg):
        return tuple(batch_axis(a) for a in arg) if isinstance(arg, tuple) else {0: faces}

    registration_log = logging.getLogger("torch.onnx._internal.exporter._registration")
    previous = registration_log.level
    registration_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module,
                args,
                dynamo=True,
                opset_version=OPSET,
                input_names=names,
                output_names=outputs,
                dynamic_shapes=tuple(batch_axis(a) for a in args),
                custom_translation_table=ONNX_TRANSLATIONS,
                verbose=False,
            )
    finally:
        registration_log.setLevel(previous)
    if program is None:
        raise ModelError(f"ONNX export produced no graph for {path.name}")
    program.model.metadata_props.update(metadata)
    program.save(str(path))


def export_onnx(model: SplitModel, out: str | Path, *, metadata: Mapping[str, str] | None = None) -> GraphPaths:
    """Export ``model`` (CPU, eval) as the two graphs described in the module docstring."""
    paths = graph_paths(out)
    metadata = metadata or {}
    config = model.config
    model = model.cpu().eval()
    frames = 2 * config.radius + 1
    size, hsize = config.crop_size, config.heatmap_size
    batch = 2
    crops = torch.rand(batch, 3, size, size)
    heatmaps = torch.rand(batch, 68, hsize, hsize)
    frame_names = list(model.frame.output_names)
    with torch.no_grad():
        features = model.frame(crops, heatmaps)
    window_crops = torch.rand(batch, frames, 3, size, size)
    stacked = tuple(f.unsqueeze(1).expand(-1, frames, *f.shape[1:]).contiguous() for f in features)
    try:
        _export(_FrameGraph(model), (crops, heatmaps), ["crops", "heatmaps"], frame_names, paths.frame, metadata)
        _export(_WindowGraph(model), (window_crops, stacked), ["crops", *frame_names], ["output"], paths.window,
                metadata)
    except (torch.onnx.errors.OnnxExporterError, RuntimeError) as exc:
        raise ModelError(f"ONNX export of {config.name!r} failed: {exc}") from exc
    return paths


def export_key(model: SplitModel) -> str:
    """Hash of weights, configuration, exporter version and torch version (16 hex digits)."""
    digest = hashlib.sha256()
    digest.update(weights_digest(model).encode())
    digest.update(json.dumps(config_to_dict(model.config), sort_keys=True).encode())
    digest.update(f"{EXPORTER_VERSION}/{torch.__version__}/opset{OPSET}".encode())
    return digest.hexdigest()[:16]


def cached_export(model: SplitModel, *, weights: Path | None) -> GraphPaths:
    """The model's exported graphs, exporting them on first use.

    Graphs go into ``user_cache_dir()/onnx`` as ``<stem>.<key>.frame.onnx`` ... (through
    ``write_graphs``), the stem being the checkpoint's (``weights``) or else the model's name;
    never beside the checkpoint, whose folder may be read-only or shared.
    """
    directory = user_cache_dir() / "onnx"
    stem = weights.stem if weights is not None else model.config.name
    paths = graph_paths(directory / f"{stem}.{export_key(model)}.onnx")
    if paths.exist():
        return paths
    log.warning("first use of %s here: exporting its ONNX graphs into %s (once; about half a minute on a CPU)",
                model.config.name, directory)
    write_graphs(model, paths)
    return paths


def write_graphs(model: SplitModel, paths: GraphPaths, *, metadata: Mapping[str, str] | None = None) -> None:
    """Export ``model`` to ``paths`` through a temporary directory beside them and renames, so
    a concurrent reader never sees half a graph."""
    directory = paths.frame.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=directory, prefix=".export-") as tmp:
            staged = export_onnx(model, Path(tmp) / paths.frame.name.removesuffix(".frame.onnx"), metadata=metadata)
            os.replace(staged.frame, paths.frame)
            os.replace(staged.window, paths.window)
    except OSError as exc:
        raise ModelError(f"cannot write exported ONNX graphs to {directory}: {exc}") from exc
