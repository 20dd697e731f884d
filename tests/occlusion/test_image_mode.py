"""Image mode (all persons at once, sizes converted from model-input pixels) and its agreement
with crop mode where the crop covers the whole person."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from robustpose_bench.datasets.meta import COCO
from robustpose_bench.datasets.types import Person
from robustpose_bench.geometry import (
    affine_points,
    box_to_center_scale,
    crop_pixel_scale,
    get_affine_transform,
    warp_crop,
)
from robustpose_bench.occlusion import (
    AttackSpec,
    Circle,
    attack_crop,
    attack_image,
    get_target,
    list_modes,
    part_rect_for,
    person_pixel_scale,
    region_mask,
)

SIZE = (192, 256)


def spec(target="nose", mode="blackout", radius=6.0):
    return AttackSpec(mode, get_target(target, COCO), radius)


def crop_matrix(box):
    c, s = box_to_center_scale(np.asarray(box, float), SIZE[0] / SIZE[1])
    return get_affine_transform(c, s, 0.0, SIZE)


def test_every_person_attacked_with_converted_radius(scene):
    image, kps, boxes = scene
    out, info = attack_image(image, kps, "nose", "blackout", COCO, 6, boxes=boxes)
    assert info["attack"] == "blackout/nose"
    assert info["counts"]["attacked"] == 2 and info["counts"]["skipped"] == 0
    union = np.zeros(image.shape[:2], bool)
    for p in range(2):
        s = crop_pixel_scale(crop_matrix(boxes[p]))
        # r_img = r_crop * (scale_h * 200) / input_height
        _, scale = box_to_center_scale(boxes[p], SIZE[0] / SIZE[1])
        assert 6.0 / s == pytest.approx(6.0 * scale[1] * 200 / SIZE[1])
        assert person_pixel_scale(boxes[p], SIZE) == pytest.approx(s)
        region = info["persons"][p]["region"]
        assert region["r"] == pytest.approx(6.0 / s)
        assert (region["cx"], region["cy"]) == tuple(kps[p, 0, :2])
        union |= region_mask(Circle(region["cx"], region["cy"], region["r"]), *image.shape[:2])
    assert (out[union] == 0).all() and np.array_equal(out[~union], image[~union])


def test_skips_are_counted_and_never_at_origin(scene):
    image, kps, boxes = scene
    kps = kps.copy()
    kps[1, 0] = 0.0  # person 1's nose unlabelled, stored at (0, 0)
    three = np.concatenate([kps, kps[:1]])
    bxs = np.concatenate([boxes, [[0, 0, 0, 0]]])  # person 2 has an empty box
    out, info = attack_image(image, three, "nose", "meanout", COCO, boxes=bxs)
    assert [p["status"] for p in info["persons"]] == ["attacked", "not_visible", "no_scale"]
    assert info["counts"]["skipped"] == 2 and info["counts"]["total"] == 3
    assert np.array_equal(out[:20, :20], image[:20, :20])
    # parts with < 2 labelled keypoints
    kps[0, 11:13, 2] = 0
    _, info = attack_image(image, kps, "hip", "blur", COCO, boxes=boxes)
    assert info["counts"]["too_few_keypoints"] == 1 and info["counts"]["attacked"] == 1


def test_input_size_none_means_image_pixels_and_pixel_scales(scene):
    image, kps, boxes = scene
    _, info = attack_image(image, kps, "nose", "blur", COCO, 9, input_size=None)
    assert [p["region"]["r"] for p in info["persons"]] == [9.0, 9.0]
    _, info = attack_image(image, kps, "nose", "blur", COCO, 9, pixel_scales=[0.5, 3.0])
    assert [p["region"]["r"] for p in info["persons"]] == [18.0, 3.0]
    with pytest.raises(ValueError, match="needs boxes or pixel_scales"):
        attack_image(image, kps, "nose", "blur", COCO)
    with pytest.raises(ValueError, match="radius"):
        attack_image(image, kps, "nose", "blur", COCO, 0, boxes=boxes)
    with pytest.raises(ValueError, match="unknown attack target 'nosey'.*left_eye"):
        attack_image(image, kps, "nosey", "blur", COCO, boxes=boxes)
    with pytest.raises(ValueError, match="unknown attack mode"):
        attack_image(image, kps, "nose", "smudge", COCO, boxes=boxes)


def test_person_objects_and_radius_none(scene):
    image, kps, boxes = scene
    persons = [Person(bbox=boxes[0], keypoints=kps[0]),
               Person(bbox=np.array([0, 0, 50, 50.0]), keypoints=np.zeros((17, 3)), iscrowd=True),
               Person(bbox=boxes[1], keypoints=kps[1])]
    out, info = attack_image(image, persons, "upper_body", "meanout", COCO, radius=None)
    assert [p["index"] for p in info["persons"]] == [0, 2]
    assert info["counts"]["attacked"] == 2
    ref, _ = attack_image(image, kps, "upper_body", "meanout", COCO, boxes=boxes)
    assert np.array_equal(out, ref)
    _, info = attack_image(image, persons, "nose", "blur", COCO, radius=None)
    assert info["attack"] == "blur/nose"
    assert info["persons"][0]["region"]["r"] == pytest.approx(6.0 / person_pixel_scale(boxes[0]))


@pytest.fixture
def exact_scene(scene_factory):
    """A person whose GT-box crop is the identity scale plus an integer shift."""
    image, kps, _ = scene_factory(seed=4, h=300, w=260, origins=((50.0, 30.0, 1.0),))
    box = np.array([23.2, 37.6, 153.6, 204.8])  # centre (100, 140), padded width 192 / 1.25
    m = crop_matrix(box)
    np.testing.assert_allclose(m, [[1, 0, -4], [0, 1, -12]], atol=1e-9)
    crop = warp_crop(image, m, SIZE)
    assert np.array_equal(crop, image[12:268, 4:196])
    return image, kps, box, m, crop


@pytest.mark.parametrize("target", ["nose", "left_wrist", "right_knee", "head", "left_arm",
                                    "corpus", "upper_body", "left_side", "hip"])
@pytest.mark.parametrize("mode", list_modes())
def test_crop_and_image_mode_agree_exactly(exact_scene, target, mode):
    image, kps, box, m, crop = exact_scene
    sp = spec(target, mode, 6.0 if target in COCO.keypoint_names else None)
    attacked_img, info = attack_image(image, kps, sp, boxes=[box])
    attacked_crop, res = attack_crop(crop, kps[0], m, sp)
    assert res.status == "attacked" and info["counts"]["attacked"] == 1
    from_image = warp_crop(attacked_img, m, SIZE)
    if mode != "meanout":
        assert np.array_equal(from_image, attacked_crop)
    else:
        # same pixels, filled with the mean of the frame drawn on (image vs crop)
        changed_i = np.any(from_image != crop, axis=2)
        changed_c = np.any(attacked_crop != crop, axis=2)
        assert np.array_equal(changed_i, changed_c)
        mean_img = np.rint(image.reshape(-1, 3).mean(0)).astype(np.uint8)
        mean_crop = np.rint(crop.reshape(-1, 3).mean(0)).astype(np.uint8)
        assert (from_image[changed_i] == mean_img).all()
        assert (attacked_crop[changed_c] == mean_crop).all()


def _boundary_distance(region, h, w):
    """Crop-frame distance of each pixel centre to the region's boundary."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    if isinstance(region, Circle):
        return np.abs(np.hypot(xs - region.cx, ys - region.cy) - region.r)
    dx = np.maximum.reduce([region.x1 - xs, xs - region.x2, np.zeros_like(xs)])
    dy = np.maximum.reduce([region.y1 - ys, ys - region.y2, np.zeros_like(ys)])
    outside = np.hypot(dx, dy)
    inside = np.minimum.reduce([xs - region.x1, region.x2 - xs, ys - region.y1, region.y2 - ys])
    return np.where(outside > 0, outside, np.abs(inside))


@pytest.mark.parametrize("target", ["nose", "right_elbow", "left_ankle", "head", "right_arm",
                                    "lower_body"])
def test_crop_and_image_mode_agree_up_to_resampling(scene_factory, target):
    """A large person (crop scale ~0.5, fractional shift): blackout differs only on a band of
    1 crop pixel around the region's boundary; blur agrees in the interior."""
    image, kps, _ = scene_factory(seed=7, h=500, w=420, origins=((103.3, 41.7, 2.03),))
    box = np.array([95.1, 35.3, 221.7, 419.9])
    m = crop_matrix(box)
    s = crop_pixel_scale(m)
    assert 0.45 < s < 0.55
    crop = warp_crop(image, m, SIZE)
    kp_crop = kps[0].copy()
    kp_crop[:, :2] = affine_points(kps[0, :, :2], m)
    keypoint = target in COCO.keypoint_names
    region = (Circle(*kp_crop[COCO.keypoint_index(target), :2], 6.0) if keypoint
              else part_rect_for(kp_crop, target, COCO))

    sp = spec(target, "blackout", 6.0 if keypoint else None)
    img_out, _ = attack_image(image, kps, sp, boxes=[box])
    crop_out, res = attack_crop(crop, kps[0], m, sp)
    assert res.status == "attacked"
    diff = np.any(warp_crop(img_out, m, SIZE) != crop_out, axis=2)
    dist = _boundary_distance(region, 256, 192)
    assert diff.any() and dist[diff].max() <= 1.0
    assert diff.sum() < 0.5 * res.pixels + 40

    sp = spec(target, "blur", 6.0 if keypoint else None)
    img_out, _ = attack_image(image, kps, sp, boxes=[box])
    crop_out, _ = attack_crop(crop, kps[0], m, sp)
    inner = region_mask(region, 256, 192) & (dist > 2.0)
    a = warp_crop(img_out, m, SIZE)[inner].astype(float)
    b = crop_out[inner].astype(float)
    clean = crop[inner].astype(float)
    assert np.abs(a - b).mean() < 0.2 * np.abs(b - clean).mean()


def test_blur_radius_conversion_in_image_mode(scene):
    """Image-mode blur = Gaussian with sigma / s and half-width round((r - 1) / s)."""
    image, kps, boxes = scene
    out, info = attack_image(image, kps[:1], "nose", "blur", COCO, 6, pixel_scales=[0.5])
    r = info["persons"][0]["region"]
    mask = region_mask(Circle(r["cx"], r["cy"], r["r"]), *image.shape[:2])
    sigma = (0.3 * ((11 - 1) * 0.5 - 1) + 0.8) / 0.5
    assert np.array_equal(out[mask], cv2.GaussianBlur(image, (21, 21), sigma)[mask])
