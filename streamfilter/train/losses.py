"""Training losses.

FineNet (section 3.6): each branch (enhancement, interpolation) is trained with
L1 + L1 on the x and y image gradients; the combination module with plain L1.
The single-frame baseline of Chrysos et al. uses the Huber loss.
All losses take (N, 3, H, W) float tensors and return a scalar mean; FineNet's take optional
(N,) ``weights``, the mean then weighting each window's own mean by them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gradients(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along x and y: (N, C, H, W-1) and (N, C, H-1, W)."""
    return image[..., :, 1:] - image[..., :, :-1], image[..., 1:, :] - image[..., :-1, :]


Weights = torch.Tensor | None


def l1(prediction: torch.Tensor, target: torch.Tensor, weights: Weights = None) -> torch.Tensor:
    """Mean absolute difference; with (N,) ``weights``, the weighted mean of the windows' means."""
    if weights is None:
        return F.l1_loss(prediction, target)
    per_window = (prediction - target).abs().flatten(1).mean(1)
    return (per_window * weights).sum() / weights.sum()


def gradient_l1(prediction: torch.Tensor, target: torch.Tensor, weights: Weights = None) -> torch.Tensor:
    """|G_x(pred) - G_x(gt)| + |G_y(pred) - G_y(gt)|, each averaged over pixels."""
    px, py = gradients(prediction)
    tx, ty = gradients(target)
    return l1(px, tx, weights) + l1(py, ty, weights)


def branch_loss(prediction: torch.Tensor, target: torch.Tensor, weights: Weights = None) -> torch.Tensor:
    """L_en / L_in of FineNet: L1 plus the spatial-gradient L1."""
    return l1(prediction, target, weights) + gradient_l1(prediction, target, weights)


def combine_loss(prediction: torch.Tensor, target: torch.Tensor, weights: Weights = None) -> torch.Tensor:
    """L_combine of FineNet: L1 between the final output and the ground truth."""
    return l1(prediction, target, weights)


def huber_loss(prediction: torch.Tensor, target: torch.Tensor, delta: float = 0.05) -> torch.Tensor:
    """Huber loss of the single-frame baseline (delta on the [0, 1] intensity scale)."""
    return F.huber_loss(prediction, target, delta=delta)
