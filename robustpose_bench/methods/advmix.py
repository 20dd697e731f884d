"""AdvMix: adversarial per-pixel mixing of augmented copies with knowledge distillation.

Wang et al., "When Human Pose Estimation Meets Robustness: Adversarial Algorithms and
Benchmarks" (CVPR 2021), PROTOCOL.md section 4: U-Net generator, branches [clean,
AutoAugment subset, GridMask], L_D = (1-a) MSE(D(mix), H) + a MSE(D(.), T(.)), L_G = -MSE.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps
from torch import nn

from robustpose_bench.methods.base import (
    TrainingMethod,
    adversarial_generator_step,
    register_method,
)
from robustpose_bench.train.config import ConfigError, resolve_asset
from robustpose_bench.train.context import TrainContext
from robustpose_bench.train.losses import heatmap_mse

log = logging.getLogger(__name__)

# ---- AutoAugment subset -------------------------------------------------------------------------

#: The official AdvMix code's AutoAugment subset (`ImageNetPolicy` of lib/dataset/advaug.py,
#: last version): 12 whole sub-policies of the AutoAugment ImageNet policy (Cubuk et al. 2019),
#: each two (operation, probability, magnitude bin 0..9) steps, drawn uniformly (the repeated
#: ones weigh double, as there). The ImageNet policy's geometric steps (rotate, shearX) and its
#: contrast-type steps (autocontrast, contrast, color) are gone with their whole sub-policies;
#: one sharpness step is left in the official list (see docs/training.md).
ADVMIX_POLICY: tuple[tuple[tuple[str, float, int], tuple[str, float, int]], ...] = (
    (("equalize", 0.8, 8), ("equalize", 0.6, 3)),
    (("posterize", 0.6, 7), ("posterize", 0.6, 6)),
    (("equalize", 0.4, 7), ("solarize", 0.2, 4)),
    (("solarize", 0.6, 3), ("equalize", 0.6, 7)),
    (("posterize", 0.8, 5), ("equalize", 1.0, 2)),
    (("equalize", 0.6, 8), ("posterize", 0.4, 6)),
    (("equalize", 0.0, 7), ("equalize", 0.8, 8)),
    (("invert", 0.6, 4), ("equalize", 1.0, 8)),
    (("sharpness", 0.4, 7), ("invert", 0.6, 8)),
    (("equalize", 0.4, 7), ("solarize", 0.2, 4)),
    (("invert", 0.6, 4), ("equalize", 1.0, 8)),
    (("equalize", 0.8, 8), ("equalize", 0.6, 3)),
)

#: The operations of ADVMIX_POLICY (the allowed values of `autoaugment_ops`).
AUTOAUGMENT_OPS = ("equalize", "posterize", "solarize", "invert", "sharpness")

# Magnitude bins as in the AutoAugment reference implementations.
_POSTERIZE_BITS = np.round(np.linspace(8, 4, 10)).astype(int)
_SOLARIZE_THRESHOLD = np.linspace(256, 0, 10)
_ENHANCE = np.linspace(0.0, 0.9, 10)


def apply_op(image: np.ndarray, op: str, magnitude: int, rng: np.random.Generator) -> np.ndarray:
    """One photometric AutoAugment operation on a uint8 RGB (H, W, 3) image (PIL).

    magnitude: bin 0..9 (posterize: 8..4 bits, solarize: threshold 256..0, sharpness: factor
    1 +- 0.0..0.9 with a random sign drawn from `rng`; equalize and invert ignore it).
    """
    pil = Image.fromarray(image)
    if op == "equalize":
        out = ImageOps.equalize(pil)
    elif op == "posterize":
        out = ImageOps.posterize(pil, int(_POSTERIZE_BITS[magnitude]))
    elif op == "solarize":
        out = ImageOps.solarize(pil, float(_SOLARIZE_THRESHOLD[magnitude]))
    elif op == "invert":
        out = ImageOps.invert(pil)
    elif op == "sharpness":
        sign = 1.0 if rng.random() < 0.5 else -1.0
        out = ImageEnhance.Sharpness(pil).enhance(1.0 + sign * float(_ENHANCE[magnitude]))
    else:
        raise ValueError(f"unknown AutoAugment operation {op!r}; allowed: {', '.join(AUTOAUGMENT_OPS)}")
    return np.asarray(out, dtype=np.uint8)


def subpolicies(ops: tuple[str, ...] = AUTOAUGMENT_OPS
                ) -> list[tuple[tuple[str, float, int], ...]]:
    """The sub-policies of ADVMIX_POLICY whose every step is in `ops` (whole sub-policies are
    kept or dropped, never split); ConfigError for unknown ops or when none is left."""
    bad = sorted(set(ops) - set(AUTOAUGMENT_OPS))
    if bad:
        raise ConfigError(f"method_args.autoaugment_ops: {', '.join(bad)} not in the AdvMix "
                          f"subset; allowed: {', '.join(AUTOAUGMENT_OPS)}")
    out = [sub for sub in ADVMIX_POLICY if all(step[0] in ops for step in sub)]
    if not out:
        raise ConfigError(f"method_args.autoaugment_ops {list(ops)}: no AdvMix sub-policy uses "
                          "only these operations")
    return out


def autoaugment(image: np.ndarray, policy: list, rng: np.random.Generator) -> np.ndarray:
    """Apply one uniformly drawn sub-policy, each of its steps with its probability (the
    official `ImageNetPolicy.__call__` / `SubPolicy.__call__`)."""
    sub = policy[int(rng.integers(len(policy)))]
    for op, prob, mag in sub:
        if rng.random() < prob:
            image = apply_op(image, op, mag, rng)
    return image


# ---- GridMask ---------------------------------------------------------------------------------

def gridmask(height: int, width: int, rng: np.random.Generator, ratio: float = 0.5,
             d_min: int = 2, d_max: int | None = None) -> np.ndarray:
    """GridMask (Chen et al. 2020) as AdvMix uses it: (H, W) float32, 0 on the dropped squares.

    Unit d ~ U{d_min .. min(H, W) - 1}, kept stripes of width l = clip(round(d * ratio), 1,
    d - 1) along both axes with random offsets on a 1.5x canvas (centre-cropped, no rotation),
    inverted (mode 1): the (d - l)-sized squares between the stripes are masked.
    """
    d_max = min(height, width) if d_max is None else d_max
    d = int(rng.integers(d_min, max(d_min + 1, d_max)))
    ln = min(max(int(d * ratio + 0.5), 1), d - 1)
    hh, ww = int(1.5 * height), int(1.5 * width)
    keep = np.ones((hh, ww), dtype=np.float32)
    st_h, st_w = int(rng.integers(d)), int(rng.integers(d))
    for i in range(hh // d + 1):
        s = d * i + st_h
        keep[s:min(s + ln, hh), :] = 0
    for i in range(ww // d + 1):
        s = d * i + st_w
        keep[:, s:min(s + ln, ww)] = 0
    y0, x0 = (hh - height) // 2, (ww - width) // 2
    crop = keep[y0:y0 + height, x0:x0 + width]
    return np.ascontiguousarray(1.0 - crop)


def keypoints_under_mask(mask: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(K,) bool: the joint's pixel (truncated, clipped into the crop) has mask 0."""
    h, w = mask.shape
    x = np.clip(joints[:, 0].astype(np.int64), 0, w - 1)
    y = np.clip(joints[:, 1].astype(np.int64), 0, h - 1)
    return mask[y, x] == 0


# ---- data-side hook ------------------------------------------------------------------------------

class AdvMixSampleTransform:
    """Per-sample branches: `aug_autoaug` (uint8 image, normalised by the dataset) and
    `gridmask` ((H, W) float32 multiplied with the normalised clean image on the device) with
    `gridmask_hidden` ((K,) float32, 1 for labelled joints under the mask)."""

    def __init__(self, branches: tuple[str, ...], policy: list, grid_prob: float,
                 grid_ratio: float):
        self.branches = branches
        self.policy = policy
        self.grid_prob = grid_prob
        self.grid_ratio = grid_ratio

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator, dataset) -> dict[str, Any]:
        image = sample["image"]
        h, w = image.shape[:2]
        extra = list(sample.get("extra_images", ()))
        if "autoaugment" in self.branches:
            sample["aug_autoaug"] = autoaugment(image, self.policy, rng)
            extra.append("aug_autoaug")
        if "gridmask" in self.branches:
            if rng.random() < self.grid_prob:
                mask = gridmask(h, w, rng, self.grid_ratio)
            else:
                mask = np.ones((h, w), dtype=np.float32)
            hidden = keypoints_under_mask(mask, sample["joints"]) & (sample["vis"] > 0)
            sample["gridmask"] = mask
            sample["gridmask_hidden"] = hidden.astype(np.float32)
        sample["extra_images"] = extra
        return sample


# ---- generator ------------------------------------------------------------------------------------

def unet_levels(height: int, width: int, max_levels: int = 6) -> int:
    """Largest L <= max_levels with H and W divisible by 2**L (6 for 256x192 / 256x256,
    5 for 384x288 and 128x96, as the paper's supplement says)."""
    levels = 0
    while levels < max_levels and height % 2 ** (levels + 1) == 0 and width % 2 ** (levels + 1) == 0:
        levels += 1
    if levels < 1:
        raise ConfigError(f"input {width}x{height}: the AdvMix U-Net needs sizes divisible by 2")
    return levels


class UNetGenerator(nn.Module):
    """The AdvMix augmentation generator: a U-Net of `levels` down / up blocks.

    Down block: Conv(k4, s2, p1) -> InstanceNorm (not on the first) -> ReLU. Up block:
    ConvTranspose(k4, s2, p1) on [previous, skip] -> InstanceNorm -> LeakyReLU(0.2); the last
    up block outputs `out_channels` logits (one map per branch) without norm / activation.
    Channels ngf * (1, 2, 4, 8, 8, ...). Input (B, in_channels, H, W) -> (B, out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, levels: int = 6, ngf: int = 64):
        super().__init__()
        if levels < 1:
            raise ValueError("the U-Net needs at least one level")
        self.levels = levels
        chans = [ngf * min(2 ** i, 8) for i in range(levels)]
        self.down = nn.ModuleList()
        prev = in_channels
        for i, c in enumerate(chans):
            layers: list[nn.Module] = [nn.Conv2d(prev, c, 4, 2, 1, bias=True)]
            if i > 0:
                layers.append(nn.InstanceNorm2d(c))
            layers.append(nn.ReLU(inplace=True))
            self.down.append(nn.Sequential(*layers))
            prev = c
        self.up = nn.ModuleList()
        for i in reversed(range(levels)):
            cin = chans[i] if i == levels - 1 else chans[i] * 2
            if i == 0:
                self.up.append(nn.ConvTranspose2d(cin, out_channels, 4, 2, 1, bias=True))
            else:
                self.up.append(nn.Sequential(nn.ConvTranspose2d(cin, chans[i - 1], 4, 2, 1),
                                             nn.InstanceNorm2d(chans[i - 1]),
                                             nn.LeakyReLU(0.2, inplace=True)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        for j, block in enumerate(self.up):
            if j > 0:
                x = torch.cat([x, skips[self.levels - 1 - j]], dim=1)
            x = block(x)
        return x


# ---- the method -----------------------------------------------------------------------------------

MIX_MODES = ("advmix", "advmix_image", "equalmix", "dirichletmix", "sequentialmix")
VISIBILITY = ("hard", "soft", "official")
KD_INPUTS = ("mix", "clean")


@dataclass
class AdvMixArgs:
    """method_args of AdvMix (defaults: the paper / official code).

    mix: advmix (per-pixel, learnt adversarially) or an ablation: advmix_image (per-image
    learnt weights), equalmix, dirichletmix (AugMix weights), sequentialmix (chain).
    teacher: checkpoint of a standard model (safetensors + JSON) for the KD term, "init" for a
    frozen copy of the starting weights (model.checkpoint), null only with kd_alpha 0.
    kd_student_input / kd_teacher_input: which image the student / teacher see in the KD term
    (default mix / clean = the official code and PROTOCOL.md; the paper's eq. 7 is clean /
    clean). gridmask_visibility: hard (mixed-image weights 0 for joints under the GridMask, the
    protocol's vis=0), soft (weight * (1 - GridMask-branch mixing weight at the joint)),
    official (the official code: vis=0 only on the GridMask branch's own labels, which the mix
    does not use).
    """

    mix: str = "advmix"
    branches: list[str] = field(default_factory=lambda: ["autoaugment", "gridmask"])
    autoaugment_ops: list[str] = field(default_factory=lambda: list(AUTOAUGMENT_OPS))
    grid_prob: float = 0.7
    grid_ratio: float = 0.5
    gridmask_visibility: str = "hard"
    kd_alpha: float = 0.1
    teacher: str | None = None
    kd_student_input: str = "mix"
    kd_teacher_input: str = "clean"
    g_lr: float = 1e-3
    g_levels: int | None = None
    g_ngf: int = 64
    adv_weight: float = 1.0
    dirichlet_alpha: float = 1.0

    def __post_init__(self) -> None:
        if self.mix not in MIX_MODES:
            raise ValueError(f"mix must be one of {', '.join(MIX_MODES)}, got {self.mix!r}")
        bad = [b for b in self.branches if b not in ("autoaugment", "gridmask")]
        if bad or not self.branches or len(set(self.branches)) != len(self.branches):
            raise ValueError(f"branches must be distinct names from autoaugment, gridmask; got "
                             f"{self.branches}")
        if self.gridmask_visibility not in VISIBILITY:
            raise ValueError(f"gridmask_visibility must be one of {', '.join(VISIBILITY)}")
        if self.kd_student_input not in KD_INPUTS or self.kd_teacher_input not in KD_INPUTS:
            raise ValueError(f"kd_student_input / kd_teacher_input must be one of {KD_INPUTS}")
        if not 0.0 <= self.kd_alpha <= 1.0:
            raise ValueError(f"kd_alpha must be in [0, 1], got {self.kd_alpha}")
        if not 0.0 <= self.grid_prob <= 1.0 or not 0.0 < self.grid_ratio < 1.0:
            raise ValueError("grid_prob must be in [0, 1] and grid_ratio in (0, 1)")
        if self.kd_alpha > 0 and self.teacher is None:
            raise ValueError("kd_alpha > 0 needs a teacher: the checkpoint of a standard model "
                             "(method_args.teacher), or 'init'; set kd_alpha: 0 to train "
                             "without knowledge distillation")
        if self.mix == "sequentialmix" and self.branches != ["autoaugment", "gridmask"]:
            raise ValueError("sequentialmix chains autoaugment then gridmask; keep both branches")
        subpolicies(tuple(self.autoaugment_ops))


def load_teacher(path: str, device: torch.device) -> nn.Module:
    """A frozen eval-mode model from a checkpoint written by the trainer (JSON sidecar)."""
    from pathlib import Path

    from robustpose_bench.models import create_model
    from robustpose_bench.models.checkpoint import load_checkpoint, read_config

    p = resolve_asset(path)
    cfg = read_config(p)
    if cfg is None or "model" not in cfg:
        raise ConfigError(f"teacher checkpoint {p}: no JSON config beside it ({Path(p).with_suffix('.json')}) "
                          "naming the model; use a checkpoint written by `robustpose train`")
    model = create_model(cfg["model"], num_keypoints=int(cfg.get("num_keypoints", 17)),
                         **cfg.get("model_kwargs", {}))
    load_checkpoint(model, p)
    return freeze(model.to(device))


def freeze(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def mix_images(weights: torch.Tensor, branches: torch.Tensor) -> torch.Tensor:
    """sum_k w_k * x_k. weights (B, K, H, W) or (B, K, 1, 1); branches (B, K, 3, H, W)."""
    return (weights.unsqueeze(2) * branches).sum(dim=1)


@register_method
class AdvMixMethod(TrainingMethod):
    """AdvMix and its ablations (see AdvMixArgs)."""

    name = "advmix"
    Args = AdvMixArgs

    def setup(self, ctx: TrainContext) -> None:
        super().setup(ctx)
        a: AdvMixArgs = self.args
        self.policy = subpolicies(tuple(a.autoaugment_ops))
        self.num_branches = 1 + len(a.branches)
        self.generator: nn.Module | None = None
        self.g_module: nn.Module | None = None
        if not ctx.cfg.model.checkpoint:
            log.warning("AdvMix trains the pose network from random weights: model.checkpoint "
                        "is unset, while the paper (sec. 5.1) retrains a trained standard model")
        if a.mix in ("advmix", "advmix_image"):
            w, h = ctx.cfg.input_size
            levels = a.g_levels or unet_levels(h, w)
            self.generator = UNetGenerator(3 * self.num_branches, self.num_branches, levels,
                                           a.g_ngf).to(ctx.device)
            self.g_module = ctx.wrap_ddp(self.generator)
            self.g_slot = ctx.add_optimizer(
                "generator", torch.optim.Adam(self.generator.parameters(), lr=a.g_lr))
            log.info("AdvMix generator: U-Net, %d levels, ngf %d, %d branches", levels, a.g_ngf,
                     self.num_branches)
        self.teacher: nn.Module | None = None
        self.teacher_is_init = a.teacher == "init"
        if a.kd_alpha > 0:
            if self.teacher_is_init:
                self.teacher = freeze(copy.deepcopy(ctx.raw_model))
            else:
                self.teacher = ctx.precision.prepare(load_teacher(a.teacher, ctx.device))

    def sample_transform(self):
        a: AdvMixArgs = self.args
        return AdvMixSampleTransform(tuple(a.branches), self.policy, a.grid_prob, a.grid_ratio)

    # ---- pieces (public for tests) -----------------------------------------------------------
    def branch_stack(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, 1 + len(branches), 3, H, W): clean, then the augmented copies in config order."""
        clean = batch["image"]
        out = [clean]
        for b in self.args.branches:
            if b == "autoaugment":
                out.append(batch["aug_autoaug"])
            else:
                out.append(clean * batch["gridmask"].unsqueeze(1).to(clean.dtype))
        return torch.stack(out, dim=1)

    def mix_weights(self, stack: torch.Tensor) -> torch.Tensor:
        """Mixing weights (B, K, H, W) or (B, K, 1, 1), summing to 1 over K."""
        a: AdvMixArgs = self.args
        b, k = stack.shape[:2]
        if a.mix == "advmix":
            logits = self.g_module(stack.flatten(1, 2))
            return torch.softmax(logits.float(), dim=1)
        if a.mix == "advmix_image":
            logits = self.g_module(stack.flatten(1, 2)).float().mean(dim=(2, 3), keepdim=True)
            return torch.softmax(logits, dim=1)
        if a.mix == "equalmix":
            return torch.full((b, k, 1, 1), 1.0 / k, device=stack.device)
        if a.mix == "dirichletmix":
            # AugMix: w ~ Dir(alpha) over the augmented copies, m ~ Beta(alpha, alpha) keeps
            # the clean image; mix = m * clean + (1 - m) * sum_k w_k aug_k.
            rng = self.ctx.step_rng(salt=11)
            w = rng.dirichlet([a.dirichlet_alpha] * (k - 1), size=b)
            m = rng.beta(a.dirichlet_alpha, a.dirichlet_alpha, size=b)
            weights = np.concatenate([m[:, None], (1 - m)[:, None] * w], axis=1)
            weights = torch.from_numpy(weights.astype(np.float32))
            return weights.to(stack.device).view(b, k, 1, 1)
        raise ValueError(f"mix mode {a.mix!r} has no weights")

    def mixed_input(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None,
                                                                     torch.Tensor]:
        """(training image, mixing weights or None, target weights) for one batch."""
        a: AdvMixArgs = self.args
        tw = batch["target_weight"]
        stack = self.branch_stack(batch)
        if a.mix == "sequentialmix":
            x = batch["aug_autoaug"] * batch["gridmask"].unsqueeze(1)
            return x, None, tw * (1.0 - batch["gridmask_hidden"])
        with self.ctx.autocast():
            weights = self.mix_weights(stack)
        x = mix_images(weights, stack.float())
        return x, weights, self.visible_weight(batch, weights)

    def visible_weight(self, batch: dict[str, torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
        """Target weights of the mixed image under the gridmask_visibility rule."""
        a: AdvMixArgs = self.args
        tw = batch["target_weight"]
        if "gridmask" not in a.branches or a.gridmask_visibility == "official":
            return tw
        hidden = batch["gridmask_hidden"]
        if a.gridmask_visibility == "hard":
            return tw * (1.0 - hidden)
        k = 1 + a.branches.index("gridmask")
        wk = weights[:, k].detach()
        b, h, w = wk.shape[0], batch["image"].shape[-2], batch["image"].shape[-1]
        if wk.shape[-2:] == (1, 1):
            at = wk.reshape(b, 1).expand_as(hidden)
        else:
            joints = batch["joints"]
            x = joints[..., 0].long().clamp(0, w - 1)
            y = joints[..., 1].long().clamp(0, h - 1)
            at = wk[torch.arange(b, device=wk.device)[:, None], y, x]
        return tw * (1.0 - hidden * at)

    # ---- the step -----------------------------------------------------------------------------
    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        a: AdvMixArgs = self.args
        ctx = self.ctx
        x, weights, tw = self.mixed_input(batch)
        target = batch["target"]

        # Step D: the pose network on the detached mix (+ KD towards the frozen teacher).
        with ctx.autocast():
            out = ctx.model(ctx.precision.images(x.detach()))
        loss_hm = heatmap_mse(out, target, tw)
        logs = {"loss_hm": float(loss_hm.detach())}
        loss_d = loss_hm
        if self.teacher is not None and a.kd_alpha > 0:
            with torch.no_grad(), ctx.autocast():
                t_in = x.detach() if a.kd_teacher_input == "mix" else batch["image"]
                t_out = self.teacher(ctx.precision.images(t_in))
            if a.kd_student_input == "mix":
                s_out = out
            else:
                with ctx.autocast():
                    s_out = ctx.model(batch["image"])
            loss_kd = heatmap_mse(s_out, t_out.float(), batch["target_weight"])
            loss_d = (1.0 - a.kd_alpha) * loss_hm + a.kd_alpha * loss_kd
            logs["loss_kd"] = float(loss_kd.detach())
        ctx.optimize(loss_d, ctx.pose, ctx.raw_model.parameters())
        logs["loss"] = float(loss_d.detach())

        # Step G (D frozen): maximise D's heatmap loss on the mix, L_G = -L_D*.
        if self.generator is not None:
            loss_g = self.generator_step(x, target, tw)
            logs["loss_g"] = loss_g
        return logs

    def generator_step(self, x: torch.Tensor, target: torch.Tensor, tw: torch.Tensor) -> float:
        return adversarial_generator_step(self.ctx, x, target, tw, self.g_slot,
                                          self.generator.parameters(), self.args.adv_weight)

    # ---- checkpointing ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        if self.generator is not None:
            state["generator"] = self.generator.state_dict()
        if self.teacher is not None and self.teacher_is_init:
            state["teacher"] = self.teacher.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.generator is not None:
            if "generator" not in state:
                raise ValueError("AdvMix resume: the checkpoint has no generator weights")
            self.generator.load_state_dict(state["generator"], strict=True)
        if self.teacher is not None and self.teacher_is_init:
            if "teacher" not in state:
                raise ValueError("AdvMix resume: the checkpoint has no teacher weights")
            self.teacher.load_state_dict(state["teacher"], strict=True)

    def inference_config(self) -> dict[str, Any]:
        return {}


__all__ = ["ADVMIX_POLICY", "AUTOAUGMENT_OPS", "AdvMixArgs", "AdvMixMethod", "UNetGenerator",
           "apply_op", "autoaugment", "gridmask", "mix_images", "subpolicies", "unet_levels"]
