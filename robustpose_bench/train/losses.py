"""Heatmap losses shared by the training methods.

`heatmap_mse` is the HRNet / SimpleBaseline JointsMSELoss (0.5 * mean squared error of the
target-weighted heatmaps), a true MSE also for AdvMix (PROTOCOL.md section 4).
"""
from __future__ import annotations

import torch


def _weight(weight: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    b, k = pred.shape[:2]
    if weight.numel() != b * k:
        raise ValueError(f"target weight has {weight.numel()} values for {b}x{k} heatmaps")
    return weight.reshape(b, k, 1, 1).to(pred.dtype)


def heatmap_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """0.5 * mean over (B, K, H, W) of (w * (pred - target))**2.

    pred, target: (B, K, H, W) float. weight: (B, K) or (B, K, 1) per-joint weights (0 for
    unlabelled joints). Equals the reference `JointsMSELoss(use_target_weight=True)`.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    w = _weight(weight, pred)
    diff = (pred.float() - target.float()) * w.float()
    return 0.5 * diff.pow(2).mean()
