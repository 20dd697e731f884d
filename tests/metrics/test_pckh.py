"""MPII PCKh against hand-computed values and a literal re-statement of the reference
evaluator (HRNet lib/dataset/mpii.py, with `<=` and a true 0.1 threshold); generic PCK."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.io import savemat

from robustpose_bench.datasets.errors import AnnotationError
from robustpose_bench.datasets.meta import COCO
from robustpose_bench.metrics.pckh import (
    MPIIGroundTruth,
    bbox_norm,
    head_sizes,
    load_mpii_gt,
    load_mpii_predictions,
    pck,
    pckh,
    pckh_dataset,
    torso_norm,
)


@pytest.fixture
def hand_case():
    """Two persons; head sizes 30 px (box 30 x 40) and 60 px (box 60 x 80)."""
    gt = np.zeros((2, 16, 2))
    gt[:, :, 0] = np.arange(16) * 10 + 100
    gt[:, :, 1] = 200
    vis = np.ones((2, 16), bool)
    vis[0, 5] = False  # left ankle of person 0 not annotated
    heads = np.array([[10, 20, 40, 60], [0, 0, 60, 80]], float)
    off = np.zeros((2, 16, 2))
    off[0, 0] = (9, 12)      # 15 px = 0.5 head: correct with <=
    off[0, 1] = (0, 3)       # 0.1 head: correct at 0.1 (true threshold)
    off[0, 2] = (0, 3.15)    # 0.105 head: wrong at 0.1, right at HRNet's 0.11
    off[0, 3] = (15.01, 0)   # just over 0.5
    off[0, 5] = (500, 500)   # not annotated: does not count
    off[1, 0] = (18, 24)     # 30 px = 0.5 head
    off[1, 3] = (30.5, 0)
    off[1, 9] = (40, 0)      # head top wrong
    off[1, 6] = (100, 0)     # pelvis, thorax wrong: excluded from the mean
    off[1, 7] = (100, 0)
    return gt + off, gt, vis, heads


def test_head_sizes():
    assert head_sizes(np.array([[10, 20, 40, 60], [0, 0, 60, 80]])).tolist() == [30.0, 60.0]


def test_hand_computed(hand_case):
    pred, gt, vis, heads = hand_case
    r = pckh(pred, gt, vis, heads)
    assert r["PCKh"] == pytest.approx(24 / 27)
    assert r["PCKh@0.1"] == pytest.approx(21 / 27)
    assert r["per_group"] == {"head": 0.5, "shoulder": 1.0, "elbow": 1.0, "wrist": 1.0,
                              "hip": 0.5, "knee": 1.0, "ankle": 1.0}
    assert r["per_group@0.1"] == {"head": 0.5, "shoulder": 1.0, "elbow": 1.0, "wrist": 1.0,
                                  "hip": 0.25, "knee": 1.0, "ankle": 0.5}
    assert r["per_joint"]["pelvis"] == 0.5 and r["per_joint"]["thorax"] == 0.5
    assert r["per_joint"]["left_ankle"] == 1.0 and r["joint_counts"]["left_ankle"] == 1
    assert r["num_persons"] == 2
    # same numbers through the dataclass, and with a 3-column prediction
    p3 = np.concatenate([pred, np.ones((2, 16, 1))], axis=2)
    assert pckh(p3, MPIIGroundTruth(gt, vis, heads))["PCKh"] == r["PCKh"]
    # HRNet's 0.11 would count joint 2 of person 0
    assert pckh(pred, gt, vis, heads, thresholds=(0.11,))["PCKh@0.11"] == pytest.approx(22 / 27)


def test_undefined_joint_is_none(hand_case):
    pred, gt, vis, heads = hand_case
    vis = vis.copy()
    vis[:, 9] = False
    r = pckh(pred, gt, vis, heads)
    assert r["per_joint"]["head_top"] is None and r["per_group"]["head"] is None
    assert r["PCKh"] == pytest.approx(23 / 25)


def reference_eval(preds0, pos_gt_src, jnt_missing, headboxes_src, thr):
    """The reference evaluator on 1-based MATLAB arrays, restated (fractions, `<=`)."""
    preds = preds0 + 1.0
    pos_pred_src = np.transpose(preds, [1, 2, 0])
    jnt_visible = 1 - jnt_missing
    uv_err = np.linalg.norm(pos_pred_src - pos_gt_src, axis=1)
    hs = np.linalg.norm(headboxes_src[1, :, :] - headboxes_src[0, :, :], axis=0) * 0.6
    scaled = np.divide(uv_err, np.multiply(hs, np.ones((len(uv_err), 1)))) * jnt_visible
    jnt_count = np.sum(jnt_visible, axis=1)
    less = np.multiply(scaled <= thr, jnt_visible)
    per_joint = np.sum(less, axis=1) / jnt_count
    mask = np.ones(16, bool)
    mask[6:8] = False
    ratio = np.where(mask, jnt_count, 0) / np.where(mask, jnt_count, 0).sum()
    return per_joint, float(np.sum(per_joint * ratio))


def test_matches_reference_on_mat_file(tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    pos1 = np.round(rng.uniform(1, 600, (16, 2, n)))  # 1-based integer pixels, as MPII
    missing = (rng.random((16, n)) < 0.15).astype(np.uint8)
    tl = np.round(rng.uniform(1, 500, (2, n)))
    heads1 = np.stack([tl, tl + np.round(rng.uniform(10, 60, (2, n)))])  # (2 corners, 2, N)
    savemat(tmp_path / "gt_valid.mat", {"pos_gt_src": pos1, "jnt_missing": missing,
                                         "headboxes_src": heads1,
                                         "dataset_joints": np.array([["x"]] * 16, dtype=object)})
    gt = load_mpii_gt(tmp_path / "gt_valid.mat")
    assert np.array_equal(gt.joints, np.transpose(pos1, (2, 0, 1)) - 1)  # 0-based on load
    preds0 = gt.joints + rng.normal(0, 8, gt.joints.shape)
    r = pckh(preds0, gt)
    for thr, suffix in ((0.5, ""), (0.1, "@0.1")):
        per_joint, mean = reference_eval(preds0, pos1, missing, heads1, thr)
        ours = [r["per_joint" + suffix][k] for k in r["per_joint" + suffix]]
        assert ours == per_joint.tolist()
        assert r["PCKh" + suffix] == pytest.approx(mean, rel=1e-13)
    # predictions round trip: .mat `preds` is 1-based (HRNet pred.mat), json is 0-based
    savemat(tmp_path / "pred.mat", {"preds": preds0 + 1.0})
    assert np.allclose(load_mpii_predictions(tmp_path / "pred.mat", gt), preds0, atol=1e-12)
    (tmp_path / "pred.json").write_text(json.dumps(
        [{"image": f"{i}.jpg", "joints": p.tolist()} for i, p in enumerate(preds0)]))
    assert np.array_equal(load_mpii_predictions(tmp_path / "pred.json", gt), preds0)


def test_json_ground_truth_and_errors(tmp_path):
    recs = [{"image": f"{i:03d}.jpg", "center": [100, 100], "scale": 1.0,
             "joints": [[10 + j, 20 + j] for j in range(16)], "joints_vis": [1] * 15 + [0],
             "headbox": [5, 5, 35, 45]} for i in range(3)]
    (tmp_path / "mpii.json").write_text(json.dumps(recs))
    gt = load_mpii_gt(tmp_path / "mpii.json")
    assert gt.joints[0, 0].tolist() == [9, 19] and gt.head_boxes[0].tolist() == [4, 4, 34, 44]
    assert gt.visible[0].sum() == 15 and gt.images == ["000.jpg", "001.jpg", "002.jpg"]
    preds = [{"image": r["image"], "joints": (np.array(r["joints"]) - 1).tolist()} for r in recs]
    (tmp_path / "p.json").write_text(json.dumps(preds))
    assert pckh(load_mpii_predictions(tmp_path / "p.json", gt), gt)["PCKh"] == 1.0
    (tmp_path / "short.json").write_text(json.dumps(preds[:2]))
    with pytest.raises(AnnotationError, match="2 predictions for 3"):
        load_mpii_predictions(tmp_path / "short.json", gt)
    bad = json.loads(json.dumps(preds))
    bad[1]["image"] = "zzz.jpg"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(AnnotationError, match=r"results\[1\].image"):
        load_mpii_predictions(tmp_path / "bad.json", gt)
    bad = json.loads(json.dumps(preds))
    bad[2]["joints"][3][0] = None
    (tmp_path / "bad.json").write_text(json.dumps(bad).replace("null", "NaN"))
    with pytest.raises(AnnotationError, match=r"results\[2\].joints"):
        load_mpii_predictions(tmp_path / "bad.json", gt)
    del recs[1]["headbox"]
    (tmp_path / "nohead.json").write_text(json.dumps(recs))
    with pytest.raises(AnnotationError, match=r"records\[1\].headbox"):
        load_mpii_gt(tmp_path / "nohead.json")
    with pytest.raises(ValueError, match=r"\(3, 16, 2\)"):
        pckh(np.zeros((2, 16, 2)), gt)


def test_pckh_dataset_on_synthpose(synthpose_val):
    from robustpose_bench.datasets.mpii import load_mpii

    ds = load_mpii(synthpose_val["mpii_file"], gt_mat=synthpose_val["mpii_gt_mat"])
    persons = sorted((p for s in ds.samples for p in s.persons), key=lambda p: p.id)
    preds = np.array([p.keypoints[:, :2] for p in persons])
    flat = pckh_dataset(ds, preds)
    assert flat["PCKh"] == 1.0 and flat["PCKh@0.1"] == 1.0 and set(flat) >= {"Head", "Ankle"}
    hs = head_sizes(np.array([p.head_box for p in persons]))
    worse = pckh_dataset(ds, preds + np.stack([0.3 * hs, 0 * hs], 1)[:, None, :])
    assert worse["PCKh"] == 1.0 and worse["PCKh@0.1"] == 0.0
    same = load_mpii_gt(synthpose_val["mpii_file"], gt_mat=synthpose_val["mpii_gt_mat"])
    assert pckh(preds, same)["PCKh"] == 1.0


def test_generic_pck():
    gt = np.zeros((2, 17, 2))
    gt[:, 5] = (0, 0)      # left shoulder
    gt[:, 12] = (30, 40)   # right hip: torso diagonal 50
    vis = np.ones((2, 17), bool)
    pred = gt.copy()
    pred[0, 0] = (10, 0)   # 10 px
    pred[1, 0] = (20, 0)   # 20 px
    boxes = np.array([[0, 0, 50, 100], [0, 0, 80, 40]], float)
    assert bbox_norm(boxes).tolist() == [100.0, 80.0]
    r = pck(pred, gt, vis, bbox_norm(boxes), 0.3, COCO.keypoint_names)
    assert r["per_joint"]["nose"] == 1.0 and r["PCK"] == 1.0  # 0.1 and 0.25 of the box
    r = pck(pred, gt, vis, bbox_norm(boxes), 0.1, COCO.keypoint_names)
    assert r["per_joint"]["nose"] == 0.5 and r["PCK"] == pytest.approx(33 / 34)  # 0.1 <= 0.1
    r = pck(pred, gt, vis, bbox_norm(boxes), 0.05, COCO.keypoint_names)
    assert r["per_joint"]["nose"] == 0.0 and r["PCK"] == pytest.approx(32 / 34)
    tn = torso_norm(gt, COCO, vis)
    assert tn.tolist() == [50.0, 50.0]
    r = pck(pred, gt, vis, tn, 0.2)
    assert r["per_joint"]["0"] == 0.5  # 10/50 = 0.2 (<=) right, 20/50 wrong
    vis2 = vis.copy()
    vis2[1, 12] = False
    r = pck(pred, gt, vis2, torso_norm(gt, COCO, vis2), 0.2)
    assert r["skipped_persons"] == 1 and r["per_joint"]["0"] == 1.0
