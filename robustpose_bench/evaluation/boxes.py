"""Person boxes fed to a top-down model: GT boxes or a detector's result file.

GT boxes follow the inference protocol (inference_protocol.py; default `hrnet`: the
reference's `clean_bbox`): every non-crowd person with at least one labelled keypoint whose
box the protocol keeps, score 1; MPII-style persons (file centre/scale) keep their crop box.
Detected boxes keep the file's scores (threshold 0.0 by default).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robustpose_bench.datasets.types import Dataset, Sample
from robustpose_bench.inference_protocol import DEFAULT_INFERENCE_PROTOCOL, get_inference_protocol


@dataclass
class SampleBoxes:
    """boxes (N, 4) xywh image pixels, scores (N,), gt_index (N,) index into
    `Sample.persons` of the GT person each box is (GT boxes) or is matched to (detections:
    one to one, `match_to_gt`; -1 if none)."""

    boxes: np.ndarray
    scores: np.ndarray
    gt_index: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)


def _iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xywh boxes."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, 0:1], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, 1:2], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def gt_person_indices(sample: Sample) -> list[int]:
    """Persons that get a GT box: not crowd, at least one labelled keypoint, positive size."""
    return [i for i, p in enumerate(sample.persons)
            if not p.iscrowd and p.num_keypoints > 0 and p.bbox[2] > 0 and p.bbox[3] > 0]


def gt_boxes(sample: Sample, inference_protocol: str = DEFAULT_INFERENCE_PROTOCOL) -> SampleBoxes:
    """GT boxes of `sample` under the inference protocol's GT-box convention."""
    rule = get_inference_protocol(inference_protocol).gt_box
    idx, boxes = [], []
    for i, p in enumerate(sample.persons):
        if not p.iscrowd and p.num_keypoints > 0:
            box = p.bbox if p.center is not None else rule(p.bbox, sample.width, sample.height,
                                                           p.area)
            if box is not None:
                idx.append(i)
                boxes.append(box)
    boxes = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    return SampleBoxes(boxes, np.ones(len(idx)), np.array(idx, dtype=np.int64))


#: A detection is matched to a GT person when their box IoU reaches this (one to one).
MATCH_IOU = 0.5


def match_to_gt(sample: Sample, boxes: np.ndarray, scores: np.ndarray,
                iou_threshold: float = MATCH_IOU) -> np.ndarray:
    """(N,) index into `sample.persons` of the GT person each box is matched to, -1 if none.

    Greedy one to one, as a detector evaluation matches: boxes in order of decreasing score
    (ties: file order) each take the free GT person (with a GT box, `gt_person_indices`) of
    highest IoU, if that IoU is at least `iou_threshold`."""
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    idx = gt_person_indices(sample)
    match = np.full(len(boxes), -1, dtype=np.int64)
    if not len(boxes) or not idx:
        return match
    gt = np.array([sample.persons[i].bbox for i in idx], dtype=np.float64).reshape(-1, 4)
    iou = _iou_xywh(boxes, gt)
    free = np.ones(len(idx), bool)
    for j in np.argsort(-np.asarray(scores, float).reshape(-1), kind="stable"):
        cand = np.where(free, iou[j], -1.0)
        best = int(cand.argmax())
        if cand[best] >= iou_threshold:
            match[j] = idx[best]
            free[best] = False
    return match


def detected_boxes(sample: Sample, boxes: np.ndarray, scores: np.ndarray) -> SampleBoxes:
    """Detections of one image with their GT match (`match_to_gt`)."""
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    scores = np.asarray(scores, float).reshape(-1)
    return SampleBoxes(boxes, scores, match_to_gt(sample, boxes, scores))


def boxes_for_dataset(dataset: Dataset, detections: dict | None,
                      inference_protocol: str = DEFAULT_INFERENCE_PROTOCOL) -> list[SampleBoxes]:
    """Per sample (same order as `dataset.samples`): GT boxes (under `inference_protocol`), or
    detections when given."""
    if detections is None:
        return [gt_boxes(s, inference_protocol) for s in dataset.samples]
    empty = (np.zeros((0, 4)), np.zeros(0))
    return [detected_boxes(s, *detections.get(s.image_id, empty)) for s in dataset.samples]
