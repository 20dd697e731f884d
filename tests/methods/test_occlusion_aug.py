"""Occlusion augmentation (Pytel et al.): where the occlusion lands, label removal, PartMix."""
from __future__ import annotations

import numpy as np
import pytest

from robustpose_bench.datasets.meta import COCO
from robustpose_bench.methods.occlusion_aug import OcclusionAugArgs, OcclusionSampleTransform


class _Other:
    """Stands in for the training dataset: PartMix draws another person's crop from it."""

    def __init__(self, sample):
        self.sample = sample

    def __len__(self) -> int:
        return 1

    def load_crop(self, index, rng=None, augment=None):
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self.sample.items()}


def _sample(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    joints = np.zeros((17, 2), np.float32)
    joints[:, 0] = np.linspace(20, 76, 17)
    joints[:, 1] = np.linspace(15, 115, 17)
    return {"image": rng.integers(0, 256, (128, 96, 3), dtype=np.uint8), "joints": joints,
            "vis": np.ones(17, np.float32)}


def _run(args: dict, sample: dict | None = None, seed: int = 0):
    sample = sample or _sample()
    original = sample["image"].copy()
    t = OcclusionSampleTransform(OcclusionAugArgs(**args), COCO, 128)
    out = t(dict(sample), np.random.default_rng(seed), _Other(_sample(5)))
    return original, out


def test_keypoint_cutout_fills_a_circle_with_the_image_mean_and_removes_its_label():
    original, out = _run({"level": "keypoint", "modes": ["cutout"], "prob": 1.0,
                          "remove_labels": True})
    changed = np.any(out["image"] != original, axis=2)
    ys, xs = np.nonzero(changed)
    assert len(ys) > 0
    hidden = np.flatnonzero(out["vis"] == 0)
    assert len(hidden) == 1
    j = hidden[0]
    cx, cy = out["joints"][j]
    # radius 5 at a 256-px input is 2.5 px at 128 px
    assert np.hypot(xs - cx, ys - cy).max() <= 2.5 + 1e-6
    mean = np.rint(original.reshape(-1, 3).astype(float).mean(0))
    np.testing.assert_array_equal(out["image"][ys[0], xs[0]], mean)


def test_probability_zero_changes_nothing():
    original, out = _run({"level": "part", "modes": ["blur"], "prob": 0.0})
    np.testing.assert_array_equal(out["image"], original)
    assert (out["vis"] == 1).all()


def test_part_blur_stays_inside_the_part_rectangle():
    original, out = _run({"level": "part", "modes": ["blur"], "prob": 1.0, "parts": ["hip"]})
    changed = np.any(out["image"] != original, axis=2)
    assert changed.any()
    ys, xs = np.nonzero(changed)
    hips = out["joints"][[11, 12]]
    # the hip rectangle: centred between the hips, twice their extent
    assert xs.min() >= hips[:, 0].min() - 12 and xs.max() <= hips[:, 0].max() + 12
    assert (out["vis"] == 1).all()  # no label removal by default


def test_multikeypoint_and_partmix():
    original, out = _run({"level": "multikeypoint", "modes": ["blackout"], "prob": 1.0,
                          "max_keypoints": 5, "remove_labels": True}, seed=3)
    assert 1 <= int((out["vis"] == 0).sum()) <= 5
    assert (out["image"][np.any(out["image"] != original, axis=2)] == 0).all()
    original, out = _run({"level": "partmix", "prob": 1.0, "parts": ["corpus"],
                          "remove_labels": True})
    assert np.any(out["image"] != original)
    assert set(np.flatnonzero(out["vis"] == 0)) <= set(range(17))
    assert (out["vis"][[5, 6, 11, 12]] == 0).any()


def test_bad_arguments():
    with pytest.raises(ValueError, match="modes must be"):
        OcclusionAugArgs(modes=["erase"])
    with pytest.raises(ValueError, match="unknown part"):
        OcclusionSampleTransform(OcclusionAugArgs(parts=["tail"]), COCO, 128)
