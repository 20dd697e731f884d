"""Body-part attack geometry: the axis-aligned rectangle over a part's labelled keypoints with
the special cases of Pytel et al.'s reference code (`get_cords_with_width`; PROTOCOL.md §7).

Rules, for a part group (`targets.attack_part_groups`: the DatasetMeta's `part_groups`, with
the reference's upper/lower body groups for COCO and MPII), using its labelled keypoints only
(a part with fewer than 2 labelled keypoints is not attacked):

* default (corpus, upper_body, lower_body, left_side, right_side, any declared part): the
  minimum rectangle covering the labelled keypoints.
* `head` with a group of >= 3 keypoints (COCO nose/eyes/ears): that rectangle enlarged x1.2
  about its centre.
* a group of exactly 2 keypoints (`hip`; MPII / CrowdPose `head` = head top + neck; any
  declared pair): centred on their midpoint; `head` is (2 dx', dy') and any other pair 2 d',
  where d' = (dx', dy') is the absolute offset between the two with each side at least 0.25
  of the other (d' = max(d, 0.25 * d[::-1]); a horizontal hip line still gets a height).
* limbs `left_arm`, `right_arm`, `left_leg`, `right_leg` (3 keypoints in chain order, the
  middle joint second: shoulder-elbow-wrist, hip-knee-ankle or reversed): all 3 labelled ->
  minimum rectangle; the middle joint and one end labelled -> centred on the middle joint,
  size 2 d' (d' from the end to the middle joint); only the two ends -> centred on their
  midpoint, size d'.

All rules commute with a uniform scaling + translation, so the rectangle computed from
crop-frame keypoints is the image-frame rectangle mapped into the crop (crop mode and image
mode agree).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robustpose_bench.datasets.meta import DatasetMeta
from robustpose_bench.occlusion.keypoint import DEFAULT_MIN_VISIBILITY, is_labelled
from robustpose_bench.occlusion.region import Rect
from robustpose_bench.occlusion.targets import attack_part_groups

HEAD_PART = "head"
HEAD_ENLARGE = 1.2
LIMB_PARTS = ("left_arm", "right_arm", "left_leg", "right_leg")
#: Minimum side ratio of the two-keypoint boxes (the reference's `min_dist = flip(0.25 * d)`).
THIN_RATIO = 0.25
MIN_PART_KEYPOINTS = 2


def _min_rect(points: np.ndarray) -> Rect:
    lo, hi = points.min(axis=0), points.max(axis=0)
    return Rect(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


def _thick(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| per axis with each side at least THIN_RATIO of the other."""
    d = np.abs(a - b)
    return np.maximum(d, THIN_RATIO * d[::-1])


def part_rect(keypoints: np.ndarray, part: str, indices: Sequence[int],
              min_visibility: int = DEFAULT_MIN_VISIBILITY) -> Rect | None:
    """Rectangle (frame pixels) attacking part `part` (group `indices`) of one person.

    keypoints: (K, 3) (x, y, v) in the pixels of the frame the attack is drawn on. Returns
    None when fewer than 2 of the group's keypoints are labelled (v >= min_visibility).
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    idx = [int(i) for i in indices]
    bad = [i for i in idx if not 0 <= i < len(kp)]
    if bad:
        raise ValueError(f"part {part!r}: keypoint indices {bad} outside 0..{len(kp) - 1}")
    vis = [i for i in idx if is_labelled(kp, i, min_visibility)]
    if len(vis) < MIN_PART_KEYPOINTS:
        return None
    pts = kp[vis, :2]
    if len(idx) == 2:
        a, b = kp[idx[0], :2], kp[idx[1], :2]
        mid = (a + b) / 2.0
        d = _thick(a, b)
        size = np.array([2.0 * d[0], d[1]]) if part == HEAD_PART else 2.0 * d
        return Rect.from_center(mid[0], mid[1], size[0], size[1])
    if part == HEAD_PART:
        r = _min_rect(pts)
        (cx, cy), (w, h) = r.center, r.size
        return Rect.from_center(cx, cy, HEAD_ENLARGE * w, HEAD_ENLARGE * h)
    if part in LIMB_PARTS and len(idx) == 3 and len(vis) == 2:
        end_a, middle, end_b = idx
        if middle in vis:
            end = end_a if end_a in vis else end_b
            m = kp[middle, :2]
            size = 2.0 * _thick(kp[end, :2], m)
            return Rect.from_center(m[0], m[1], size[0], size[1])
        a, b = kp[end_a, :2], kp[end_b, :2]
        mid = (a + b) / 2.0
        size = _thick(a, b)
        return Rect.from_center(mid[0], mid[1], size[0], size[1])
    return _min_rect(pts)


def part_rect_for(keypoints: np.ndarray, part: str, meta: DatasetMeta,
                  min_visibility: int = DEFAULT_MIN_VISIBILITY) -> Rect | None:
    """`part_rect` with the group of `attack_part_groups(meta)` (ValueError, listing the
    declared parts, when `part` is not one of them)."""
    groups = attack_part_groups(meta)
    if part not in groups:
        raise ValueError(f"unknown part {part!r} for {meta.name}; valid: "
                         f"{', '.join(groups) or '(none declared)'}")
    return part_rect(keypoints, part, groups[part], min_visibility)
