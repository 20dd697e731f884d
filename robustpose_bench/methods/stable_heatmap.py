"""Stable heatmap regression: HDHR targets with a weighted cross-entropy after a spatial softmax
on the RCC layer's output, and the MST loss on clean / perturbed pairs.

Zhang et al., "Improving Robustness for Pose Estimation via Stable Heatmap Regression"
(PROTOCOL.md section 6). The RCC layer and the inference head live in `models.heads` (the
evaluator needs them without the training code). The choices the paper leaves open are
listed in docs/training.md.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from robustpose_bench.methods.base import TrainingMethod, register_method
from robustpose_bench.models.heads import (
    POSITIVE,
    RCC,
    StableHeatmapHead,
    decode_maps,
    hd_kernel_mass,
    rcc,
    wrap_for_inference,
)
from robustpose_bench.train.losses import heatmap_mse
from robustpose_bench.train.targets import hdhr_target

log = logging.getLogger(__name__)


# ---- losses -----------------------------------------------------------------------------------------

def weighted_cross_entropy(logits: torch.Tensor, hd_target: torch.Tensor,
                           weight: torch.Tensor) -> torch.Tensor:
    """L_wce = -sum_ij w_ij y_ij log r_ij with r = spatial softmax(logits) (paper eq. 8).

    logits, hd_target: (B, K, H, W); y = (hd_target > 0), w = hd_target. weight: (B, K) joint
    weights (0 for unlabelled / off-map joints). Summed over pixels, averaged over the
    labelled joints.
    """
    b, k = logits.shape[:2]
    logp = torch.log_softmax(logits.float().flatten(2), dim=-1)
    t = hd_target.float().flatten(2)
    per_joint = -(t * (t > 0) * logp).sum(dim=-1)
    wj = weight.reshape(b, k).float()
    return (per_joint * wj).sum() / wj.sum().clamp_min(1.0)


def mst_loss(r_clean: torch.Tensor, r_pert: torch.Tensor,
             weight: torch.Tensor | None = None) -> torch.Tensor:
    """Maximum stability training loss (paper eq. 9), averaged over joints.

    sum_ij (r_x'(i,j) - r_x(i,j))^2 / (H W) + (r_x'(p) - r_x(p))^2 at p = argmax r_x.
    r_clean, r_pert: (B, K, H, W) output heatmaps of x and its perturbed copy x'.
    weight: optional (B, K) joint weights. Zero when the two outputs are identical.
    """
    b, k = r_clean.shape[:2]
    rc = r_clean.float().flatten(2)
    rp = r_pert.float().flatten(2)
    d = rp - rc
    dense = d.pow(2).mean(dim=-1)
    idx = rc.detach().argmax(dim=-1, keepdim=True)
    peak = d.gather(-1, idx).squeeze(-1).pow(2)
    per_joint = dense + peak
    if weight is None:
        return per_joint.mean()
    wj = weight.reshape(b, k).float()
    return (per_joint * wj).sum() / wj.sum().clamp_min(1.0)


# ---- perturbations for MST (disjoint from the benchmark) ------------------------------------------

#: Perturbations x -> x' for the MST pairs. None of them is one of the 15 benchmark
#: corruptions or the 4 held-out extras (speckle_noise, gaussian_blur, spatter, saturate):
#: per-channel gains (a white-balance shift, not brightness / saturation / contrast), small
#: additive *uniform* noise of at most 6/255 (the benchmark noises are Gaussian, Poisson,
#: salt-and-pepper and multiplicative, all much stronger), a gamma curve, and 6-bit
#: quantisation (not JPEG, not pixelation). All keep pixel positions, so heatmaps compare
#: cell by cell.
PERTURBATIONS = ("channel_gain", "uniform_noise", "gamma", "quantize")


def perturb(image: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
    """One MST perturbation of a uint8 RGB crop (H, W, 3) -> uint8 (H, W, 3)."""
    x = image.astype(np.float32)
    if name == "channel_gain":
        x = x * rng.uniform(0.9, 1.1, size=3).astype(np.float32)
    elif name == "uniform_noise":
        x = x + rng.uniform(-6.0, 6.0, size=x.shape).astype(np.float32)
    elif name == "gamma":
        g = float(rng.uniform(0.8, 1.25))
        x = 255.0 * (x / 255.0) ** g
    elif name == "quantize":
        return (image & np.uint8(0xFC)) + np.uint8(2)
    else:
        raise ValueError(f"unknown MST perturbation {name!r}; available: {', '.join(PERTURBATIONS)}")
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


class StableSampleTransform:
    """Adds `perturbed` (uint8 image, normalised by the dataset), `hd_target` (K, h, w) and
    `hd_weight` (K,) to a training sample."""

    def __init__(self, input_size, heatmap_size, alpha: float, t_hd: int,
                 perturbations: tuple[str, ...], with_pair: bool):
        self.input_size = tuple(input_size)
        self.heatmap_size = tuple(heatmap_size)
        self.alpha = alpha
        self.t_hd = t_hd
        self.perturbations = perturbations
        self.with_pair = with_pair

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator, dataset) -> dict[str, Any]:
        t, w = hdhr_target(sample["joints"], sample["vis"], self.input_size, self.heatmap_size,
                           self.alpha, self.t_hd)
        sample["hd_target"] = t
        sample["hd_weight"] = w
        if self.with_pair:
            name = self.perturbations[int(rng.integers(len(self.perturbations)))]
            sample["perturbed"] = perturb(sample["image"], name, rng)
            sample["extra_images"] = [*sample.get("extra_images", ()), "perturbed"]
        return sample


# ---- the method ------------------------------------------------------------------------------------

@dataclass
class StableArgs:
    """method_args of stable heatmap regression.

    rcc / hdhr / mst switch the three components (ablations). temperature: softmax
    temperature on the normalised RCC map (its values lie in [0, 1], so the softmax needs a
    scale to become peaked). mst_weight: lambda of L = L_wce + lambda L_mst. perturbations:
    the MST perturbation set (PERTURBATIONS). Without hdhr the loss is the MSE of the decoded
    map against the Gaussian target.
    """

    rcc: bool = True
    hdhr: bool = True
    mst: bool = True
    alpha: float = 0.7
    t_hd: int = 8
    temperature: float = 0.1
    positive: str = "sigmoid"
    mst_weight: float = 1.0
    perturbations: list[str] = field(default_factory=lambda: list(PERTURBATIONS))

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.t_hd < 0:
            raise ValueError(f"t_hd must be >= 0, got {self.t_hd}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.positive not in POSITIVE:
            raise ValueError(f"positive must be one of {', '.join(POSITIVE)}, got {self.positive!r}")
        bad = [p for p in self.perturbations if p not in PERTURBATIONS]
        if bad or (self.mst and not self.perturbations):
            raise ValueError(f"perturbations must be a non-empty subset of {', '.join(PERTURBATIONS)}; "
                             f"got {self.perturbations}")


@register_method
class StableHeatmapMethod(TrainingMethod):
    """RCC + HDHR (weighted CE after a spatial softmax) + MST (see StableArgs)."""

    name = "stable_heatmap"
    Args = StableArgs

    def sample_transform(self):
        a: StableArgs = self.args
        cfg = self.ctx.cfg
        return StableSampleTransform(cfg.input_size, cfg.heatmap_size, a.alpha, a.t_hd,
                                     tuple(a.perturbations), a.mst)

    def losses(self, z: torch.Tensor, batch: dict[str, torch.Tensor],
               z_pert: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The method's loss terms from raw network outputs (clean z, perturbed z_pert)."""
        a: StableArgs = self.args
        heat, logits = decode_maps(z.float(), a.rcc, a.temperature, a.positive)
        out: dict[str, torch.Tensor] = {}
        if a.hdhr:
            out["loss_wce"] = weighted_cross_entropy(logits, batch["hd_target"], batch["hd_weight"])
        else:
            out["loss_mse"] = heatmap_mse(heat, batch["target"], batch["target_weight"])
        if a.mst and z_pert is not None:
            heat_p, _ = decode_maps(z_pert.float(), a.rcc, a.temperature, a.positive)
            out["loss_mst"] = a.mst_weight * mst_loss(heat, heat_p)
        return out

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        a: StableArgs = self.args
        ctx = self.ctx
        x = batch["image"]
        if a.mst:
            x = torch.cat([x, batch["perturbed"]], dim=0)
        with ctx.autocast():
            z = ctx.model(ctx.precision.images(x))
        z_pert = None
        if a.mst:
            z, z_pert = z.chunk(2, dim=0)
        terms = self.losses(z, batch, z_pert)
        loss = sum(terms.values())
        ctx.optimize(loss, ctx.pose, ctx.raw_model.parameters())
        logs = {k: float(v.detach()) for k, v in terms.items()}
        logs["loss"] = float(loss.detach())
        return logs

    def inference_model(self, model: nn.Module) -> nn.Module:
        a: StableArgs = self.args
        return StableHeatmapHead(model, a.rcc, a.temperature, a.alpha, a.t_hd, a.positive)

    def inference_config(self) -> dict[str, Any]:
        a: StableArgs = self.args
        # The RCC map is decoded like an MSRA heatmap (HDHR targets sit on the nearest cell).
        return {"head": "stable_heatmap", "rcc": a.rcc, "temperature": a.temperature,
                "alpha": a.alpha, "t_hd": a.t_hd, "positive": a.positive, "decode": "standard"}


class StableHeatmapAdapter:
    """Evaluator adapter for checkpoints trained with stable heatmap regression.

    `robustpose evaluate --model robustpose_bench.methods.stable_heatmap:StableHeatmapAdapter
    --model-arg checkpoint=PATH`: builds the zoo model named in the checkpoint's JSON, wraps
    it in StableHeatmapHead (RCC + argmax decoding) and hands it to the standard
    HeatmapTopDownAdapter (flip test, quarter offset, inverse affine).
    """

    def __new__(cls, checkpoint: str, meta=None, device: str | None = None,
                batch_size: int = 32, flip_test: bool = True, name: str | None = None):
        from pathlib import Path

        from robustpose_bench.adapters.topdown import HeatmapTopDownAdapter
        from robustpose_bench.models import create_model
        from robustpose_bench.models.checkpoint import load_checkpoint, read_config

        cfg = read_config(checkpoint)
        if not cfg or "model" not in cfg:
            raise ValueError(f"{checkpoint}: no JSON config beside it naming the model")
        model = create_model(cfg["model"], num_keypoints=int(cfg.get("num_keypoints", 17)),
                             **(cfg.get("model_kwargs") or {}))
        load_checkpoint(model, checkpoint)
        head = wrap_for_inference(model, cfg.get("inference"))
        size = tuple(cfg.get("input_size") or (192, 256))
        return HeatmapTopDownAdapter(
            head, size, flip_index=meta.flip_index() if meta is not None else None,
            device=device, batch_size=batch_size, flip_test=flip_test and meta is not None,
            name=name or f"{cfg['model']}:{Path(checkpoint).name}",
            method=cfg.get("method", "stable_heatmap"))


__all__ = ["PERTURBATIONS", "POSITIVE", "RCC", "StableHeatmapAdapter", "StableHeatmapHead",
           "StableHeatmapMethod", "decode_maps", "hd_kernel_mass", "mst_loss", "perturb", "rcc",
           "weighted_cross_entropy", "wrap_for_inference"]
