"""Keypoint attack geometry: a filled circle of radius r on one labelled keypoint (Pytel et
al. section III-A; default r = 6 model-input pixels at 256x192, swept to 18)."""
from __future__ import annotations

import math

import numpy as np

from robustpose_bench.occlusion.region import Circle

#: Default: a keypoint is attackable when it is labelled (COCO v >= 1), as in the reference,
#: which attacks every keypoint with v > 0 (occluded-but-labelled ones included).
DEFAULT_MIN_VISIBILITY = 1


def is_labelled(keypoints: np.ndarray, index: int, min_visibility: int = DEFAULT_MIN_VISIBILITY
                ) -> bool:
    """True when keypoint `index` of (K, 3) (x, y, v) has v >= min_visibility and finite x, y.

    A keypoint that fails this is never attacked (in particular not at (0, 0), where COCO
    stores unlabelled keypoints)."""
    x, y, v = keypoints[index]
    return bool(v >= min_visibility and v > 0 and math.isfinite(x) and math.isfinite(y))


def keypoint_circle(keypoints: np.ndarray, index: int, radius: float,
                    min_visibility: int = DEFAULT_MIN_VISIBILITY) -> Circle | None:
    """Circle of `radius` (frame pixels) centred on keypoint `index` of (K, 3) (x, y, v) in the
    same frame's pixels; None when that keypoint is not labelled (see `is_labelled`)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if not 0 <= index < len(kp):
        raise ValueError(f"keypoint index {index} outside 0..{len(kp) - 1}")
    if not is_labelled(kp, index, min_visibility):
        return None
    return Circle(float(kp[index, 0]), float(kp[index, 1]), float(radius))
