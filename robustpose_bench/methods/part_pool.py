"""The part pool of ASDA: segmented body parts cut from part label maps, from COCO person masks
split by keypoints, or from a user-supplied human-parsing data set (e.g. LIP).

Bin et al., "Adversarial Semantic Data Augmentation for Human Pose Estimation" (ECCV 2020),
sec. 3.1 and PROTOCOL.md section 5: parts of fine and combined (coarser) types, scattered
segments filtered out (largest connected component), segments below 35 x 35 pixels of area
dropped (`MIN_PART_AREA`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from robustpose_bench.datasets.types import Dataset
from robustpose_bench.train.config import ConfigError
from robustpose_bench.train.data import read_rgb

#: The paper drops "segments with the area below 35^2" (pixels of the source image).
MIN_PART_AREA = 35 * 35

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
                  types: dict[str, tuple[int, ...]], min_area: int = MIN_PART_AREA,
                  feather: float = 1.0
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
                            min_area: int = MIN_PART_AREA, seed: int = 0) -> PartPool:
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
                            min_area: int = MIN_PART_AREA, seed: int = 0) -> PartPool:
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


__all__ = ["FINE_PARTS", "MIN_PART_AREA", "PART_TYPES", "PartPatch", "PartPool",
           "build_pool_from_dataset", "build_pool_from_parsing", "extract_parts",
           "split_person_mask"]
