"""Crop mode, the paper's protocol: the attack is drawn on each person's model-input crop after
the affine warp, from crop-frame GT joints (Pytel et al.; PROTOCOL.md sections 3 and 7).

Fixes over the reference: any crop shape works (the reference compared x with the crop height
and y with its width, so joints with y >= 192 on a 256x192 crop were never attacked), and
detected boxes work: each box takes the GT keypoints of the non-crowd GT person with the
highest box IoU, if that IoU >= 0.5 (the usual detection match threshold; many boxes may
match one person, as duplicate detections of one person each see the attack). Boxes with no
match are left unattacked and counted as `unmatched`.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robustpose_bench.datasets.meta import DatasetMeta
from robustpose_bench.datasets.types import Person
from robustpose_bench.geometry import affine_points, crop_pixel_scale
from robustpose_bench.occlusion.attack import (
    UNMATCHED,
    AttackCounts,
    PersonAttack,
    as_spec,
    draw_attack,
    persons_arrays,
)
from robustpose_bench.occlusion.image import person_pixel_scale
from robustpose_bench.occlusion.keypoint import DEFAULT_MIN_VISIBILITY
from robustpose_bench.occlusion.modes import Canvas
from robustpose_bench.occlusion.targets import (
    DEFAULT_INPUT_SIZE,
    DEFAULT_RADIUS,
    AttackSpec,
    Target,
)

DEFAULT_IOU_THRESHOLD = 0.5


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (N, M) of xywh boxes a (N, 4) and b (M, 4), image pixels (continuous
    coordinates, no +1); 0 where a union is empty."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax1, ay1 = a[:, 0:1], a[:, 1:2]
    ax2, ay2 = ax1 + a[:, 2:3], ay1 + a[:, 3:4]
    bx1, by1 = b[None, :, 0], b[None, :, 1]
    bx2, by2 = bx1 + b[None, :, 2], by1 + b[None, :, 3]
    iw = np.clip(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0, None)
    ih = np.clip(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0, None)
    inter = iw * ih
    union = (a[:, 2:3] * a[:, 3:4]) + (b[None, :, 2] * b[None, :, 3]) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return iou


def match_boxes(boxes: np.ndarray, gt_boxes: np.ndarray,
                iou_threshold: float = DEFAULT_IOU_THRESHOLD) -> np.ndarray:
    """(N,) int: for each box (N, 4) xywh the index of the GT box (M, 4) xywh with the highest
    IoU (ties: lowest index) if that IoU >= iou_threshold, else -1."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    if len(gt_boxes) == 0 or len(boxes) == 0:
        return np.full(len(boxes), -1, dtype=np.int64)
    iou = box_iou(boxes, gt_boxes)
    best = iou.argmax(axis=1)
    ok = iou[np.arange(len(boxes)), best] >= iou_threshold
    return np.where(ok, best, -1).astype(np.int64)


def attack_crop(crop: np.ndarray, keypoints: np.ndarray, matrix: np.ndarray, spec: AttackSpec,
                *, pixel_scale: float = 1.0, min_visibility: int = DEFAULT_MIN_VISIBILITY,
                index: int = 0, person: int | None = None) -> tuple[np.ndarray, PersonAttack]:
    """Attack one model-input crop.

    crop: (h, w[, C]) crop (any size, any dtype; not modified). keypoints: (K, 3) (x, y, v)
    of the person in IMAGE pixels. matrix: 2x3 image -> crop affine used for the crop. The
    joints are mapped into the crop and the attack is drawn there; spec.radius and the blur
    kernels are reference-frame pixels, pixel_scale reference pixels per crop pixel (1: the
    crop is the reference frame, e.g. a 256x192 crop for the paper's r = 6; see
    `reference_pixel_scale`). meanout uses the mean of this crop. Returns (attacked copy, or
    the input itself when nothing was drawn; outcome).
    """
    kp = np.array(keypoints, dtype=np.float64)
    if kp.ndim != 2 or kp.shape[1] != 3:
        raise ValueError(f"expected keypoints of shape (K, 3), got {kp.shape}")
    kp[:, :2] = affine_points(kp[:, :2], np.asarray(matrix, dtype=np.float64))
    canvas = Canvas(crop.copy(), source=crop)
    result = draw_attack(canvas, kp, spec, pixel_scale=pixel_scale,
                         min_visibility=min_visibility,
                         index=index, person=person)
    return (canvas.image if result.attacked else crop), result


def reference_pixel_scale(box: np.ndarray, matrix: np.ndarray, crop_size: tuple[int, int],
                          reference_size: tuple[int, int] | None = DEFAULT_INPUT_SIZE) -> float:
    """Reference-frame pixels per crop pixel for the crop of `box` (4,) xywh made with
    `matrix` at crop_size (w, h): person_pixel_scale(box, reference_size) /
    crop_pixel_scale(matrix). 1.0 when crop_size == reference_size or reference_size is None
    (sizes in crop pixels); 2.0 for a 96x128 crop against the 192x256 reference. Falls back to
    the height ratio when the box is empty."""
    if reference_size is None:
        return 1.0
    if tuple(int(v) for v in crop_size) == tuple(int(v) for v in reference_size):
        return 1.0
    ref = person_pixel_scale(box, reference_size)
    if ref is None:
        return float(reference_size[1]) / float(crop_size[1])
    return ref / crop_pixel_scale(np.asarray(matrix, dtype=np.float64))


class CropAttackHook:
    """`hook(i, crop, matrix) -> crop` for the top-down adapter, for the boxes of one image.

    i: index of the box in the image's box list; crop: the model-input crop (not modified);
    matrix: the 2x3 image -> crop affine. `results[i]` holds each box's outcome and `counts`
    the totals (shared when passed in); calling the hook again for the same box (e.g. a
    retried batch) redraws but does not count twice. reference_size: the model-input (w, h)
    in which spec.radius and the blur kernels are given (default 192x256, the paper's); crops
    of another size get them scaled through the box (`reference_pixel_scale`), so a 96x128
    model sees the same image area attacked as a 192x256 one; None: crop pixels as they are.
    """

    def __init__(self, spec: AttackSpec, boxes: np.ndarray, gt_keypoints: np.ndarray,
                 gt_boxes: np.ndarray | None = None, *, match: np.ndarray | None = None,
                 iou_threshold: float = DEFAULT_IOU_THRESHOLD,
                 min_visibility: int = DEFAULT_MIN_VISIBILITY,
                 counts: AttackCounts | None = None,
                 reference_size: tuple[int, int] | None = DEFAULT_INPUT_SIZE) -> None:
        self.spec = spec
        self.reference_size = reference_size
        self.boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        self.gt_keypoints = np.asarray(gt_keypoints, dtype=np.float64)
        if self.gt_keypoints.size == 0 and self.gt_keypoints.ndim != 3:
            self.gt_keypoints = self.gt_keypoints.reshape(0, 0, 3)  # an image without persons
        if self.gt_keypoints.ndim != 3 or self.gt_keypoints.shape[2] != 3:
            raise ValueError(f"expected GT keypoints of shape (P, K, 3), got "
                             f"{self.gt_keypoints.shape}")
        if match is None:
            if gt_boxes is None:
                raise ValueError("give gt_boxes (to match boxes by IoU) or match")
            gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
            if len(gt_boxes) != len(self.gt_keypoints):
                raise ValueError(f"{len(gt_boxes)} GT boxes for {len(self.gt_keypoints)} GT "
                                 "keypoint sets")
            match = match_boxes(self.boxes, gt_boxes, iou_threshold)
        match = np.asarray(match, dtype=np.int64).reshape(-1)
        if len(match) != len(self.boxes):
            raise ValueError(f"match has {len(match)} entries for {len(self.boxes)} boxes")
        if np.any(match >= len(self.gt_keypoints)):
            raise ValueError(f"match refers to GT person {int(match.max())} of "
                             f"{len(self.gt_keypoints)}")
        self.match = match
        self.min_visibility = min_visibility
        self.counts = counts if counts is not None else AttackCounts()
        self.results: dict[int, PersonAttack] = {}

    def __call__(self, i: int, crop: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        i = int(i)
        if not 0 <= i < len(self.boxes):
            raise ValueError(f"box index {i} outside 0..{len(self.boxes) - 1}")
        j = int(self.match[i])
        if j < 0:
            out, result = crop, PersonAttack(i, UNMATCHED)
        else:
            scale = reference_pixel_scale(self.boxes[i], matrix, crop.shape[1::-1],
                                          self.reference_size)
            out, result = attack_crop(crop, self.gt_keypoints[j], matrix, self.spec,
                                      pixel_scale=scale, min_visibility=self.min_visibility,
                                      index=i, person=j)
        if i not in self.results:
            self.counts.add(result.status)
        self.results[i] = result
        return out

    def as_dict(self) -> dict:
        """JSON-ready record: attack id, counts and each box's outcome."""
        return {"attack": self.spec.id, "counts": self.counts.as_dict(),
                "boxes": [self.results[i].as_dict() for i in sorted(self.results)]}


def make_crop_hook(boxes: np.ndarray, gt_keypoints: np.ndarray, gt_boxes: np.ndarray | None,
                   target: str | Target | AttackSpec, mode: str | None = None,
                   meta: DatasetMeta | None = None, radius: float = DEFAULT_RADIUS, *,
                   match: np.ndarray | None = None,
                   iou_threshold: float = DEFAULT_IOU_THRESHOLD,
                   min_visibility: int = DEFAULT_MIN_VISIBILITY,
                   counts: AttackCounts | None = None,
                   reference_size: tuple[int, int] | None = DEFAULT_INPUT_SIZE
                   ) -> tuple[CropAttackHook, AttackCounts]:
    """Crop-mode hook for one image: returns (hook, counts).

    boxes: (N, 4) xywh image pixels, the boxes the adapter crops (GT or detected).
    gt_keypoints: (P, K, 3) GT (x, y, v) image pixels of the image's non-crowd persons;
    gt_boxes: (P, 4) their xywh boxes (for IoU matching) or None with `match` (N,) giving each
    box's GT person index (-1 = none), e.g. np.arange(P) when the boxes are the GT boxes.
    target/mode/radius: a target name or Target plus mode and radius (model-input pixels), or
    a ready AttackSpec as `target`. counts: pass one AttackCounts to accumulate over images.
    reference_size: model-input (w, h) the radius / kernels are given in (grid `input_size`;
    crops of another size get them scaled), None = the crop's own pixels.
    """
    if not isinstance(target, AttackSpec) and meta is None and isinstance(target, str):
        raise ValueError("meta is required to resolve a target name")
    spec = as_spec(target, mode, meta, radius)  # type: ignore[arg-type]
    hook = CropAttackHook(spec, boxes, gt_keypoints, gt_boxes, match=match,
                          iou_threshold=iou_threshold, min_visibility=min_visibility,
                          counts=counts, reference_size=reference_size)
    return hook, hook.counts


def make_crop_hook_for_persons(boxes: np.ndarray, persons: Sequence[Person],
                               spec: AttackSpec, meta: DatasetMeta, *, gt_boxes: bool = False,
                               iou_threshold: float = DEFAULT_IOU_THRESHOLD,
                               min_visibility: int = DEFAULT_MIN_VISIBILITY,
                               counts: AttackCounts | None = None,
                               reference_size: tuple[int, int] | None = DEFAULT_INPUT_SIZE
                               ) -> tuple[CropAttackHook, AttackCounts]:
    """`make_crop_hook` from a Sample's persons (crowd persons are never targets).

    gt_boxes=True says `boxes` are the non-crowd persons' own boxes in order (box i = person
    i), so matching is by identity instead of IoU. Outcomes report GT person indices into the
    non-crowd list.
    """
    kps, pboxes, keep = persons_arrays(persons, meta.num_keypoints)
    match = None
    if gt_boxes:
        if len(boxes) != len(keep):
            raise ValueError(f"gt_boxes=True but {len(boxes)} boxes for {len(keep)} non-crowd "
                             "persons")
        match = np.arange(len(keep))
    return make_crop_hook(boxes, kps, pboxes, spec, meta=meta, match=match,
                          iou_threshold=iou_threshold, min_visibility=min_visibility,
                          counts=counts, reference_size=reference_size)
