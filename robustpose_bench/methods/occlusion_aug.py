"""Occlusion augmentation: targeted keypoint / part blurring and cutout, and PartMix.

Pytel et al., "Tilting at windmills: Data augmentation for deep pose estimation does not help
with occlusions" (ICPR 2020), PROTOCOL.md section 7: drawn on the model-input crop with the
benchmark's own attack code, with probability p (0.2 / 0.5), optionally removing the labels
of the occluded joints.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from robustpose_bench.methods.base import register_method
from robustpose_bench.methods.standard import StandardMethod
from robustpose_bench.occlusion import (
    AttackSpec,
    Canvas,
    Rect,
    attack_part_groups,
    draw_attack,
    get_target,
    part_rect,
    region_mask,
)

log = logging.getLogger(__name__)

LEVELS = ("keypoint", "multikeypoint", "part", "partmix")
MODE_ALIASES = {"cutout": "meanout", "blurring": "blur", "blur": "blur", "meanout": "meanout",
                "blackout": "blackout"}
DEFAULT_PARTS = ("head", "left_arm", "right_arm", "hip", "left_leg", "right_leg", "corpus")


@dataclass
class OcclusionAugArgs:
    """method_args of the occlusion augmentation.

    level: keypoint (one circle), multikeypoint (1..max_keypoints circles), part (the
    rectangle of one body part) or partmix (the part rectangle filled with a part of another
    training person). modes: drawn uniformly per application: blur (the paper's blurring;
    keypoint kernel 2r - 1 = 9, part kernel 31 / sigma 5), cutout (= meanout, the image mean)
    or blackout. radius: keypoint circle radius in model-input pixels at `reference_height`
    (256, the paper's input); radii and blur kernels are scaled to the actual input height.
    remove_labels: joints inside the occluded region get weight 0.
    """

    level: str = "keypoint"
    modes: list[str] = field(default_factory=lambda: ["blur"])
    prob: float = 0.5
    remove_labels: bool = False
    radius: float = 5.0
    reference_height: int = 256
    max_keypoints: int = 5
    parts: list[str] = field(default_factory=lambda: list(DEFAULT_PARTS))

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {self.level!r}")
        bad = [m for m in self.modes if m not in MODE_ALIASES]
        if bad or not self.modes:
            raise ValueError(f"modes must be a non-empty list of {', '.join(MODE_ALIASES)}; got "
                             f"{self.modes}")
        if not 0.0 <= self.prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {self.prob}")
        if self.radius <= 0 or self.reference_height <= 0 or self.max_keypoints < 1:
            raise ValueError("radius, reference_height and max_keypoints must be positive")


class OcclusionSampleTransform:
    """Draws the occlusion on the uint8 crop (crop-space joints) and updates `vis`."""

    def __init__(self, args: OcclusionAugArgs, meta, input_height: int):
        self.args = args
        self.meta = meta
        self.pixel_scale = args.reference_height / float(input_height)
        self.modes = [MODE_ALIASES[m] for m in args.modes]
        groups = attack_part_groups(meta)
        unknown = [p for p in args.parts if p not in groups]
        if unknown:
            raise ValueError(f"occlusion_aug: unknown part(s) {', '.join(unknown)} for "
                             f"{meta.name}; valid: {', '.join(groups)}")
        self.parts = {p: groups[p] for p in args.parts}

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator, dataset) -> dict[str, Any]:
        a = self.args
        if rng.random() >= a.prob:
            return sample
        image = sample["image"]
        h, w = image.shape[:2]
        kp = np.concatenate([sample["joints"], 2.0 * sample["vis"][:, None]], axis=1).astype(np.float64)
        inside = (kp[:, 2] > 0) & (kp[:, 0] >= 0) & (kp[:, 0] < w) & (kp[:, 1] >= 0) & (kp[:, 1] < h)
        canvas = Canvas(image.copy(), source=image)
        regions = []
        if a.level in ("keypoint", "multikeypoint"):
            cands = np.flatnonzero(inside)
            if len(cands) == 0:
                return sample
            n = 1 if a.level == "keypoint" else int(rng.integers(1, min(a.max_keypoints, len(cands)) + 1))
            for j in rng.choice(cands, size=n, replace=False):
                mode = self.modes[int(rng.integers(len(self.modes)))]
                spec = AttackSpec(mode, get_target(self.meta.keypoint_names[int(j)], self.meta),
                                  a.radius)
                res = draw_attack(canvas, kp, spec, pixel_scale=self.pixel_scale)
                if res.region is not None:
                    regions.append(res.region)
        else:
            names = [p for p, idx in self.parts.items() if int((kp[list(idx), 2] > 0).sum()) >= 2]
            if not names:
                return sample
            part = names[int(rng.integers(len(names)))]
            if a.level == "part":
                mode = self.modes[int(rng.integers(len(self.modes)))]
                spec = AttackSpec(mode, get_target(part, self.meta), None)
                res = draw_attack(canvas, kp, spec, pixel_scale=self.pixel_scale)
                if res.region is not None:
                    regions.append(res.region)
            else:
                rect = part_rect(kp, part, self.parts[part])
                if rect is not None and self._partmix(canvas.image, rect, rng, dataset):
                    regions.append(rect)
        if not regions:
            return sample
        sample["image"] = canvas.image
        if a.remove_labels:
            vis = sample["vis"].copy()
            xi = np.clip(np.round(kp[:, 0]).astype(int), 0, w - 1)
            yi = np.clip(np.round(kp[:, 1]).astype(int), 0, h - 1)
            for region in regions:
                covered = region_mask(region, h, w)[yi, xi] & inside
                vis[covered] = 0.0
            sample["vis"] = vis
        return sample

    def _partmix(self, image: np.ndarray, rect: Rect, rng: np.random.Generator, dataset) -> bool:
        """Paste a body part of another random training person into `rect` (in place)."""
        h, w = image.shape[:2]
        other = dataset.load_crop(int(rng.integers(len(dataset))), augment=False)
        okp = np.concatenate([other["joints"], 2.0 * other["vis"][:, None]], axis=1)
        names = [p for p, idx in self.parts.items() if int((okp[list(idx), 2] > 0).sum()) >= 2]
        if not names:
            return False
        part = names[int(rng.integers(len(names)))]
        src = part_rect(okp, part, self.parts[part])
        if src is None:
            return False
        sr, dr = src.roi(h, w), rect.roi(h, w)
        if sr.empty or dr.empty:
            return False
        patch = other["image"][sr.slices]
        dh, dw = dr.y1 - dr.y0, dr.x1 - dr.x0
        image[dr.slices] = cv2.resize(patch, (dw, dh), interpolation=cv2.INTER_LINEAR)
        return True


@register_method
class OcclusionAugMethod(StandardMethod):
    """Standard training on occlusion-augmented crops (the hook runs in the data workers)."""

    name = "occlusion_aug"
    Args = OcclusionAugArgs

    def sample_transform(self):
        return OcclusionSampleTransform(self.args, self.ctx.meta, self.ctx.cfg.input_size[1])


__all__ = ["LEVELS", "OcclusionAugArgs", "OcclusionAugMethod", "OcclusionSampleTransform"]
