"""Training losses.

FineNet (section 3.6): each branch (enhancement, interpolation) is trained with
L1 + L1 on the x and y image gradients; the combination module with plain L1.
The single-frame baseline of Chrysos et al. uses the Huber loss.
All losses take (N, 3, H, W) float tensors and return a scalar mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gradients(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along x and y: (N, C, H, W-1) and (N, C, H-1, W)."""
    return image[..., :, 1:] - image[..., :, :-1], image[..., 1:, :] - image[..., :-1, :]


def gradient_l1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """|G_x(pred) - G_x(gt)| + |G_y(pred) - G_y(gt)|, each averaged over pixels."""
    px, py = gradients(prediction)
    tx, ty = gradients(target)
    return F.l1_loss(px, tx) + F.l1_loss(py, ty)


def branch_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_en / L_in of FineNet: L1 plus the spatial-gradient L1."""
    return F.l1_loss(prediction, target) + gradient_l1(prediction, target)


def combine_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_combine of FineNet: L1 between the final output and the ground truth."""
    return F.l1_loss(prediction, target)


def huber_loss(prediction: torch.Tensor, target: torch.Tensor, delta: float = 0.05) -> torch.Tensor:
    """Huber loss of the single-frame baseline (delta on the [0, 1] intensity scale)."""
    return F.huber_loss(prediction, target, delta=delta)
