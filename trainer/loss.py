"""Heatmap loss of the paper's Eq. 2 with HRNet's per-joint target weights (JointsMSELoss)."""

import torch
from torch import nn


class JointsMSELoss(nn.Module):
    """0.5 · mean over joints of the MSE between predicted and target heatmaps, each joint weighted.

    HRNet multiplies prediction and target by the joint's weight before the squared error, so an
    unlabelled joint (weight 0) contributes nothing, yet still counts in the mean, exactly as in
    HRNet's loop over joints. Computed in float32 whatever the autocast dtype of the prediction.
    """

    def __init__(self, use_target_weight: bool = True) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight

    def forward(
        self, output: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor
    ) -> torch.Tensor:
        n, j = output.shape[:2]
        pred = output.float().reshape(n, j, -1)
        gt = target.float().reshape(n, j, -1)
        if self.use_target_weight:
            weight = target_weight.float().reshape(n, j, 1)
            pred, gt = pred * weight, gt * weight
        return 0.5 * (pred - gt).pow(2).mean()
