"""The straightforward per-image OKS-NMS of the HRNet reference (lib/nms/nms.py semantics),
written out loop by loop: the oracle of tests/metrics/test_postprocess.py and the reference
path of benchmarks/metrics.py."""
from __future__ import annotations

import numpy as np


def ref_oks_iou(g, d, a_g, a_d, sigmas):
    """OKS of one kept detection g (K*3,) against others d (M, K*3), one by one."""
    variances = (sigmas * 2) ** 2
    xg, yg = g[0::3], g[1::3]
    ious = np.zeros(d.shape[0])
    for n in range(d.shape[0]):
        dx = d[n, 0::3] - xg
        dy = d[n, 1::3] - yg
        e = (dx ** 2 + dy ** 2) / variances / ((a_g + a_d[n]) / 2 + np.spacing(1)) / 2
        ious[n] = np.sum(np.exp(-e)) / e.shape[0] if e.shape[0] != 0 else 0.0
    return ious


def ref_oks_nms(db, thresh, sigmas):
    """Keep-list of one image's detections db ([{score, keypoints (K, 3), area}])."""
    if len(db) == 0:
        return []
    scores = np.array([x["score"] for x in db])
    kpts = np.array([x["keypoints"].flatten() for x in db])
    areas = np.array([x["area"] for x in db])
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        ovr = ref_oks_iou(kpts[i], kpts[order[1:]], areas[i], areas[order[1:]], sigmas)
        order = order[np.where(ovr <= thresh)[0] + 1]
    return keep
