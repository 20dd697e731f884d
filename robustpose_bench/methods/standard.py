"""Standard top-down training: MSE on sigma-2 Gaussian heatmaps with target weights.

The HRNet / SimpleBaseline recipe (PROTOCOL.md section 3); the baseline of every table.
"""
from __future__ import annotations

import torch

from robustpose_bench.methods.base import TrainingMethod, register_method
from robustpose_bench.train.losses import heatmap_mse


@register_method
class StandardMethod(TrainingMethod):
    """loss = JointsMSE(D(x), H_gt, w); one Adam step per batch."""

    name = "standard"

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        ctx = self.ctx
        with ctx.autocast():
            out = ctx.model(batch["image"])
        loss = heatmap_mse(out, batch["target"], batch["target_weight"])
        ctx.optimize(loss, ctx.pose, ctx.model.parameters())
        return {"loss": float(loss.detach())}
