"""ASDA: (adversarial) semantic data augmentation by pasting segmented body parts.

Bin et al., "Adversarial Semantic Data Augmentation for Human Pose Estimation" (ECCV 2020),
PROTOCOL.md section 5: a part pool from instance masks + keypoints (or a parsing data set),
random placement (SDA) or a ResNet-18 STN generator predicting (r, tx, ty) per part type
(ASDA), sampled scale, affine_grid / grid_sample pasting with soft masks, L_G = -L_D.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robustpose_bench.datasets.types import Dataset
from robustpose_bench.methods.base import (
    TrainingMethod,
    adversarial_generator_step,
    register_method,
)
from robustpose_bench.train.config import ConfigError
from robustpose_bench.train.data import normalize_image, read_rgb
from robustpose_bench.train.losses import heatmap_mse

log = logging.getLogger(__name__)

#: Fine part labels of the SynthPose part masks (and of `split_person_mask`).
FINE_PARTS = ("head", "torso", "left_upper_arm", "left_lower_arm", "right_upper_arm",
              "right_lower_arm", "left_upper_leg", "left_lower_leg", "right_upper_leg",
              "right_lower_leg")
#: Part types of the pool: the fine parts plus combined, coarser ones (the paper combines
#: LIP parts into parts of higher semantic granularity).
PART_TYPES: dict[str, tuple[int, ...]] = {
    **{name: (i + 1,) for i, name in enumerate(FINE_PARTS)},
    "left_arm": (3, 4), "right_arm": (5, 6), "left_leg": (7, 8), "right_leg": (9, 10),
}

# COCO keypoint segments whose nearest pixels form each fine part (split_person_mask).
_COCO_SEGMENTS: dict[int, tuple[tuple[int, int], ...]] = {
    3: ((5, 7),), 4: ((7, 9),), 5: ((6, 8),), 6: ((8, 10),),
    7: ((11, 13),), 8: ((13, 15),), 9: ((12, 14),), 10: ((14, 16),),
    2: ((5, 6), (11, 12), (5, 11), (6, 12)),
}
_COCO_HEAD = (0, 1, 2, 3, 4)
_COCO_TORSO = (5, 6, 12, 11)


# ---- part pool ------------------------------------------------------------------------------

@dataclass
class PartPatch:
    """One segmented part: rgb uint8 (h, w, 3), alpha float32 (h, w) in [0, 1] (soft edges),
    its type index into PartPool.types and its diagonal relative to its person's box diagonal."""

    rgb: np.ndarray
    alpha: np.ndarray
    type_index: int
    rel_size: float

    @property
    def diag(self) -> float:
        return float(math.hypot(*self.alpha.shape))


@dataclass
class PartPool:
    """Parts grouped by type; `fraction[t]` is the median relative size of type t."""

    types: tuple[str, ...]
    parts: list[list[PartPatch]]

    @property
    def fraction(self) -> np.ndarray:
        return np.array([float(np.median([p.rel_size for p in ps])) if ps else 0.0
                         for ps in self.parts])

    @property
    def available(self) -> np.ndarray:
        """Indices of the types that have at least one part."""
        return np.array([i for i, ps in enumerate(self.parts) if ps], dtype=np.int64)

    def __len__(self) -> int:
        return sum(len(ps) for ps in self.parts)

    def counts(self) -> dict[str, int]:
        return {t: len(ps) for t, ps in zip(self.types, self.parts, strict=True)}


def _seg_distance(px: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    denom = float(ab @ ab)
    t = np.zeros(len(px)) if denom == 0 else np.clip(((px - a) @ ab) / denom, 0.0, 1.0)
    proj = a + t[:, None] * ab
    return np.linalg.norm(px - proj, axis=1)


def split_person_mask(mask: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """Split a COCO person mask into the 10 fine part labels by the nearest body segment.

    mask: (H, W) bool in image pixels; keypoints: (17, 3) COCO (x, y, v) image pixels.
    Each mask pixel gets the label of the closest available segment (head: nearest head
    keypoint; torso: inside the shoulder-hip quadrilateral or nearest of its sides; limbs:
    the bone between their two joints). Returns (H, W) uint8 labels (0 = background or no
    labelled segment).
    """
    labels = np.zeros(mask.shape, dtype=np.uint8)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return labels
    px = np.stack([xs, ys], axis=1).astype(np.float64)
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = kp[:, 2] > 0
    cands: list[tuple[int, np.ndarray]] = []
    head = [i for i in _COCO_HEAD if vis[i]]
    if head:
        d = np.linalg.norm(px[:, None, :] - kp[head, :2][None], axis=2).min(axis=1)
        cands.append((1, d))
    for label, segs in _COCO_SEGMENTS.items():
        ds = [_seg_distance(px, kp[a, :2], kp[b, :2]) for a, b in segs if vis[a] and vis[b]]
        if not ds:
            continue
        d = np.min(np.stack(ds), axis=0)
        if label == 2 and all(vis[i] for i in _COCO_TORSO):
            inside = _inside_fill(kp[list(_COCO_TORSO), :2], mask.shape, xs, ys)
            d = np.where(inside, 0.0, d)
        cands.append((label, d))
    if not cands:
        return labels
    dist = np.stack([d for _, d in cands])
    lab = np.array([lb for lb, _ in cands], dtype=np.uint8)
    labels[ys, xs] = lab[dist.argmin(axis=0)]
    return labels


def _inside_fill(poly: np.ndarray, shape: tuple[int, int], xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    canvas = np.zeros(shape, dtype=np.uint8)
    cv2.fillPoly(canvas, [np.round(poly).astype(np.int32)], 1)
    return canvas[ys, xs] > 0


def extract_parts(image: np.ndarray, labels: np.ndarray, body_diag: float,
                  types: dict[str, tuple[int, ...]], min_area: int, feather: float = 1.0
                  ) -> list[PartPatch]:
    """Part patches of one person from its label map (image pixels, same size as `image`).

    Keeps the largest connected component of each type (drops scattered segments), skips
    those below `min_area` pixels, feathers the mask edge with a Gaussian of `feather` px.
    """
    out = []
    for t, (_name, ids) in enumerate(types.items()):
        m = np.isin(labels, ids).astype(np.uint8)
        if int(m.sum()) < min_area:
            continue
        n, comp, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
        if n <= 1:
            continue
        best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        if stats[best, cv2.CC_STAT_AREA] < min_area:
            continue
        x, y, w, h = (int(v) for v in stats[best, :4])
        pad = 2
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(labels.shape[1], x + w + pad), min(labels.shape[0], y + h + pad)
        mm = (comp[y0:y1, x0:x1] == best).astype(np.float32)
        if feather > 0:
            mm = cv2.GaussianBlur(mm, (0, 0), feather) * (cv2.dilate(mm, np.ones((3, 3))) > 0)
        out.append(PartPatch(np.ascontiguousarray(image[y0:y1, x0:x1]), mm.astype(np.float32), t,
                             float(math.hypot(w, h) / max(body_diag, 1.0))))
    return out


def _coco_mask(segmentation: Any, height: int, width: int) -> np.ndarray | None:
    from pycocotools import mask as mask_utils

    if segmentation is None or height <= 0 or width <= 0:
        return None
    if isinstance(segmentation, list):
        if not segmentation:
            return None
        rles = mask_utils.frPyObjects(segmentation, height, width)
        rle = mask_utils.merge(rles)
    elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return mask_utils.decode(rle).astype(bool)


def build_pool_from_dataset(dataset: Dataset, mask_root: str | Path | None, *,
                            max_persons: int = 3000, max_per_type: int = 400,
                            min_area: int = 64, seed: int = 0) -> PartPool:
    """Part pool from a training set: SynthPose-style label maps `<mask_root>/<ann_id>.png`
    (full-image part labels) when `mask_root` is given, else COCO person masks
    (`segmentation`) split by keypoints (split_person_mask; 17-keypoint COCO layouts)."""
    types = PART_TYPES
    pool = PartPool(tuple(types), [[] for _ in types])
    rng = np.random.default_rng(seed)
    persons = [(si, pi) for si, s in enumerate(dataset.samples) for pi, p in enumerate(s.persons)
               if not p.iscrowd and p.num_keypoints > 0]
    if mask_root is None and dataset.meta.num_keypoints != 17:
        raise ConfigError(f"ASDA part pool: {dataset.meta.name} has no part masks "
                          "(data.masks) and is not a 17-keypoint COCO layout to split person "
                          "masks by; give method_args.parsing_images / parsing_labels")
    order = rng.permutation(len(persons))[:max_persons]
    cache: dict[int, np.ndarray] = {}
    root = Path(mask_root) if mask_root is not None else None
    for j in sorted(order.tolist(), key=lambda k: persons[k]):
        si, pi = persons[j]
        sample = dataset.samples[si]
        person = sample.persons[pi]
        if root is not None:
            path = root / f"{person.id}.png"
            labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if labels is None:
                continue
        else:
            mask = _coco_mask(person.segmentation, sample.height, sample.width)
            if mask is None:
                continue
            labels = split_person_mask(mask, person.keypoints)
        if si not in cache:
            cache.clear()
            cache[si] = read_rgb(dataset.image_path(sample))
        image = cache[si]
        if labels.shape != image.shape[:2]:
            raise ValueError(f"part label map of person {person.id} is {labels.shape}, image "
                             f"{sample.file_name} is {image.shape[:2]}")
        diag = float(math.hypot(person.bbox[2], person.bbox[3]))
        for patch in extract_parts(image, labels, diag, types, min_area):
            pool.parts[patch.type_index].append(patch)
    return _cap(pool, max_per_type, rng)


def build_pool_from_parsing(images_dir: str | Path, labels_dir: str | Path,
                            classes: dict[str, list[int]], *, max_per_type: int = 400,
                            min_area: int = 64, seed: int = 0) -> PartPool:
    """Part pool from a user-supplied human-parsing data set (e.g. LIP): `labels_dir/<stem>.png`
    label maps beside `images_dir/<stem>.<ext>`; `classes` maps part-type names to label ids
    (combined types list several ids). The body diagonal is that of all labelled pixels."""
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    if not classes:
        raise ConfigError("ASDA parsing pool: method_args.parsing_classes is empty")
    types = {k: tuple(int(i) for i in v) for k, v in classes.items()}
    pool = PartPool(tuple(types), [[] for _ in types])
    files = sorted(labels_dir.glob("*.png"))
    if not files:
        raise ConfigError(f"ASDA parsing pool: no .png label maps in {labels_dir}")
    for lf in files:
        cands = [p for p in images_dir.glob(lf.stem + ".*") if p.suffix.lower() in
                 (".jpg", ".jpeg", ".png", ".bmp")]
        if not cands:
            raise ConfigError(f"ASDA parsing pool: no image for label map {lf} in {images_dir}")
        labels = cv2.imread(str(lf), cv2.IMREAD_UNCHANGED)
        if labels is None or labels.ndim != 2:
            raise ConfigError(f"ASDA parsing pool: {lf} is not a single-channel label map")
        image = read_rgb(cands[0])
        ys, xs = np.nonzero(labels)
        if len(xs) == 0:
            continue
        diag = float(math.hypot(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1))
        for patch in extract_parts(image, labels, diag, types, min_area):
            pool.parts[patch.type_index].append(patch)
    return _cap(pool, max_per_type, np.random.default_rng(seed))


def _cap(pool: PartPool, max_per_type: int, rng: np.random.Generator) -> PartPool:
    for t, ps in enumerate(pool.parts):
        if len(ps) > max_per_type:
            keep = sorted(rng.choice(len(ps), max_per_type, replace=False).tolist())
            pool.parts[t] = [ps[i] for i in keep]
    return pool


# ---- data side: choose and scale the parts ---------------------------------------------------

class ASDASampleTransform:
    """Adds `asda_parts` (N, 3, H, W) normalised part canvases, `asda_alpha` (N, H, W) soft
    masks, `asda_type` (N,) part types and `asda_active` (N,) to a sample.

    Each part is drawn uniformly among the non-empty types, then uniformly within its type,
    resized by s = body_diag * fraction[type] / part_diag * U(scale_range) (the scale is
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
            for i in range(n):
                t = int(self.available[int(rng.integers(len(self.available)))])
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

class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class STNGenerator(nn.Module):
    """ResNet-18 (width `width`, 2-2-2-2 basic blocks) regressing 3 values per part type.

    Output (B, T, 3) = (angle, tx, ty) with v = sigmoid(fc) - 0.5, angle = v * pi,
    t = v * 2.4 (normalised coordinates). The fc layer is zero-initialised, so training starts
    from the neutral placement (0, 0, 0).
    """

    def __init__(self, num_types: int, width: int = 64):
        super().__init__()
        self.num_types = num_types
        self.stem = nn.Sequential(nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        layers = []
        cin = width
        for i, cout in enumerate((width, 2 * width, 4 * width, 8 * width)):
            stride = 1 if i == 0 else 2
            layers += [_Block(cin, cout, stride), _Block(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, 3 * num_types)
        nn.init.zeros_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.layers(self.stem(x)).mean(dim=(2, 3))
        v = torch.sigmoid(self.fc(f)).view(-1, self.num_types, 3) - 0.5
        scale = torch.tensor([math.pi, 2.4, 2.4], device=v.device, dtype=v.dtype)
        return v * scale


# ---- the method ------------------------------------------------------------------------------------

@dataclass
class ASDAArgs:
    """method_args of ASDA / SDA.

    adversarial: true = ASDA (STN generator, L_G = -L_D), false = random SDA with
    (angle, tx, ty) ~ U around (0, 0, 0) scaled by `random_range` of the generator's ranges
    (angle +-pi/2, t +-1.2). num_parts: N parts per image (paper: 1 is best). prob: chance
    that an image gets parts. scale_range: U(lo, hi) factor of the sampled scale.
    Pool: `data.masks` label maps (SynthPose), else COCO person masks split by keypoints, or
    a parsing data set (parsing_images + parsing_labels + parsing_classes).
    """

    adversarial: bool = True
    num_parts: int = 1
    prob: float = 1.0
    scale_range: list[float] | None = None
    random_range: float = 0.5
    g_lr: float = 1e-3
    g_width: int = 64
    adv_weight: float = 1.0
    min_part_area: int = 64
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


@register_method
class ASDAMethod(TrainingMethod):
    """Semantic part pasting, random (SDA) or adversarial (ASDA)."""

    name = "asda"
    Args = ASDAArgs

    def setup(self) -> None:
        a: ASDAArgs = self.args
        tr = self.trainer
        self.pool = self.build_pool()
        log.info("ASDA part pool: %d parts (%s)", len(self.pool),
                 ", ".join(f"{k} {v}" for k, v in self.pool.counts().items()))
        if len(self.pool) == 0:
            raise ConfigError("ASDA: the part pool is empty (no masks found); check data.masks")
        self.generator: STNGenerator | None = None
        if a.adversarial:
            self.generator = STNGenerator(len(self.pool.types), a.g_width).to(tr.device)
            self.g_module = tr.wrap_ddp(self.generator)
            self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=a.g_lr)
            self.g_scheduler = tr.make_scheduler(self.g_optimizer)
            self.g_scaler = tr.make_scaler()
            tr.add_optimizer("generator", self.g_optimizer, self.g_scheduler, self.g_scaler)

    def build_pool(self) -> PartPool:
        a: ASDAArgs = self.args
        tr = self.trainer
        if a.parsing_images is not None:
            return build_pool_from_parsing(tr.cfg.resolve(a.parsing_images),
                                           tr.cfg.resolve(a.parsing_labels),
                                           a.parsing_classes or {}, max_per_type=a.max_per_type,
                                           min_area=a.min_part_area, seed=tr.cfg.seed)
        return build_pool_from_dataset(tr.train_data, tr.cfg.resolve(tr.cfg.data.masks),
                                       max_persons=a.max_pool_persons,
                                       max_per_type=a.max_per_type, min_area=a.min_part_area,
                                       seed=tr.cfg.seed)

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
        g = self.trainer.step_generator(salt=7)
        v = (torch.rand(b, n, 3, generator=g) - 0.5) * a.random_range
        scale = torch.tensor([math.pi, 2.4, 2.4])
        return (v * scale).to(batch["image"].device)

    def augment(self, batch: dict[str, torch.Tensor], params: torch.Tensor) -> torch.Tensor:
        return paste_parts(batch["image"], batch["asda_parts"], batch["asda_alpha"], params,
                           batch["asda_active"])

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        tr = self.trainer
        with tr.autocast():
            params = self.placement(batch)
        x = self.augment(batch, params.float())
        target, tw = batch["target"], batch["target_weight"]
        with tr.autocast():
            out = tr.model(x.detach())
        loss_d = heatmap_mse(out, target, tw)
        tr.optimize(loss_d, tr.optimizer, tr.scaler, tr.raw_model.parameters())
        logs = {"loss": float(loss_d.detach())}
        if self.generator is not None:
            logs["loss_g"] = adversarial_generator_step(
                tr, x, target, tw, self.g_optimizer, self.g_scaler, self.generator.parameters(),
                self.args.adv_weight)
        return logs

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.state_dict()} if self.generator is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.generator is not None:
            if "generator" not in state:
                raise ValueError("ASDA resume: the checkpoint has no generator weights")
            self.generator.load_state_dict(state["generator"], strict=True)


__all__ = ["ASDAMethod", "PART_TYPES", "PartPatch", "PartPool", "STNGenerator",
           "build_pool_from_dataset", "build_pool_from_parsing", "extract_parts", "paste_parts",
           "placement_theta", "split_person_mask"]
