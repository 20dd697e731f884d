"""Reader round trips on hand-written tiny files in each format, and every bad-input case."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from robustpose_bench.datasets import (
    COCO,
    AnnotationError,
    load_coco,
    load_dataset,
    load_detections,
    load_mpii,
)

K = 17


def _coco_dict(n_images: int = 2) -> dict:
    images = [{"id": 10 + i, "file_name": f"img{i}.jpg", "width": 64, "height": 48}
              for i in range(n_images)]
    kp = []
    for j in range(K):
        kp += [5.0 + j, 6.0 + j, 2 if j % 3 else 1]
    anns = [{"id": 1, "image_id": 10, "category_id": 1, "keypoints": kp, "bbox": [1, 2, 30, 40],
             "area": 900.5, "iscrowd": 0, "num_keypoints": 17},
            {"id": 2, "image_id": 10, "category_id": 1, "keypoints": [0] * 51,
             "bbox": [3, 4, 5, 6], "iscrowd": 1}]
    cat = {"id": 1, "name": "person", "keypoints": list(COCO.keypoint_names),
           "skeleton": [[a + 1, b + 1] for a, b in COCO.skeleton]}
    return {"images": images, "annotations": anns, "categories": [cat]}


def _write(tmp: Path, name: str, obj) -> Path:
    p = tmp / name
    p.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return p


def _images(tmp: Path, names) -> Path:
    root = tmp / "images"
    root.mkdir(exist_ok=True)
    for n in names:
        Image.new("RGB", (64, 48), (10, 20, 30)).save(root / n)
    return root


def test_coco_round_trip(tmp_path):
    ann = _write(tmp_path, "person_keypoints_val2017.json", _coco_dict())
    root = _images(tmp_path, ["img0.jpg", "img1.jpg", "not_listed.jpg"])
    ds = load_coco(ann, root)
    assert ds.meta is COCO
    assert [s.file_name for s in ds.samples] == ["img0.jpg", "img1.jpg"]  # only listed images
    p = ds.samples[0].persons[0]
    assert p.keypoints.shape == (17, 3)
    assert p.keypoints[3].tolist() == [8.0, 9.0, 1.0]
    assert p.bbox.tolist() == [1, 2, 30, 40] and p.area == 900.5 and not p.iscrowd
    assert p.num_keypoints == 17
    assert ds.samples[0].persons[1].iscrowd and ds.samples[0].persons[1].area == 30
    assert ds.num_persons == 2 and ds.image_path(ds.samples[1]) == root / "img1.jpg"


def test_coco_any_k_and_dataset_detection(tmp_path):
    d = _coco_dict(1)
    names = ["a_top", "left_hand", "right_hand"]
    d["categories"][0]["keypoints"] = names
    d["categories"][0]["skeleton"] = [[1, 2], [1, 3]]
    for a in d["annotations"]:
        a["keypoints"] = [1, 2, 2] * 3
    ann = _write(tmp_path, "custom.json", d)
    ds = load_dataset(ann, check_images=False)
    assert ds.meta.num_keypoints == 3 and ds.meta.flip_pairs == ((1, 2),)
    assert ds.meta.skeleton == ((0, 1), (0, 2)) and ds.meta.sigmas is None
    assert ds.meta.name == "custom"


@pytest.mark.parametrize("mutate, field, needle", [
    (lambda d: d["annotations"][0].update(keypoints=[1] * 50), "annotations[0].keypoints", "3*K = 51"),
    (lambda d: d["annotations"][1].pop("bbox"), "annotations[1].bbox", "missing field"),
    (lambda d: d["annotations"][0].update(bbox=[0, 0, -3, 4]), "annotations[0].bbox", "negative"),
    (lambda d: d["images"][1].update(file_name="../escape.jpg"), "images[1].file_name", "escapes"),
    (lambda d: d["images"][0].update(file_name="/etc/passwd"), "images[0].file_name", "absolute"),
    (lambda d: d["images"][1].pop("width"), "images[1].width", "missing field"),
    (lambda d: d["annotations"][1].update(image_id=99), "annotations[1].image_id", "not in `images`"),
    (lambda d: d["annotations"][0]["keypoints"].__setitem__(2, 7), "annotations[0].keypoints", "visibility"),
    (lambda d: d["images"][0].update(id="x"), "images[0].id", "expected int"),
])
def test_coco_bad_input_names_file_record_field(tmp_path, mutate, field, needle):
    d = _coco_dict()
    mutate(d)
    ann = _write(tmp_path, "bad.json", d)
    root = _images(tmp_path, ["img0.jpg", "img1.jpg"])
    with pytest.raises(AnnotationError) as exc:
        load_coco(ann, root)
    msg = str(exc.value)
    assert str(ann) in msg and field in msg and needle in msg, msg


def test_coco_missing_image_on_disk(tmp_path):
    ann = _write(tmp_path, "a.json", _coco_dict())
    root = _images(tmp_path, ["img0.jpg"])
    with pytest.raises(AnnotationError, match=r"images\[1\]\.file_name: image .*img1.jpg listed but missing"):
        load_coco(ann, root)
    assert len(load_coco(ann, root, check_images=False)) == 2


def test_truncated_and_malformed_json(tmp_path):
    text = json.dumps(_coco_dict())
    ann = _write(tmp_path, "trunc.json", text[: len(text) // 2])
    with pytest.raises(AnnotationError, match=r"trunc.json: invalid JSON at line 1 .*truncated"):
        load_coco(ann)
    ann = _write(tmp_path, "list.json", "[1, 2]")
    with pytest.raises(AnnotationError, match="expected a COCO object"):
        load_coco(ann)
    with pytest.raises(AnnotationError, match="file not found"):
        load_coco(tmp_path / "nope.json")


def test_detections(tmp_path):
    dets = [{"image_id": 10, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.9},
            {"image_id": 10, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 0.9},
            {"image_id": 11, "category_id": 1, "bbox": [5, 6, 7, 8], "score": 0.1},
            {"image_id": 77, "category_id": 1, "bbox": [5, 6, 7, 8], "score": 0.5}]
    p = _write(tmp_path, "det.json", dets)
    out = load_detections(p, image_ids=[10, 11, 12])
    assert out[10][0].tolist() == [[1, 2, 3, 4]] and out[10][1].tolist() == [0.9]
    assert out[12][0].shape == (0, 4) and 77 not in out
    assert out[11][1].tolist() == [0.1]
    assert 11 not in {k for k, v in load_detections(p, [10, 11], min_score=0.2).items() if len(v[1])}
    dets[2]["bbox"] = [1, 2, -1, 4]
    with pytest.raises(AnnotationError, match=r"det.json: detections\[2\]\.bbox: negative"):
        load_detections(_write(tmp_path, "det.json", dets))


def _mpii_records():
    joints = [[10.0 + j, 20.0 + 2 * j] for j in range(16)]
    vis = [1] * 15 + [0]
    return [{"image": "a.jpg", "center": [31.0, 41.0], "scale": 0.5, "joints": joints,
             "joints_vis": vis},
            {"image": "a.jpg", "center": [51.0, 41.0], "scale": 0.4, "joints": joints,
             "joints_vis": [1] * 16},
            {"image": "b.jpg", "center": [21.0, 21.0], "scale": 0.2, "joints": joints,
             "joints_vis": [1] * 16}]


def test_mpii_round_trip_with_gt_mat(tmp_path):
    ann = _write(tmp_path, "mpii_val.json", _mpii_records())
    root = _images(tmp_path, ["a.jpg", "b.jpg"])
    n = 3
    heads = np.zeros((2, 2, n))
    heads[:, :, 0] = [[11, 21], [31, 51]]  # 1-based x1,y1 / x2,y2
    gt = tmp_path / "gt_valid.mat"
    savemat(gt, {"pos_gt_src": np.zeros((16, 2, n)), "jnt_missing": np.zeros((16, n)),
                 "headboxes_src": heads, "dataset_joints": np.zeros((1, 16))})
    ds = load_dataset(ann, root, gt_mat=gt)
    assert [len(s.persons) for s in ds.samples] == [2, 1]
    assert (ds.samples[0].width, ds.samples[0].height) == (64, 48)
    p = ds.samples[0].persons[0]
    assert p.keypoints[0].tolist() == [9.0, 19.0, 2.0]  # 1-based -> 0-based
    assert p.keypoints[15].tolist() == [0.0, 0.0, 0.0]
    assert p.head_box.tolist() == [10, 20, 30, 50]
    assert p.center.tolist() == [30.0, 40.0] and p.scale == 0.5
    # square box whose top-down crop reproduces centre.y + 15 s and scale * 1.25
    from robustpose_bench.geometry import box_to_center_scale
    c, s = box_to_center_scale(p.bbox, 1.0)
    np.testing.assert_allclose(c, [30.0, 40.0 + 7.5])
    np.testing.assert_allclose(s, [0.625, 0.625])


def test_mpii_bad_input(tmp_path):
    recs = _mpii_records()
    recs[1]["joints"] = recs[1]["joints"][:15]
    ann = _write(tmp_path, "mpii_val.json", recs)
    with pytest.raises(AnnotationError, match=r"mpii_val.json: records\[1\]\.joints: expected shape \(16, 2\)"):
        load_mpii(ann)
    recs = _mpii_records()
    ann = _write(tmp_path, "mpii_val.json", recs)
    gt = tmp_path / "gt.mat"
    savemat(gt, {"pos_gt_src": np.zeros((16, 2, 2)), "jnt_missing": np.zeros((16, 2)),
                 "headboxes_src": np.zeros((2, 2, 2))})
    with pytest.raises(AnnotationError, match=r"gt.mat: headboxes_src: 2 head boxes for 3 records"):
        load_mpii(ann, gt_mat=gt)
    root = _images(tmp_path, ["a.jpg"])
    with pytest.raises(AnnotationError, match=r"records\[2\]\.image: image .*b.jpg listed but missing"):
        load_mpii(ann, root)
