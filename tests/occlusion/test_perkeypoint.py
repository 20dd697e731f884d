"""Per-keypoint AP (others zeroed in GT and predictions, as the reference's CustomEval), checked
by hand and against plain pycocotools on a tiny hand-built set."""
from __future__ import annotations

import contextlib
import copy
import io
import math

import numpy as np
import pytest

from robustpose_bench.datasets.meta import COCO
from robustpose_bench.occlusion import (
    keypoint_ap,
    per_keypoint_ap,
    remaining_keypoints,
    restrict_keypoints,
)

AREA = 10000.0
NOSE_SIGMA = 0.026
# nose offset with OKS exp(-d^2 / (2 * area * (2 sigma)^2)) = 0.72
D72 = math.sqrt(-math.log(0.72) * 2 * AREA * (2 * NOSE_SIGMA) ** 2)


def pose(x0, y0):
    base = np.array([[50, 20], [45, 15], [55, 15], [40, 18], [60, 18], [30, 45], [70, 45],
                     [22, 80], [78, 80], [18, 112], [82, 112], [38, 110], [62, 110], [36, 150],
                     [64, 150], [35, 190], [65, 190]], float)
    return base + [x0, y0]


def flat(xy, v):
    out = np.zeros((17, 3))
    out[:, :2], out[:, 2] = xy, v
    return [float(t) for t in out.reshape(-1)]


@pytest.fixture
def tiny():
    a, b, c = pose(0, 0), pose(0, 0), pose(200, 0)
    vis_c = np.full(17, 2.0)
    vis_c[0] = 0
    c_gt = c.copy()
    c_gt[0] = 0
    anns = []
    for i, (img, xy, v) in enumerate([(1, a, np.full(17, 2.0)), (2, b, np.full(17, 2.0)),
                                      (2, c_gt, vis_c)]):
        x0, y0 = xy[v > 0].min(0)
        anns.append({"id": i + 1, "image_id": img, "category_id": 1, "iscrowd": 0,
                     "area": AREA, "bbox": [float(x0), float(y0), 50.0, 180.0],
                     "num_keypoints": int((v > 0).sum()), "keypoints": flat(xy, v)})
    gt = {"images": [{"id": 1, "width": 400, "height": 300, "file_name": "1.jpg"},
                     {"id": 2, "width": 400, "height": 300, "file_name": "2.jpg"}],
          "annotations": anns,
          "categories": [{"id": 1, "name": "person", "keypoints": list(COCO.keypoint_names),
                          "skeleton": []}]}
    pa = a + 50.0
    pa[0] = a[0]             # A: nose exact, every other keypoint 50 px off
    pb = b.copy()
    pb[0, 0] += D72          # B: nose at OKS 0.72, the rest exact
    pc = c.copy()            # C: exact (its GT nose is unlabelled)
    results = [{"image_id": 1, "category_id": 1, "keypoints": flat(pa, 1.0), "score": 0.9},
               {"image_id": 2, "category_id": 1, "keypoints": flat(pb, 1.0), "score": 0.8},
               {"image_id": 2, "category_id": 1, "keypoints": flat(pc, 1.0), "score": 0.7}]
    return gt, results


def plain_cocoeval(gt, results):
    from pycocotools.coco import COCO as CocoApi
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = CocoApi()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(results)), "keypoints")
        ev.params.useSegm = None
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def test_nose_ap_by_hand(tiny):
    gt, results = tiny
    # reference behaviour: C (nose unlabelled) is not ignored and is missed
    # OKS(A) = 1 passes all 10 thresholds, OKS(B) = 0.72 passes .50-.70: recall 2/3 then 1/3
    stats = keypoint_ap(gt, results, [0])
    assert stats["AP"] == pytest.approx((5 * 67 + 5 * 34) / 1010)
    assert stats["AP50"] == pytest.approx(67 / 101)
    assert stats["AP75"] == pytest.approx(34 / 101)
    assert stats["AR"] == pytest.approx((5 * 2 / 3 + 5 * 1 / 3) / 10)
    # recount: C is ignored (no labelled nose)
    stats = keypoint_ap(gt, results, [0], recount=True)
    assert stats["AP"] == pytest.approx(0.5 + 0.5 * 51 / 101)
    assert stats["AP50"] == pytest.approx(1.0)
    # the full-pose AP differs (A's other keypoints are far off)
    assert plain_cocoeval(gt, results)[0] != pytest.approx(stats["AP"])


@pytest.mark.parametrize("recount", [False, True])
@pytest.mark.parametrize("keep", [[0], [1], [5, 6], list(range(17))])
def test_matches_pycocotools_on_restricted_files(tiny, keep, recount):
    gt, results = tiny
    ours = keypoint_ap(gt, results, keep, recount=recount)
    gt_r, res_r = restrict_keypoints(gt, results, keep, recount=recount)
    ref = plain_cocoeval(gt_r, res_r)
    for i, name in enumerate(("AP", "AP50", "AP75", "AR", "AR50", "AR75")):
        j = [0, 1, 2, 5, 6, 7][i]
        assert ours[name] == pytest.approx(ref[j]), name
    # the inputs are not modified
    assert gt["annotations"][0]["keypoints"][3] == 45.0
    if keep == list(range(17)):
        assert ours["AP"] == pytest.approx(plain_cocoeval(gt, results)[0])


def test_per_keypoint_breakdown(tiny):
    gt, results = tiny
    table = per_keypoint_ap(gt, results, COCO)
    assert list(table) == list(COCO.keypoint_names)
    assert table["nose"]["AP"] == pytest.approx(0.5)
    assert table["left_eye"]["AP"] == pytest.approx(keypoint_ap(gt, results, [1])["AP"])
    sub = per_keypoint_ap(gt, results, COCO, ["nose"], recount=True)
    assert sub["nose"]["AP"] == pytest.approx(0.5 + 0.5 * 51 / 101)
    assert keypoint_ap(gt, [], [0])["AP"] == -1.0


def test_bad_input_and_remaining(tiny):
    gt, results = tiny
    with pytest.raises(ValueError, match="outside 0..16"):
        keypoint_ap(gt, results, [17])
    with pytest.raises(ValueError, match="at least one"):
        restrict_keypoints(gt, results, [])
    with pytest.raises(ValueError, match="annotations"):
        keypoint_ap({"images": []}, results, [0])
    with pytest.raises(ValueError, match="cannot read"):
        keypoint_ap("/nonexistent/gt.json", results, [0])
    assert remaining_keypoints(COCO, "head") == list(range(5, 17))
    assert remaining_keypoints(COCO, "upper_body") == [13, 14, 15, 16]
    with pytest.raises(ValueError, match="unknown part"):
        remaining_keypoints(COCO, "tail")
