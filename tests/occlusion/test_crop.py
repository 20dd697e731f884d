"""Crop mode: attacks on model-input crops of any shape, detected-box matching, counting."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from robustpose_bench.datasets.meta import COCO
from robustpose_bench.datasets.types import Person
from robustpose_bench.geometry import box_to_center_scale, get_affine_transform, warp_crop
from robustpose_bench.occlusion import (
    AttackCounts,
    AttackSpec,
    Circle,
    attack_crop,
    box_iou,
    get_target,
    make_crop_hook,
    make_crop_hook_for_persons,
    match_boxes,
    region_mask,
)

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def spec(target="nose", mode="blackout", radius=6.0):
    return AttackSpec(mode, get_target(target, COCO), radius)


def crop_matrix(box, input_size=(192, 256)):
    c, s = box_to_center_scale(np.asarray(box, float), input_size[0] / input_size[1])
    return get_affine_transform(c, s, 0.0, input_size)


def one_keypoint(i, x, y, v=2):
    kp = np.zeros((17, 3))
    kp[i] = [x, y, v]
    return kp


@pytest.mark.parametrize("shape,point", [
    ((256, 192), (100.0, 230.0)),   # y >= 192 on a 256x192 crop: skipped by the reference
    ((256, 192), (188.0, 250.0)),   # bottom-right corner, circle partly outside
    ((256, 192), (3.0, 200.0)),
    ((384, 288), (280.0, 370.0)),
    ((192, 256), (240.0, 20.0)),    # a wide crop: x >= 192
    ((64, 48), (40.0, 60.0)),
])
def test_non_square_crops_attack_anywhere(scene, shape, point):
    h, w = shape
    crop = np.ascontiguousarray(scene[0][:h, :w]) if h <= 320 and w <= 400 else \
        np.resize(scene[0], (h, w, 3))
    kp = one_keypoint(0, *point)
    out, res = attack_crop(crop, kp, IDENTITY, spec())
    mask = region_mask(Circle(point[0], point[1], 6.0), h, w)
    assert res.status == "attacked" and res.pixels == mask.sum() > 0
    assert (out[mask] == 0).all() and np.array_equal(out[~mask], crop[~mask])
    assert out is not crop and (crop[mask] != 0).all()  # the input is untouched


def test_target_outside_crop_counts_outside(scene):
    crop = np.ascontiguousarray(scene[0][:256, :192])
    out, res = attack_crop(crop, one_keypoint(0, 250.0, 100.0), IDENTITY, spec())
    assert res.status == "outside" and out is crop


def test_invisible_target_never_attacked_at_origin(scene):
    image, kps, boxes = scene
    kps = kps.copy()
    kps[0, 0] = [0.0, 0.0, 0.0]  # COCO's unlabelled keypoint
    box = np.array([0.0, 0.0, 150.0, 250.0])  # its crop contains image point (0, 0)
    m = crop_matrix(box)
    crop = warp_crop(image, m, (192, 256))
    hook, counts = make_crop_hook([box], kps[:1], [box], "nose", "blackout", COCO)
    out = hook(0, crop, m)
    assert out is crop and counts.not_visible == 1 and counts.attacked == 0
    assert hook.results[0].status == "not_visible"
    # a part with fewer than 2 labelled keypoints is skipped the same way
    kps[0, [11, 12], 2] = 0
    hook, counts = make_crop_hook([box], kps[:1], [box], "hip", "meanout", COCO)
    assert hook(0, crop, m) is crop and counts.too_few_keypoints == 1


def test_box_matching():
    gt = np.array([[10, 10, 100, 200], [200, 20, 120, 240]], float)
    assert box_iou(gt, gt) == pytest.approx(np.eye(2))
    boxes = np.array([[14, 5, 96, 210], [200, 20, 120, 240], [205, 25, 110, 230],
                      [500, 500, 50, 50], [10, 10, 60, 200]], float)
    iou = box_iou(boxes, gt)
    assert iou[4, 0] == pytest.approx(0.6)
    assert list(match_boxes(boxes, gt)) == [0, 1, 1, -1, 0]
    assert list(match_boxes(boxes, gt, iou_threshold=0.65)) == [0, 1, 1, -1, -1]
    assert list(match_boxes(boxes, np.zeros((0, 4)))) == [-1] * 5


def test_detected_boxes_use_matched_gt_keypoints(scene):
    image, kps, gt_boxes = scene
    boxes = np.array([gt_boxes[0] + [4, -3, -6, 5],   # person 0, jittered
                      gt_boxes[1],                      # person 1
                      gt_boxes[1] + [6, 4, -8, -2],     # a duplicate detection of person 1
                      [330, 250, 60, 60]], float)       # background: no person
    sp = spec("nose", "blackout")
    hook, counts = make_crop_hook(boxes, kps, gt_boxes, sp)
    for i, box in enumerate(boxes):
        m = crop_matrix(box)
        crop = warp_crop(image, m, (192, 256))
        out = hook(i, crop, m)
        if i == 3:
            assert out is crop
            continue
        j = [0, 1, 1][i]
        nose = kps[j, 0, :2] @ m[:, :2].T + m[:, 2]
        mask = region_mask(Circle(nose[0], nose[1], 6.0), 256, 192)
        assert (out[mask] == 0).all() and np.array_equal(out[~mask], crop[~mask])
        assert hook.results[i].person == j
    assert counts.as_dict() == {"attacked": 3, "not_visible": 0, "too_few_keypoints": 0,
                                "outside": 0, "unmatched": 1, "no_scale": 0, "skipped": 1,
                                "total": 4}
    # a retried box is redrawn but not counted twice
    m = crop_matrix(boxes[0])
    hook(0, warp_crop(image, m, (192, 256)), m)
    assert counts.attacked == 3
    record = hook.as_dict()
    assert record["attack"] == "blackout/nose" and len(record["boxes"]) == 4
    assert record["boxes"][3]["status"] == "unmatched"


def test_counts_accumulate_over_images_and_persons_helper(scene):
    image, kps, gt_boxes = scene
    persons = [Person(bbox=gt_boxes[0], keypoints=kps[0]),
               Person(bbox=np.array([0, 0, 400, 320.0]), keypoints=np.zeros((17, 3)),
                      iscrowd=True),
               Person(bbox=gt_boxes[1], keypoints=kps[1])]
    total = AttackCounts()
    for _ in range(2):  # two "images"
        hook, counts = make_crop_hook_for_persons(gt_boxes, persons, spec("left_arm", "blur"),
                                                  COCO, gt_boxes=True, counts=total)
        for i, box in enumerate(gt_boxes):
            m = crop_matrix(box)
            hook(i, warp_crop(image, m, (192, 256)), m)
        assert counts is total
    assert total.attacked == 4 and total.total == 4
    with pytest.raises(ValueError, match="non-crowd"):
        make_crop_hook_for_persons(gt_boxes[:1], persons, spec(), COCO, gt_boxes=True)


def test_hook_bad_input(scene):
    image, kps, gt_boxes = scene
    with pytest.raises(ValueError, match="gt_boxes"):
        make_crop_hook(gt_boxes, kps, None, spec())
    with pytest.raises(ValueError, match="meta is required"):
        make_crop_hook(gt_boxes, kps, gt_boxes, "nose", "blackout")
    with pytest.raises(ValueError, match="2 GT boxes for 1"):
        make_crop_hook(gt_boxes, kps[:1], gt_boxes, spec())
    hook, _ = make_crop_hook(gt_boxes, kps, gt_boxes, spec())
    with pytest.raises(ValueError, match="box index 5"):
        hook(5, image, IDENTITY)
    # an image without GT persons: every box unmatched
    hook, counts = make_crop_hook(gt_boxes, np.zeros((0, 17, 3)), np.zeros((0, 4)), spec())
    crop = warp_crop(image, crop_matrix(gt_boxes[0]), (192, 256))
    assert hook(0, crop, crop_matrix(gt_boxes[0])) is crop and counts.unmatched == 1


def test_radius_is_given_in_the_reference_frame(scene):
    """A 96x128 model sees the same image area attacked as a 192x256 one: r = 6 at 192x256
    is r = 3 in its crop and the blur (kernel 11, sigma 2) becomes kernel 7 (half-width 2.5
    rounded up), sigma 1; reference_size=None keeps crop pixels."""
    image, kps, boxes = scene
    cases = (((96, 128), (192, 256), 3.0, 7, 1.0), ((192, 256), (192, 256), 6.0, 11, 0.0),
             ((96, 128), None, 6.0, 11, 0.0), ((288, 384), (192, 256), 9.0, 17, 3.0))
    for size, ref, r_expected, kernel, sigma in cases:
        c, s = box_to_center_scale(boxes[0], size[0] / size[1])
        m = get_affine_transform(c, s, 0.0, size)
        crop = warp_crop(image, m, size)
        hook, _ = make_crop_hook(boxes[:1], kps[:1], None, spec("nose", "blur"),
                                 match=np.array([0]), reference_size=ref)
        out = hook(0, crop, m)
        res = hook.results[0]
        assert res.region.r == pytest.approx(r_expected)
        mask = region_mask(res.region, size[1], size[0])
        assert np.array_equal(out[~mask], crop[~mask])
        assert np.array_equal(out[mask], cv2.GaussianBlur(crop, (kernel, kernel), sigma)[mask])
