"""Tests of the SynthPose generator: determinism, visibility against the drawn masks, COCO / MPII
validity and consistency, detection file, CLI and a time bound."""
from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from robustpose_bench.datasets.meta import COCO_KEYPOINTS, MPII_KEYPOINTS
from robustpose_bench.datasets.synthpose import (
    KEYPOINT_PARTS,
    PART_LABELS,
    generate,
    render_image,
)

FACE = {"nose", "left_eye", "right_eye", "left_ear", "right_ear"}
# MPII joint -> COCO keypoint it copies (the other four are derived).
MPII_TO_COCO = {
    "right_ankle": "right_ankle", "right_knee": "right_knee", "right_hip": "right_hip",
    "left_hip": "left_hip", "left_knee": "left_knee", "left_ankle": "left_ankle",
    "right_wrist": "right_wrist", "right_elbow": "right_elbow",
    "right_shoulder": "right_shoulder", "left_shoulder": "left_shoulder",
    "left_elbow": "left_elbow", "left_wrist": "left_wrist",
}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _coco(paths) -> dict:
    return json.loads(Path(paths["ann_file"]).read_text())


def test_layout_and_counts(synthpose_val):
    p = synthpose_val
    root = Path(p["root"])
    assert p["ann_file"] == root / "annotations" / "synthpose_val.json"
    assert p["mpii_file"] == root / "annotations" / "synthpose_val_mpii.json"
    assert p["mpii_gt_mat"] == root / "annotations" / "synthpose_val_mpii_gt.mat"
    assert p["detections"] == root / "person_detection_results" / "synthpose_val_detections.json"
    coco = _coco(p)
    assert len(coco["images"]) == 12
    assert sorted(x.name for x in Path(p["image_root"]).iterdir()) == \
        sorted(im["file_name"] for im in coco["images"])
    assert sorted(x.name for x in Path(p["mask_root"]).iterdir()) == \
        sorted(f"{a['id']}.png" for a in coco["annotations"])
    n_per_image = np.bincount([a["image_id"] for a in coco["annotations"]], minlength=13)[1:]
    assert n_per_image.min() >= 1 and n_per_image.max() <= 4
    assert not list(root.rglob("*.part"))


def test_same_seed_same_bytes_any_jobs(synthpose_val, tmp_path):
    """Regenerating the fixture's split with 2 worker processes gives identical bytes, and a
    re-run into the same folder rewrites identical bytes."""
    ref = _files(Path(synthpose_val["root"]))
    generate(tmp_path / "a", split="val", num_images=12, seed=0, jobs=2)
    assert _files(tmp_path / "a") == ref
    generate(tmp_path / "a", split="val", num_images=12, seed=0, jobs=1)
    assert _files(tmp_path / "a") == ref


def test_other_seed_differs_and_stale_files_go(tmp_path):
    a = generate(tmp_path / "a", split="val", num_images=3, seed=5)
    b = generate(tmp_path / "b", split="val", num_images=3, seed=6)
    assert Path(a["ann_file"]).read_bytes() != Path(b["ann_file"]).read_bytes()
    first = sorted(Path(a["image_root"]).iterdir())[0].read_bytes()
    assert first != sorted(Path(b["image_root"]).iterdir())[0].read_bytes()
    # a smaller re-run leaves no images or masks of the larger one behind
    generate(tmp_path / "a", split="val", num_images=1, seed=5)
    assert len(list(Path(a["image_root"]).iterdir())) == 1
    n_ann = len(_coco(a)["annotations"])
    assert len(list(Path(a["mask_root"]).iterdir())) == n_ann


def test_image_independent_of_count(synthpose_val, tmp_path):
    small = generate(tmp_path, split="val", num_images=2, seed=0)
    for name in ("val_000000.jpg", "val_000001.jpg"):
        assert (Path(small["image_root"]) / name).read_bytes() == \
            (Path(synthpose_val["image_root"]) / name).read_bytes()


def test_visibility_agrees_with_masks(synthpose_val):
    """v=2 keypoints lie on their own person's visible mask, on a part they belong to; v=1
    body keypoints do not (they are covered); v=0 are outside the image with x = y = 0."""
    coco = _coco(synthpose_val)
    images = {im["id"]: im for im in coco["images"]}
    counts = {0: 0, 1: 0, 2: 0}
    for ann in coco["annotations"]:
        im = images[ann["image_id"]]
        parts = cv2.imread(str(Path(synthpose_val["mask_root"]) / f"{ann['id']}.png"),
                           cv2.IMREAD_UNCHANGED)
        assert parts.shape == (im["height"], im["width"]) and parts.dtype == np.uint8
        assert set(np.unique(parts)) <= set(range(11))
        rle_mask = mask_utils.decode(ann["segmentation"])
        np.testing.assert_array_equal(rle_mask, (parts > 0).astype(np.uint8))
        kps = np.asarray(ann["keypoints"], float).reshape(17, 3)
        for name, (x, y, v) in zip(COCO_KEYPOINTS, kps, strict=True):
            counts[int(v)] += 1
            if v == 0:
                assert x == 0 and y == 0
                continue
            assert 0 <= x <= im["width"] - 1 and 0 <= y <= im["height"] - 1
            label = int(parts[int(round(y)), int(round(x))])
            if v == 2:
                assert label in KEYPOINT_PARTS[name], (ann["id"], name, label)
            elif name not in FACE:
                # covered by another person / occluder / another own part; a shoulder or hip
                # on the far side of a side-on torso is hidden behind the torso itself
                ok = label not in KEYPOINT_PARTS[name] or (
                    label == PART_LABELS["torso"] and name.endswith(("shoulder", "hip")))
                assert ok, (ann["id"], name, label)
        assert ann["num_keypoints"] == int((kps[:, 2] > 0).sum())
    assert min(counts.values()) > 0, counts  # the data set has all three kinds


def test_coco_fields_and_gt_as_results_ap_1(synthpose_val):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    coco = _coco(synthpose_val)
    cat = coco["categories"][0]
    assert cat["id"] == 1 and cat["name"] == "person"
    assert cat["keypoints"] == list(COCO_KEYPOINTS)
    assert [16, 14] in cat["skeleton"] and min(min(s) for s in cat["skeleton"]) == 1
    ids = [a["id"] for a in coco["annotations"]]
    assert len(set(ids)) == len(ids)
    for im in coco["images"]:
        img = cv2.imread(str(Path(synthpose_val["image_root"]) / im["file_name"]))
        assert img.shape == (im["height"], im["width"], 3)
        assert 320 <= im["width"] <= 480 and 240 <= im["height"] <= 360
    for a in coco["annotations"]:
        assert a["category_id"] == 1 and a["iscrowd"] == 0 and len(a["keypoints"]) == 51
        assert a["area"] == pytest.approx(float(mask_utils.area(a["segmentation"])))
        np.testing.assert_allclose(a["bbox"], mask_utils.toBbox(a["segmentation"]), atol=0.01)
        assert a["bbox"][2] > 0 and a["bbox"][3] > 0
    gt = COCO(str(synthpose_val["ann_file"]))
    res = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"],
            "score": 1.0} for a in coco["annotations"]]
    ev = COCOeval(gt, gt.loadRes(res), "keypoints")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)
    # a keypoint shifted by a head width is wrong: AP drops
    for r in res:
        r["keypoints"] = [v + 8.0 if i % 3 == 0 else v for i, v in enumerate(r["keypoints"])]
    ev = COCOeval(gt, gt.loadRes(res), "keypoints")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] < 0.9


def test_mpii_matches_coco(synthpose_val):
    from scipy.io import loadmat

    coco = _coco(synthpose_val)
    files = {im["id"]: im["file_name"] for im in coco["images"]}
    mpii = json.loads(Path(synthpose_val["mpii_file"]).read_text())
    assert len(mpii) == len(coco["annotations"])
    mat = loadmat(str(synthpose_val["mpii_gt_mat"]))
    assert mat["pos_gt_src"].shape == (16, 2, len(mpii))
    assert [str(x[0]) for x in mat["dataset_joints"][0]][9] == "head"
    midx = {n: i for i, n in enumerate(MPII_KEYPOINTS)}
    cidx = {n: i for i, n in enumerate(COCO_KEYPOINTS)}
    for i, (rec, ann) in enumerate(zip(mpii, coco["annotations"], strict=True)):
        assert rec["image"] == files[ann["image_id"]]
        joints = np.asarray(rec["joints"], float)
        vis = np.asarray(rec["joints_vis"])
        kps = np.asarray(ann["keypoints"], float).reshape(17, 3)
        for mname, cname in MPII_TO_COCO.items():
            m, c = midx[mname], cidx[cname]
            assert vis[m] == int(kps[c, 2] > 0)
            if vis[m]:  # MPII is 1-based
                np.testing.assert_allclose(joints[m], kps[c, :2] + 1, atol=0.011)
        for derived, (a, b) in (("pelvis", ("left_hip", "right_hip")),
                                ("thorax", ("left_shoulder", "right_shoulder"))):
            if kps[cidx[a], 2] > 0 and kps[cidx[b], 2] > 0:
                assert vis[midx[derived]] == 1
                np.testing.assert_allclose(
                    joints[midx[derived]], (kps[cidx[a], :2] + kps[cidx[b], :2]) / 2 + 1,
                    atol=0.02)
        np.testing.assert_allclose(mat["pos_gt_src"][:, :, i], joints)
        np.testing.assert_array_equal(mat["jnt_missing"][:, i], 1 - vis)
        hb = mat["headboxes_src"][:, :, i]
        np.testing.assert_allclose(hb.reshape(-1), rec["headbox"])
        # the head box contains the visible face keypoints, is about a head in size
        face = kps[:5][kps[:5, 2] == 2]
        if len(face):
            assert (face[:, 0] + 1 >= hb[0, 0] - 1).all() and (face[:, 0] + 1 <= hb[1, 0] + 1).all()
        head_size = np.linalg.norm(hb[1] - hb[0])
        assert 0.1 < head_size / (rec["scale"] * 200) < 0.35
        assert rec["scale"] > 0


def test_lead_readers_load_both_formats(synthpose_val):
    from robustpose_bench.datasets.loading import load_dataset

    coco = load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])
    mpii = load_dataset(synthpose_val["mpii_file"], synthpose_val["image_root"],
                        gt_mat=synthpose_val["mpii_gt_mat"])
    assert len(coco) == 12 and coco.num_persons == mpii.num_persons
    assert all(p.head_box is not None for s in mpii.samples for p in s.persons)


def test_detections(synthpose_val):
    coco = _coco(synthpose_val)
    sizes = {im["id"]: (im["width"], im["height"]) for im in coco["images"]}
    dets = json.loads(Path(synthpose_val["detections"]).read_text())
    assert len(dets) >= 0.8 * len(coco["annotations"])
    for d in dets:
        assert d["category_id"] == 1 and 0 < d["score"] <= 1
        x, y, w, h = d["bbox"]
        W, H = sizes[d["image_id"]]
        assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= W + 0.01 and y + h <= H + 0.01


def test_render_variety():
    """Over a few images: 1-4 people, small and large people, occlusion, out-of-frame joints."""
    people, heights, v = [], [], []
    for i in range(16):
        r = render_image(np.random.default_rng([123, i]))
        people.append(len(r.persons))
        heights += [p.height for p in r.persons]
        v += [p.keypoints[:, 2] for p in r.persons]
    v = np.concatenate(v)
    assert min(people) >= 1 and max(people) <= 4 and len(set(people)) >= 3
    assert min(heights) < 120 and max(heights) > 250
    assert 0.05 < (v == 1).mean() < 0.5 and (v == 0).mean() > 0.02


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="split"):
        generate(tmp_path, split="test")
    with pytest.raises(ValueError, match="num_images"):
        generate(tmp_path, num_images=0)
    with pytest.raises(ValueError, match="seed"):
        generate(tmp_path, num_images=1, seed=-1)
    with pytest.raises(ValueError, match="jobs"):
        generate(tmp_path, num_images=1, jobs=0)


def test_cli(tmp_path):
    from click.testing import CliRunner

    from robustpose_bench.cli.synth import command

    res = CliRunner().invoke(command, ["--out", str(tmp_path), "--images", "2", "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "annotations" / "synthpose_val.json").is_file()
    assert len(list((tmp_path / "images" / "val").iterdir())) == 2
    res = CliRunner().invoke(command, ["--out", str(tmp_path), "--split", "test"])
    assert res.exit_code != 0


def test_generation_time(tmp_path):
    """20 images take about 1 s of CPU (val 100 about 5 s); CPU time, so a busy machine does
    not fail the bound."""
    t0 = time.process_time()
    generate(tmp_path, split="train", num_images=20, seed=1)
    assert time.process_time() - t0 < 8.0
