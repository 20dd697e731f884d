"""Rescoring + OKS-NMS: the vectorised version equals a straightforward per-image
implementation of the HRNet reference semantics (lib/dataset/coco.py evaluate, lib/nms/nms.py
oks_nms / oks_iou), keep-lists, order and scores bit for bit."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from _reference_nms import ref_oks_nms

from robustpose_bench.datasets.meta import COCO_SIGMAS, CROWDPOSE_SIGMAS
from robustpose_bench.metrics.postprocess import (
    areas_from_scales,
    oks_nms,
    rescore,
    rescore_and_nms,
    to_coco_results,
)


# ----------------------------------------------------------------- straightforward reference
def reference(kp, box_scores, areas, image_ids, sigmas=COCO_SIGMAS, vis=0.2, thr=0.9):
    """Per image: rescore joint by joint, then greedy OKS-NMS; output in written order."""
    per = defaultdict(list)
    for i in range(len(kp)):
        per[int(image_ids[i])].append({"keypoints": kp[i], "score": float(box_scores[i]),
                                       "area": areas[i], "index": i})
    idx, sc = [], []
    for _img, items in per.items():
        for it in items:
            total, valid = 0, 0
            for j in range(kp.shape[1]):
                c = it["keypoints"][j][2]
                if c > vis:
                    total = total + c
                    valid = valid + 1
            if valid != 0:
                total = total / valid
            it["score"] = total * it["score"]
        keep = ref_oks_nms(items, thr, sigmas)
        chosen = [items[k] for k in keep] if keep else items
        idx += [c["index"] for c in chosen]
        sc += [c["score"] for c in chosen]
    return np.array(idx, dtype=np.int64), np.array(sc)


def random_dets(seed, n_img=40, k=17, ties=False):
    rng = np.random.default_rng(seed)
    ids, kps, bs, ar = [], [], [], []
    for img in rng.permutation(np.arange(1000, 1000 + n_img)):
        n_people = int(rng.integers(1, 4))
        poses = rng.uniform(0, 400, (n_people, 1, 2)) + rng.normal(0, 30, (n_people, k, 2))
        for _ in range(int(rng.integers(0, 25))):
            base = poses[rng.integers(n_people)]
            kp = np.concatenate([base + rng.normal(0, rng.choice([0.5, 3, 15]), (k, 2)),
                                 rng.random((k, 1))], axis=1)
            ids.append(int(img))
            kps.append(kp)
            bs.append(rng.random())
            ar.append(rng.uniform(2e3, 6e4))
    kp, bs, ar = np.array(kps).reshape(-1, k, 3), np.array(bs), np.array(ar)
    if ties:
        kp[..., 2] = np.round(kp[..., 2], 1)
        bs = np.round(bs, 1)
        ar = np.round(ar, -3)
        dup = rng.random(len(kp)) < 0.15  # exact copies of the previous detection
        for i in np.flatnonzero(dup[1:]) + 1:
            if ids[i] == ids[i - 1]:
                kp[i], bs[i], ar[i] = kp[i - 1], bs[i - 1], ar[i - 1]
    order = rng.permutation(len(ids))  # interleave images
    return np.array(ids)[order], kp[order], bs[order], ar[order]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("ties", [False, True])
def test_matches_reference(seed, ties):
    ids, kp, bs, ar = random_dets(seed, ties=ties)
    keep, scores = rescore_and_nms(kp, bs, ar, ids)
    ref_idx, ref_sc = reference(kp, bs, ar, ids)
    assert np.array_equal(keep, ref_idx)
    assert np.array_equal(scores[keep], ref_sc)  # bit-identical rescoring
    assert len(keep) < len(kp)  # something was suppressed


@pytest.mark.parametrize("thr", [0.0, 0.3, 0.5, 0.9, 0.99, 1.0])
def test_thresholds_and_custom_sigmas(thr):
    ids, kp, bs, ar = random_dets(42, k=14)
    keep, scores = rescore_and_nms(kp, bs, ar, ids, sigmas=CROWDPOSE_SIGMAS, oks_thr=thr)
    ref_idx, ref_sc = reference(kp, bs, ar, ids, sigmas=CROWDPOSE_SIGMAS, thr=thr)
    assert np.array_equal(keep, ref_idx) and np.array_equal(scores[keep], ref_sc)
    with pytest.raises(ValueError, match="14 keypoints"):
        oks_nms(kp, scores, ar, ids)  # COCO sigmas for 14 keypoints


def test_synthetic_val_sized_slice(synth_small):
    _, p = synth_small
    keep, scores = rescore_and_nms(p.keypoints, p.box_scores, p.areas, p.image_ids)
    ref_idx, ref_sc = reference(p.keypoints, p.box_scores, p.areas, p.image_ids)
    assert np.array_equal(keep, ref_idx) and np.array_equal(scores[keep], ref_sc)


def test_rescore_hand_computed():
    kp = np.zeros((3, 4, 3))
    kp[0, :, 2] = [0.9, 0.1, 0.5, 0.2]  # 0.2 is not > 0.2: mean(0.9, 0.5) = 0.7
    kp[1, :, 2] = [0.1, 0.2, 0.0, 0.15]  # nothing above: 0
    kp[2, :, 2] = [1.0, 1.0, 1.0, 1.0]
    s = rescore(kp, [0.5, 0.9, 0.25])
    assert s.tolist() == [0.7 * 0.5, 0.0, 0.25]


def test_identical_duplicates_and_single():
    kp = np.tile(np.arange(51, dtype=float).reshape(1, 17, 3), (3, 1, 1))
    kp[..., 2] = 0.9
    keep, _ = rescore_and_nms(kp, [0.3, 0.8, 0.5], [1e4, 1e4, 1e4], [7, 7, 7])
    assert keep.tolist() == [1]  # OKS 1 > 0.9: only the best survives
    keep, _ = rescore_and_nms(kp[:1], [0.3], [1e4], [7])
    assert keep.tolist() == [0]
    keep, sc = rescore_and_nms(np.zeros((0, 17, 3)), [], [], [])
    assert keep.shape == (0,) and sc.shape == (0,)


def test_no_nms_order_and_helpers():
    ids = np.array([5, 3, 5, 3, 9])
    kp = np.random.default_rng(0).random((5, 17, 3))
    keep, _ = rescore_and_nms(kp, np.ones(5), np.ones(5) * 1e4, ids, nms=False)
    assert keep.tolist() == [0, 2, 1, 3, 4]  # images in order of first appearance
    assert areas_from_scales(np.array([[1.0, 1.25], [0.5, 0.5]])).tolist() == [200 * 250, 100 * 100]
    res = to_coco_results(ids[:2], kp[:2], [0.5, 0.25])
    assert res[0]["image_id"] == 5 and len(res[0]["keypoints"]) == 51 and res[1]["score"] == 0.25


def test_bad_input():
    kp = np.zeros((2, 17, 3))
    with pytest.raises(ValueError, match=r"keypoints\[1\]"):
        bad = kp.copy()
        bad[1, 2, 0] = np.nan
        rescore_and_nms(bad, [1, 1], [1, 1], [1, 1])
    with pytest.raises(ValueError, match="box_scores"):
        rescore_and_nms(kp, [1, np.inf], [1, 1], [1, 1])
    with pytest.raises(ValueError, match=r"\(N, K, 3\)"):
        rescore_and_nms(kp[:, :, :2], [1, 1], [1, 1], [1, 1])
    with pytest.raises(ValueError, match="areas"):
        rescore_and_nms(kp, [1, 1], [1], [1, 1])
