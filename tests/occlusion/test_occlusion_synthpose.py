"""Every attack family on SynthPose val images: exact pixel sets in image mode, crop mode with
GT and detected boxes, and crop/image agreement on real rendered people."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from robustpose_bench.datasets.detections import load_detections
from robustpose_bench.datasets.loading import load_dataset
from robustpose_bench.geometry import (
    box_to_center_scale,
    crop_pixel_scale,
    get_affine_transform,
    warp_crop,
)
from robustpose_bench.occlusion import (
    AttackCounts,
    Circle,
    Rect,
    attack_image,
    list_modes,
    make_crop_hook_for_persons,
    parse_targets,
    person_pixel_scale,
    region_mask,
)
from robustpose_bench.occlusion.attack import blur_spec_for
from robustpose_bench.occlusion.crop import attack_crop
from robustpose_bench.occlusion.targets import AttackSpec
from robustpose_bench.render.imageio import read_image

SIZE = (192, 256)
TARGETS = "nose,left_wrist,right_ankle,head,left_arm,hip,corpus,upper_body,right_side"


@pytest.fixture(scope="module")
def synth(synthpose_val):
    ds = load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])
    dets = load_detections(synthpose_val["detections"], [s.image_id for s in ds.samples])
    images = [read_image(ds.image_path(s)) for s in ds.samples[:4]]
    return ds, dets, images


def _region(d):
    if d["shape"] == "circle":
        return Circle(d["cx"], d["cy"], d["r"])
    return Rect(d["x1"], d["y1"], d["x2"], d["y2"])


def crop_matrix(box):
    c, s = box_to_center_scale(np.asarray(box, float), SIZE[0] / SIZE[1])
    return get_affine_transform(c, s, 0.0, SIZE)


@pytest.mark.parametrize("mode", list_modes())
def test_image_mode_changes_exactly_the_regions(synth, mode):
    ds, _, images = synth
    for target in parse_targets(TARGETS, ds.meta):
        radius = 6.0 if target.is_keypoint else None
        spec = AttackSpec(mode, target, radius)
        for sample, image in zip(ds.samples[:4], images, strict=True):
            out, info = attack_image(image, sample.persons, spec, meta=ds.meta)
            h, w = image.shape[:2]
            union = np.zeros((h, w), bool)
            for p in info["persons"]:
                if p["status"] == "attacked":
                    union |= region_mask(_region(p["region"]), h, w)
                else:
                    assert p["region"] is None or p["status"] == "outside"
            changed = np.any(out != image, axis=2)
            assert not changed[~union].any(), (target.id, sample.file_name)
            if mode == "blackout":
                assert (out[union] == 0).all()
            if mode == "blur" and info["persons"] and info["counts"]["attacked"] == 1:
                p = next(q for q in info["persons"] if q["status"] == "attacked")
                person = sample.persons[p["index"]]
                g = blur_spec_for(spec, person_pixel_scale(person.bbox, SIZE))
                ref = cv2.GaussianBlur(image, (g.kernel, g.kernel), g.sigma)
                assert np.array_equal(out[union], ref[union])
            assert info["counts"]["total"] == len(sample.persons)


def test_crop_mode_with_detections(synth):
    ds, dets, images = synth
    total = AttackCounts()
    seen = 0
    for sample, image in zip(ds.samples[:4], images, strict=True):
        boxes, _ = dets[sample.image_id]
        spec = AttackSpec("blackout", parse_targets("nose", ds.meta)[0])
        hook, _ = make_crop_hook_for_persons(boxes, sample.persons, spec, ds.meta, counts=total)
        for i, box in enumerate(boxes):
            m = crop_matrix(box)
            crop = warp_crop(image, m, SIZE)
            out = hook(i, crop, m)
            res = hook.results[i]
            changed = np.any(out != crop, axis=2)
            if res.attacked:
                mask = region_mask(res.region, *SIZE[::-1])
                assert np.array_equal(changed, mask & np.any(crop != 0, axis=2))
            else:
                assert out is crop
            seen += 1
    assert total.total == seen and total.attacked > 0
    assert total.attacked + total.unmatched + total.not_visible + total.outside == seen


@pytest.mark.parametrize("target", ["nose", "left_knee", "head", "right_arm", "upper_body"])
def test_crop_and_image_mode_agree_on_synthpose_people(synth, target):
    """Through the GT-box crop, image-mode blackout equals crop-mode blackout except on a band
    around the region's boundary as wide as one image-pixel diagonal in the crop (bilinear
    resampling of the image-pixel edge; SynthPose people are small, so crops upsample: s ~ 2)."""
    ds, _, images = synth
    spec = AttackSpec("blackout", parse_targets(target, ds.meta)[0])
    compared = 0
    for sample, image in zip(ds.samples[:4], images, strict=True):
        for j, person in enumerate(sample.persons):
            m = crop_matrix(person.bbox)
            crop = warp_crop(image, m, SIZE)
            crop_out, res = attack_crop(crop, person.keypoints, m, spec)
            if not res.attacked:
                continue
            img_out, _ = attack_image(image, person.keypoints[None], spec, boxes=[person.bbox])
            diff = np.any(warp_crop(img_out, m, SIZE) != crop_out, axis=2)
            ys, xs = np.nonzero(diff)
            r = res.region
            if isinstance(r, Circle):
                dist = np.abs(np.hypot(xs - r.cx, ys - r.cy) - r.r)
            else:
                inside = np.minimum.reduce([xs - r.x1, r.x2 - xs, ys - r.y1, r.y2 - ys])
                outside = np.hypot(np.maximum.reduce([r.x1 - xs, xs - r.x2, 0 * xs]),
                                   np.maximum.reduce([r.y1 - ys, ys - r.y2, 0 * ys]))
                dist = np.where(outside > 0, outside, np.abs(inside))
            tol = max(1.0, np.sqrt(2.0) * crop_pixel_scale(m)) + 0.25
            assert dist.size == 0 or dist.max() <= tol, (sample.file_name, j, dist.max(), tol)
            compared += 1
    assert compared >= 3


def test_example_sheet():
    from robustpose_bench.occlusion.preview import attack_examples

    sheet = attack_examples(scale=0.5)
    assert sheet.dtype == np.uint8 and sheet.shape == (3 * (128 + 26), 4 * 96, 3)
