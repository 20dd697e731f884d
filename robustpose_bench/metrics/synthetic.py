"""Synthetic COCO-like keypoint ground truth and top-down predictions for metric tests and
benchmarks (val2017-sized by default: 5,000 images, ~6,000 persons, ~100,000 detections).

Nothing here is a benchmark number: it only exercises the AP / OKS-NMS code paths with
realistic shapes (crowd regions, unlabelled persons, empty images, many people per image).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robustpose_bench.datasets.meta import COCO_KEYPOINTS, COCO_SKELETON
from robustpose_bench.geometry import box_to_center_scale

# A standing person in box-normalised coordinates (x, y in [0, 1]), COCO keypoint order.
_TEMPLATE = np.array([
    [0.50, 0.08], [0.54, 0.06], [0.46, 0.06], [0.58, 0.08], [0.42, 0.08],
    [0.68, 0.22], [0.32, 0.22], [0.76, 0.38], [0.24, 0.38], [0.80, 0.52], [0.20, 0.52],
    [0.62, 0.54], [0.38, 0.54], [0.63, 0.75], [0.37, 0.75], [0.64, 0.96], [0.36, 0.96],
])


@dataclass
class RawPredictions:
    """Top-down predictions before rescoring / OKS-NMS, one row per detected box.

    image_ids (N,) int64; boxes (N, 4) xywh image pixels; box_scores (N,) float64;
    keypoints (N, K, 3) float64 (x, y image pixels 0-based, confidence in [0, 1]);
    areas (N,) float64 = prod(scale * 200) of the HRNet centre/scale of the box.
    """

    image_ids: np.ndarray
    boxes: np.ndarray
    box_scores: np.ndarray
    keypoints: np.ndarray
    areas: np.ndarray

    def __len__(self) -> int:
        return len(self.image_ids)


def _pose_in_box(box: np.ndarray, rng: np.random.Generator, jitter: float = 0.04) -> np.ndarray:
    """(K, 2) template pose placed in an xywh box, with some per-person variation."""
    t = _TEMPLATE + rng.normal(0.0, jitter, _TEMPLATE.shape)
    if rng.random() < 0.5:  # facing away: mirror x
        t[:, 0] = 1.0 - t[:, 0]
    return box[:2] + t * box[2:]


def make_coco_gt(num_images: int = 5000, persons_per_image: float = 1.2, seed: int = 0,
                 crowd_fraction: float = 0.01, unlabelled_fraction: float = 0.08,
                 empty_fraction: float = 0.45, integer_coords: bool = True) -> dict:
    """A COCO keypoint annotation dict (17 COCO keypoints) with val2017-like statistics.

    About `empty_fraction` of the images have no person; the others have 1 + Poisson persons
    (some with > 20 people). A few annotations are crowd regions (iscrowd=1, no keypoints) and
    `unlabelled_fraction` of the persons have zero labelled keypoints. Keypoints are integer
    pixels like the real file when `integer_coords` (unlabelled ones are (0, 0, 0)).
    """
    rng = np.random.default_rng(seed)
    images, anns = [], []
    ann_id = 1
    lam = persons_per_image / max(1e-9, 1.0 - empty_fraction) - 1.0
    for img_id in range(1, num_images + 1):
        w, h = int(rng.integers(320, 641)), int(rng.integers(240, 481))
        images.append({"id": img_id, "file_name": f"{img_id:012d}.jpg", "width": w, "height": h})
        if rng.random() < empty_fraction:
            continue
        n = 1 + int(rng.poisson(max(lam, 0.0)))
        if rng.random() < 0.003:
            n += 20  # a crowded image: more people than maxDets = 20
        for _ in range(n):
            bw = float(np.clip(rng.lognormal(np.log(70), 0.7), 8, w - 1))
            bh = float(np.clip(bw * rng.uniform(1.3, 3.0), 10, h - 1))
            bx, by = float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh))
            box = np.array([bx, by, bw, bh])
            crowd = rng.random() < crowd_fraction
            kp = np.zeros((17, 3))
            if not crowd and rng.random() >= unlabelled_fraction:
                pts = _pose_in_box(box, rng)
                vis = rng.choice([0, 1, 2], size=17, p=[0.25, 0.15, 0.60])
                if bw * bh < 32 * 32:
                    vis[rng.random(17) < 0.5] = 0
                if integer_coords:
                    pts = np.round(pts)
                kp[:, :2] = np.where(vis[:, None] > 0, pts, 0.0)
                kp[:, 2] = vis
            area = float(bw * bh * rng.uniform(0.4, 0.7))
            kp_list = [int(v) for v in kp.ravel()] if integer_coords else kp.ravel().tolist()
            anns.append({
                "id": ann_id, "image_id": img_id, "category_id": 1,
                "bbox": [round(bx, 2), round(by, 2), round(bw, 2), round(bh, 2)],
                "area": round(area, 3), "iscrowd": int(crowd),
                "num_keypoints": int((kp[:, 2] > 0).sum()), "keypoints": kp_list,
                "segmentation": [] if not crowd else {"counts": [0], "size": [h, w]},
            })
            ann_id += 1
    cats = [{"id": 1, "name": "person", "supercategory": "person",
             "keypoints": list(COCO_KEYPOINTS),
             "skeleton": [[a + 1, b + 1] for a, b in COCO_SKELETON]}]
    return {"info": {"description": "synthetic metric test set"}, "images": images,
            "annotations": anns, "categories": cats}


def make_predictions(gt: dict, detections_per_image: float = 20.0, seed: int = 0,
                     aspect_ratio: float = 192 / 256) -> RawPredictions:
    """Top-down style raw predictions for `gt`: jittered duplicates of every person box plus
    false positives, about `detections_per_image` boxes per image on average."""
    rng = np.random.default_rng(seed + 1)
    by_img: dict[int, list[dict]] = {}
    for a in gt["annotations"]:
        by_img.setdefault(a["image_id"], []).append(a)
    ids, boxes, bscores, kpts = [], [], [], []
    for img in gt["images"]:
        w, h = img["width"], img["height"]
        persons = by_img.get(img["id"], [])
        for a in persons:
            box = np.asarray(a["bbox"], float)
            kp = np.asarray(a["keypoints"], float).reshape(-1, 3)
            ref = _pose_in_box(box, rng, 0.02)
            ref = np.where(kp[:, 2:3] > 0, kp[:, :2], ref)
            for d in range(1 + int(rng.poisson(1.5))):
                jb = box + rng.normal(0, 0.06, 4) * box[[2, 3, 2, 3]]
                jb[2:] = np.maximum(jb[2:], 4.0)
                err = rng.normal(0, 1, (17, 2)) * np.sqrt(box[2] * box[3]) * rng.uniform(0.01, 0.08)
                conf = np.clip(rng.beta(5, 2, 17) - 0.2 * d * rng.random(), 0.0, 1.0)
                ids.append(img["id"])
                boxes.append(jb)
                bscores.append(float(np.clip(rng.beta(6, 2) - 0.1 * d, 0.0, 1.0)))
                kpts.append(np.concatenate([ref + err, conf[:, None]], axis=1))
        n_fp = int(rng.poisson(max(detections_per_image - 2.5 * len(persons), 1.0)))
        for _ in range(n_fp):
            bw = float(np.clip(rng.lognormal(np.log(50), 0.8), 6, w - 1))
            bh = float(np.clip(bw * rng.uniform(1.0, 3.0), 8, h - 1))
            box = np.array([rng.uniform(0, w - bw), rng.uniform(0, h - bh), bw, bh])
            ids.append(img["id"])
            boxes.append(box)
            bscores.append(float(rng.beta(1.2, 6)))
            pose = _pose_in_box(box, rng, 0.08)
            kpts.append(np.concatenate([pose, rng.beta(2, 4, (17, 1))], axis=1))
    boxes_a = np.asarray(boxes, float).reshape(-1, 4)
    _, scale = box_to_center_scale(boxes_a, aspect_ratio)
    return RawPredictions(
        image_ids=np.asarray(ids, np.int64), boxes=boxes_a,
        box_scores=np.asarray(bscores, float), keypoints=np.asarray(kpts, float).reshape(-1, 17, 3),
        areas=np.prod(scale * 200.0, axis=1))


def perturb(pred: RawPredictions, level: float, seed: int) -> RawPredictions:
    """A 'corrupted' copy: keypoint noise growing with `level` (0 = clean) and lower
    confidences, as a model's output degrades under an image corruption."""
    if level <= 0:
        return pred
    rng = np.random.default_rng(seed)
    kp = pred.keypoints.copy()
    size = np.sqrt(np.maximum(pred.boxes[:, 2] * pred.boxes[:, 3], 1.0))
    kp[..., :2] += rng.normal(0, 1, kp[..., :2].shape) * (0.02 * level * size)[:, None, None]
    kp[..., 2] = np.clip(kp[..., 2] * (1.0 - 0.08 * level) + rng.normal(0, 0.05, kp[..., 2].shape),
                         0.0, 1.0)
    return RawPredictions(pred.image_ids, pred.boxes, pred.box_scores, kp, pred.areas)
