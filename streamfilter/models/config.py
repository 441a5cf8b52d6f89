"""Typed model configurations, validated up front.

A configuration fully determines a network's architecture: a checkpoint stores it, and the
registry maps names to configurations. Errors name the bad value and the allowed ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, get_args

from ..errors import ModelError

OffsetsKind = Literal["foc", "edvr"]
BranchesKind = Literal["both", "enhance", "interp"]
FusionKind = Literal["late", "early"]


def _check_choice(field: str, value: str, kind: Any) -> None:
    allowed = get_args(kind)
    if value not in allowed:
        raise ModelError(f"{field}={value!r} is not one of {', '.join(map(repr, allowed))}")


def _check_positive(config: Any, *fields: str, minimum: int = 1) -> None:
    for field in fields:
        value = getattr(config, field)
        if not isinstance(value, int) or value < minimum:
            raise ModelError(f"{field}={value!r} must be an integer >= {minimum}")


@dataclass(frozen=True, kw_only=True)
class FineNetConfig:
    """FineNet and its ablations.

    channels:           feature width C of every module (64 in the paper's EDVR backbone)
    deformable_groups:  offset groups G of each deformable conv (C % G == 0)
    crop_size:          S, side of the face crops (multiple of 32: features live at S/4..S/16 and
                        the lower-level FOC halves S/16 once more)
    heatmap_size:       side of the 68 landmark heatmaps (resized to S/4 inside when different)
    predeblur_blocks:   residual blocks per scale of the pre-deblur module (0 = no pre-deblur)
    extract_blocks:     residual blocks of the per-frame feature extractor
    reconstruct_blocks: residual blocks of each branch's reconstruction
    combine_channels:   width of the combination module (sec. 3.5)
    combine_blocks:     residual blocks of the combination module (9 in the paper)
    offsets:            'foc' (FOC modules, sec. 3.2) or 'edvr' (two convs per level, ablation)
    landmarks:          whether the top-level FOC sees the landmark heatmaps
    branches:           'both', 'enhance' (enhancement only) or 'interp' (interpolation only)
    fusion:             'late' (combination module on the two images) or 'early' (features)
    offset_bound:       largest |offset| of a deformable tap as a fraction of its feature map's
                        side, enforced smoothly (``ModulatedDeformConv``); 0 leaves offsets
                        unbounded, as the paper and the first shipped checkpoints do
    """

    name: str
    channels: int = 64
    deformable_groups: int = 8
    crop_size: int = 256
    heatmap_size: int = 64
    predeblur_blocks: int = 2
    extract_blocks: int = 5
    reconstruct_blocks: int = 10
    combine_channels: int = 32
    combine_blocks: int = 9
    offsets: OffsetsKind = "foc"
    landmarks: bool = True
    branches: BranchesKind = "both"
    fusion: FusionKind = "late"
    offset_bound: float = 0.0

    kind = "finenet"
    radius = 2

    def __post_init__(self) -> None:
        _check_positive(self, "channels", "deformable_groups", "crop_size", "heatmap_size", "combine_channels")
        _check_positive(
            self, "predeblur_blocks", "extract_blocks", "reconstruct_blocks", "combine_blocks", minimum=0
        )
        _check_choice("offsets", self.offsets, OffsetsKind)
        _check_choice("branches", self.branches, BranchesKind)
        _check_choice("fusion", self.fusion, FusionKind)
        if not isinstance(self.offset_bound, int | float) or not 0.0 <= self.offset_bound <= 1.0:
            raise ModelError(f"offset_bound={self.offset_bound!r} must be a fraction in [0, 1]")
        if self.crop_size % 32:
            raise ModelError(f"crop_size={self.crop_size} must be a multiple of 32")
        if self.channels % self.deformable_groups:
            raise ModelError(
                f"channels={self.channels} must be divisible by deformable_groups={self.deformable_groups}"
            )
        if self.landmarks and self.offsets != "foc":
            raise ModelError("landmarks=True needs offsets='foc' (the EDVR offsets take no heatmaps)")
        if self.fusion == "early" and self.branches != "both":
            raise ModelError(f"fusion='early' needs branches='both', got branches={self.branches!r}")


def uses_heatmaps(config: FineNetConfig) -> bool:
    """Whether FineNet's top-level FOC reads the landmark heatmaps."""
    return config.offsets == "foc" and config.landmarks


@dataclass(frozen=True, kw_only=True)
class DFDConfig:
    """The single-frame baseline of Chrysos et al. (``dfd``).

    channels:   width of every residual block (no pooling, so all at full resolution)
    blocks:     residual blocks per ResNet stage
    stages:     ResNet stages; stages 2 and 3 feed batch-normalised skip connections
    crop_size:  side of the face crops
    """

    name: str
    channels: int = 64
    blocks: int = 2
    stages: int = 4
    crop_size: int = 128
    heatmap_size: int = 64

    kind = "dfd"
    radius = 0

    def __post_init__(self) -> None:
        _check_positive(self, "channels", "blocks", "crop_size", "heatmap_size")
        _check_positive(self, "stages", minimum=3)


@dataclass(frozen=True, kw_only=True)
class UNetConfig:
    """The plain multi-frame U-Net baseline (``unet``; ``unet.py``).

    crop_size:       side S of the face crops (a multiple of 2 * unshuffle)
    unshuffle:       pixel-unshuffle factor f: the network works on an S/f grid
    frame_channels:  channels Cf of each frame's encoding (the per-frame part)
    channels:        width C at S/f (2C at S/2f)
    encoder_blocks / middle_blocks / decoder_blocks: residual blocks at S/f before the
                     downsampling, at S/2f, and at S/f after the skip
    heatmap_size:    side of the heatmaps the face path hands over (unused by the network)
    """

    name: str
    crop_size: int = 256
    unshuffle: int = 4
    frame_channels: int = 24
    channels: int = 48
    encoder_blocks: int = 2
    middle_blocks: int = 3
    decoder_blocks: int = 1
    heatmap_size: int = 64

    kind = "unet"
    radius = 2

    def __post_init__(self) -> None:
        _check_positive(self, "crop_size", "unshuffle", "frame_channels", "channels", "heatmap_size")
        _check_positive(self, "encoder_blocks", "middle_blocks", "decoder_blocks", minimum=0)
        if self.crop_size % (2 * self.unshuffle):
            raise ModelError(f"crop_size={self.crop_size} must be a multiple of 2 * unshuffle = {2 * self.unshuffle}")


ModelConfig = FineNetConfig | DFDConfig | UNetConfig
CONFIG_TYPES: dict[str, type[FineNetConfig] | type[DFDConfig] | type[UNetConfig]] = {
    "finenet": FineNetConfig, "dfd": DFDConfig, "unet": UNetConfig}


def config_to_dict(config: ModelConfig) -> dict[str, Any]:
    """Plain dict (JSON-able) of a configuration, with its ``kind``."""
    return {"kind": config.kind, **dataclasses.asdict(config)}


def config_from_dict(values: dict[str, Any]) -> ModelConfig:
    """Inverse of ``config_to_dict``; unknown kinds or fields raise ``ModelError``."""
    values = dict(values)
    kind = values.pop("kind", None)
    if kind not in CONFIG_TYPES:
        raise ModelError(f"unknown model kind {kind!r}; known: {', '.join(sorted(CONFIG_TYPES))}")
    config_type = CONFIG_TYPES[kind]
    known = {field.name for field in dataclasses.fields(config_type)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ModelError(f"unknown {kind} config fields: {', '.join(unknown)}")
    return config_type(**values)
