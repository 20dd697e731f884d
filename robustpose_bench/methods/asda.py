"""ASDA: (adversarial) semantic data augmentation by pasting segmented body parts.

Bin et al., "Adversarial Semantic Data Augmentation for Human Pose Estimation" (ECCV 2020),
PROTOCOL.md section 5: N parts of different types from the part pool (methods/part_pool.py)
per image, random placement (SDA) or an STN generator (an off-the-shelf ResNet, optionally
with ImageNet weights from a local file) predicting (r, tx, ty) per part type (ASDA), sampled
scale, affine_grid / grid_sample pasting with soft masks, L_G = -L_D.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robustpose_bench.methods.base import (
    TrainingMethod,
    adversarial_generator_step,
    register_method,
)
from robustpose_bench.methods.part_pool import (
    MIN_PART_AREA,
    PartPatch,
    PartPool,
    build_pool_from_dataset,
    build_pool_from_parsing,
)
from robustpose_bench.models.resnet import BN_MOMENTUM, RESNET_SPECS, make_res_layer
from robustpose_bench.train.config import ConfigError
from robustpose_bench.train.context import TrainContext
from robustpose_bench.train.data import normalize_image
from robustpose_bench.train.losses import heatmap_mse

log = logging.getLogger(__name__)

# ---- data side: choose and scale the parts ---------------------------------------------------

class ASDASampleTransform:
    """Adds `asda_parts` (N, 3, H, W) normalised part canvases, `asda_alpha` (N, H, W) soft
    masks, `asda_type` (N,) part types and `asda_active` (N,) to a sample.

    The N parts have N different types (drawn without replacement among the non-empty types;
    fewer when the pool has fewer), each part uniform within its type, resized by s = body_diag * fraction[type] / part_diag * U(scale_range) (the scale is
    sampled, never learnt) and centred in an input-sized canvas: placement (r, t) = (0, 0)
    pastes it at the crop centre, upright.
    """

    def __init__(self, pool: PartPool, num_parts: int, prob: float,
                 scale_range: tuple[float, float]):
        self.pool = pool
        self.num_parts = num_parts
        self.prob = prob
        self.scale_range = scale_range
        self.fraction = pool.fraction
        self.available = pool.available

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator, dataset) -> dict[str, Any]:
        h, w = sample["image"].shape[:2]
        n = self.num_parts
        parts = np.zeros((n, 3, h, w), dtype=np.float32)
        alpha = np.zeros((n, h, w), dtype=np.float32)
        types = np.zeros(n, dtype=np.int64)
        active = np.zeros(n, dtype=np.float32)
        body_diag = float(sample.get("box_diag", math.hypot(w, h) / 1.25))
        if len(self.available) and rng.random() < self.prob:
            chosen = rng.choice(self.available, size=min(n, len(self.available)), replace=False)
            for i, t in enumerate(int(v) for v in chosen):
                patch = self.pool.parts[t][int(rng.integers(len(self.pool.parts[t])))]
                s = body_diag * self.fraction[t] / max(patch.diag, 1.0) \
                    * rng.uniform(*self.scale_range)
                rgb, a = _render_centred(patch, s, h, w)
                parts[i] = normalize_image(rgb)
                alpha[i] = a
                types[i] = t
                active[i] = 1.0
        sample["asda_parts"] = parts
        sample["asda_alpha"] = alpha
        sample["asda_type"] = types
        sample["asda_active"] = active
        return sample


def _render_centred(patch: PartPatch, scale: float, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The patch resized by `scale` and centred in an (h, w) canvas (clipped)."""
    ph, pw = patch.alpha.shape
    nw, nh = max(1, int(round(pw * scale))), max(1, int(round(ph * scale)))
    rgb = cv2.resize(patch.rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    a = cv2.resize(patch.alpha, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas = np.zeros((h, w, 3), dtype=np.uint8)
    acanvas = np.zeros((h, w), dtype=np.float32)
    x0, y0 = (w - nw) // 2, (h - nh) // 2
    sx0, sy0 = max(0, -x0), max(0, -y0)
    dx0, dy0 = max(0, x0), max(0, y0)
    cw, ch = min(nw - sx0, w - dx0), min(nh - sy0, h - dy0)
    canvas[dy0:dy0 + ch, dx0:dx0 + cw] = rgb[sy0:sy0 + ch, sx0:sx0 + cw]
    acanvas[dy0:dy0 + ch, dx0:dx0 + cw] = a[sy0:sy0 + ch, sx0:sx0 + cw]
    return canvas, np.clip(acanvas, 0.0, 1.0)


# ---- device side: placement and pasting ---------------------------------------------------------

def placement_theta(angle: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor, height: int,
                    width: int) -> torch.Tensor:
    """(B, 2, 3) affine_grid matrices placing a centred canvas part rotated by `angle`
    (radians, in pixel space so the part is not sheared by a non-square crop) and shifted by
    (tx, ty) (normalised output coordinates, 1 = half the width / height); differentiable in
    all three. (0, 0, 0) is the identity."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    ar = width / height
    # Output -> source in normalised coordinates: D^-1 R(-angle) D (p - t), D = diag(W/2, H/2).
    a11, a12 = cos, sin / ar
    a21, a22 = -sin * ar, cos
    b1 = -(a11 * tx + a12 * ty)
    b2 = -(a21 * tx + a22 * ty)
    return torch.stack([torch.stack([a11, a12, b1], -1), torch.stack([a21, a22, b2], -1)], -2)


def paste_parts(image: torch.Tensor, parts: torch.Tensor, alpha: torch.Tensor,
                params: torch.Tensor, active: torch.Tensor | None = None) -> torch.Tensor:
    """Paste N canvases into each image: x = x * (1 - m) + p * m, in order.

    image (B, 3, H, W); parts (B, N, 3, H, W); alpha (B, N, H, W) soft masks; params
    (B, N, 3) = (angle rad, tx, ty); active (B, N) 0/1. Differentiable w.r.t. params
    (bilinear grid_sample of the part and its mask).
    """
    b, n = parts.shape[:2]
    h, w = image.shape[-2:]
    x = image
    for i in range(n):
        theta = placement_theta(params[:, i, 0], params[:, i, 1], params[:, i, 2], h, w)
        grid = F.affine_grid(theta.to(image.dtype), (b, 4, h, w), align_corners=False)
        src = torch.cat([parts[:, i], alpha[:, i, None]], dim=1).to(image.dtype)
        warped = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros",
                               align_corners=False)
        m = warped[:, 3:4].clamp(0.0, 1.0)
        if active is not None:
            m = m * active[:, i].view(b, 1, 1, 1).to(m.dtype)
        x = x * (1.0 - m) + warped[:, :3] * m
    return x


# ---- generator -------------------------------------------------------------------------------------

STN_BACKBONES = {"resnet18": 18, "resnet50": 50}


class STNGenerator(nn.Module):
    """The ASDA generator: an off-the-shelf ResNet (`resnet18` as the paper, `resnet50` as the
    official code) with global average pooling and a linear layer regressing 3 values per part
    type. Module names are torchvision's (`conv1`, `bn1`, `layer1..4`, `fc`), so an ImageNet
    checkpoint loads with `load_imagenet`; `width` < 64 makes a narrower net for CPU runs.

    Output (B, T, 3) = (angle, tx, ty) with v = sigmoid(fc) - 0.5, angle = v * pi,
    t = v * 2.4 (normalised coordinates). The fc layer is zero-initialised, so training starts
    from the neutral placement (0, 0, 0).
    """

    head_prefixes = ("fc",)

    def __init__(self, num_types: int, width: int = 64, backbone: str = "resnet18"):
        super().__init__()
        if backbone not in STN_BACKBONES:
            raise ValueError(f"STN backbone must be one of {', '.join(STN_BACKBONES)}, got "
                             f"{backbone!r}")
        block, layers = RESNET_SPECS[STN_BACKBONES[backbone]]
        self.num_types = num_types
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        ch = width
        self.layer1, ch = make_res_layer(block, ch, width, layers[0])
        self.layer2, ch = make_res_layer(block, ch, width * 2, layers[1], stride=2)
        self.layer3, ch = make_res_layer(block, ch, width * 4, layers[2], stride=2)
        self.layer4, ch = make_res_layer(block, ch, width * 8, layers[3], stride=2)
        self.fc = nn.Linear(ch, 3 * num_types)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def load_imagenet(self, path: str) -> dict:
        """Initialise everything but `fc` from a local torchvision-style ImageNet ResNet
        checkpoint (models.checkpoint.load_pretrained_backbone; nothing is downloaded)."""
        from robustpose_bench.models.checkpoint import load_pretrained_backbone

        return load_pretrained_backbone(self, path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        f = self.layer4(self.layer3(self.layer2(self.layer1(x)))).mean(dim=(2, 3))
        v = torch.sigmoid(self.fc(f)).view(-1, self.num_types, 3) - 0.5
        scale = torch.tensor([math.pi, 2.4, 2.4], device=v.device, dtype=v.dtype)
        return v * scale


# ---- the method ------------------------------------------------------------------------------------

@dataclass
class ASDAArgs:
    """method_args of ASDA / SDA.

    adversarial: true = ASDA (STN generator, L_G = -L_D), false = random SDA with
    (angle, tx, ty) ~ U around (0, 0, 0) scaled by `random_range` of the generator's ranges
    (angle +-pi/2, t +-1.2). num_parts: N parts of N different types per image (paper: 1 is
    best). prob: chance that an image gets parts. scale_range: U(lo, hi) factor of the
    sampled scale. g_backbone: the STN's ResNet (resnet18 = the paper, resnet50 = the
    official code), g_width its base width (64 = the standard network), g_pretrained a local
    torchvision-style ImageNet checkpoint of that ResNet (needs g_width 64; the official code
    starts from ImageNet weights, nothing is downloaded). min_part_area: pool segments below
    it (source-image pixels) are dropped (paper: 35^2).
    Pool: `data.masks` label maps (SynthPose), else COCO person masks split by keypoints, or
    a parsing data set (parsing_images + parsing_labels + parsing_classes).
    """

    adversarial: bool = True
    num_parts: int = 1
    prob: float = 1.0
    scale_range: list[float] | None = None
    random_range: float = 0.5
    g_lr: float = 1e-3
    g_backbone: str = "resnet18"
    g_width: int = 64
    g_pretrained: str | None = None
    adv_weight: float = 1.0
    min_part_area: int = MIN_PART_AREA
    max_per_type: int = 400
    max_pool_persons: int = 3000
    parsing_images: str | None = None
    parsing_labels: str | None = None
    parsing_classes: dict | None = None

    def __post_init__(self) -> None:
        if self.num_parts < 1:
            raise ValueError(f"num_parts must be >= 1, got {self.num_parts}")
        if not 0.0 <= self.prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {self.prob}")
        if self.scale_range is None:
            self.scale_range = [0.7, 1.3]
        if len(self.scale_range) != 2 or not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise ValueError(f"scale_range must be [lo, hi] with 0 < lo <= hi, got {self.scale_range}")
        if (self.parsing_images is None) != (self.parsing_labels is None):
            raise ValueError("give both parsing_images and parsing_labels (or neither)")
        if self.g_backbone not in STN_BACKBONES:
            raise ValueError(f"g_backbone must be one of {', '.join(STN_BACKBONES)}, got "
                             f"{self.g_backbone!r}")
        if self.g_width < 1 or self.min_part_area < 1:
            raise ValueError("g_width and min_part_area must be positive")
        if self.g_pretrained is not None and self.g_width != 64:
            raise ValueError(f"g_pretrained (ImageNet {self.g_backbone}) needs g_width 64, got "
                             f"{self.g_width}")


@register_method
class ASDAMethod(TrainingMethod):
    """Semantic part pasting, random (SDA) or adversarial (ASDA)."""

    name = "asda"
    Args = ASDAArgs

    def setup(self, ctx: TrainContext) -> None:
        super().setup(ctx)
        a: ASDAArgs = self.args
        pretrained = ctx.cfg.resolve(a.g_pretrained)
        if pretrained is not None and not pretrained.is_file():
            raise ConfigError(f"method_args.g_pretrained: {pretrained} does not exist (a local "
                              f"ImageNet {a.g_backbone} checkpoint; nothing is downloaded)")
        self.pool = self.build_pool()
        log.info("ASDA part pool: %d parts (%s)", len(self.pool),
                 ", ".join(f"{k} {v}" for k, v in self.pool.counts().items()))
        if len(self.pool) == 0:
            raise ConfigError(f"ASDA: the part pool is empty (no part of at least "
                              f"{a.min_part_area} px found); check data.masks and "
                              "method_args.min_part_area")
        self.generator: STNGenerator | None = None
        if a.adversarial:
            self.generator = STNGenerator(len(self.pool.types), a.g_width, a.g_backbone)
            if pretrained is not None:
                self.generator.load_imagenet(str(pretrained))
            self.generator.to(ctx.device)
            self.g_module = ctx.wrap_ddp(self.generator)
            self.g_slot = ctx.add_optimizer(
                "generator", torch.optim.Adam(self.generator.parameters(), lr=a.g_lr))

    def build_pool(self) -> PartPool:
        a: ASDAArgs = self.args
        cfg = self.ctx.cfg
        if a.parsing_images is not None:
            return build_pool_from_parsing(cfg.resolve(a.parsing_images),
                                           cfg.resolve(a.parsing_labels),
                                           a.parsing_classes or {}, max_per_type=a.max_per_type,
                                           min_area=a.min_part_area, seed=cfg.seed)
        return build_pool_from_dataset(self.ctx.train_data, cfg.resolve(cfg.data.masks),
                                       max_persons=a.max_pool_persons,
                                       max_per_type=a.max_per_type, min_area=a.min_part_area,
                                       seed=cfg.seed)

    def sample_transform(self):
        a: ASDAArgs = self.args
        return ASDASampleTransform(self.pool, a.num_parts, a.prob, tuple(a.scale_range))

    def placement(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, N, 3) placement (angle, tx, ty) of each pasted part."""
        a: ASDAArgs = self.args
        types = batch["asda_type"]
        b, n = types.shape
        if self.generator is not None:
            params = self.g_module(batch["image"]).float()  # (B, T, 3)
            return params.gather(1, types[..., None].expand(b, n, 3))
        g = self.ctx.step_generator(salt=7)
        v = (torch.rand(b, n, 3, generator=g) - 0.5) * a.random_range
        scale = torch.tensor([math.pi, 2.4, 2.4])
        return (v * scale).to(batch["image"].device)

    def augment(self, batch: dict[str, torch.Tensor], params: torch.Tensor) -> torch.Tensor:
        return paste_parts(batch["image"], batch["asda_parts"], batch["asda_alpha"], params,
                           batch["asda_active"])

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        ctx = self.ctx
        with ctx.autocast():
            params = self.placement(batch)
        x = self.augment(batch, params.float())
        target, tw = batch["target"], batch["target_weight"]
        with ctx.autocast():
            out = ctx.model(ctx.precision.images(x.detach()))
        loss_d = heatmap_mse(out, target, tw)
        ctx.optimize(loss_d, ctx.pose, ctx.raw_model.parameters())
        logs = {"loss": float(loss_d.detach())}
        if self.generator is not None:
            logs["loss_g"] = adversarial_generator_step(
                ctx, x, target, tw, self.g_slot, self.generator.parameters(),
                self.args.adv_weight)
        return logs

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.state_dict()} if self.generator is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.generator is not None:
            if "generator" not in state:
                raise ValueError("ASDA resume: the checkpoint has no generator weights")
            self.generator.load_state_dict(state["generator"], strict=True)


__all__ = ["ASDAArgs", "ASDAMethod", "ASDASampleTransform", "STNGenerator", "paste_parts",
           "placement_theta"]
