"""The top-down training pipeline: Gaussian targets, the flip against the reference's
flip-then-crop, determinism per (seed, epoch, index), the resumable distributed sampler."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from robustpose_bench.datasets.loading import load_dataset
from robustpose_bench.geometry import affine_points, box_to_center_scale, get_affine_transform
from robustpose_bench.models.codec import encode_msra
from robustpose_bench.train.data import (
    AugmentParams,
    ResumableDistributedSampler,
    TopDownTrainDataset,
    denormalize_image,
    half_body_center_scale,
    read_rgb,
)


@pytest.fixture
def dataset(synthpose_val):
    return load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])


def test_msra_target_matches_the_reference_formula():
    joints = np.array([[37.0, 50.0], [2.0, 1.0], [-40.0, 10.0], [95.0, 127.0], [10.0, 10.0]])
    vis = np.array([1, 1, 1, 1, 0])
    t, w = encode_msra(joints, vis, (96, 128), (24, 32), sigma=2.0)
    assert t.shape == (5, 32, 24) and t.dtype == np.float32
    assert w.tolist() == [1, 1, 0, 1, 0]  # off-map (window misses the map), unlabelled
    ys, xs = np.mgrid[0:32, 0:24]
    for j in (0, 1, 3):
        mx, my = int(joints[j, 0] / 4 + 0.5), int(joints[j, 1] / 4 + 0.5)
        ref = np.exp(-((xs - mx) ** 2 + (ys - my) ** 2) / 8.0)
        ref[(np.abs(xs - mx) > 6) | (np.abs(ys - my) > 6)] = 0
        np.testing.assert_allclose(t[j], ref, rtol=1e-6, atol=1e-7)
    assert t[0].max() == 1.0 and (t[2] == 0).all() and (t[4] == 0).all()


def test_flip_equals_the_reference_flip_then_crop(dataset):
    ds = TopDownTrainDataset(dataset, (96, 128), (24, 32), train=True, seed=0,
                             augment=AugmentParams(flip=True, rotation=30.0, rotation_prob=1.0,
                                                   scale_factor=0.2, half_body_prob=0.0))
    found = 0
    for key in range(40):
        _, index, rng = ds.rng_for(key)
        s = ds.load_crop(index, rng)
        if not s["flipped"]:
            continue
        found += 1
        si, pi, box = ds.records[index]
        sample = dataset.samples[si]
        image = read_rgb(dataset.image_path(sample))
        width = image.shape[1]
        flipped = image[:, ::-1].copy()
        trans = get_affine_transform(s["center"].astype(np.float64), s["scale"].astype(np.float64),
                                     float(s["rotation"]), (96, 128))
        ref = cv2.warpAffine(flipped, trans, (96, 128), flags=cv2.INTER_LINEAR)
        assert np.abs(ref.astype(int) - s["image"].astype(int)).max() <= 1
        kp = sample.persons[pi].keypoints.copy()
        kp[:, 0] = width - kp[:, 0] - 1
        kp = kp[dataset.meta.flip_index()]
        vis = kp[:, 2] > 0
        np.testing.assert_allclose(s["joints"][vis], affine_points(kp[vis, :2], trans), atol=1e-3)
        np.testing.assert_array_equal(s["vis"], vis.astype(np.float32))
        if found == 3:
            break
    assert found >= 1


def test_unaugmented_crop_uses_the_box_centre_and_scale(dataset):
    ds = TopDownTrainDataset(dataset, (96, 128), (24, 32), train=False)
    s = ds.load_crop(0)
    _, _, box = ds.records[0]
    c, sc = box_to_center_scale(box, 96 / 128)
    np.testing.assert_allclose(s["center"], c, rtol=1e-6)
    np.testing.assert_allclose(s["scale"], sc, rtol=1e-6)
    assert s["rotation"] == 0 and not s["flipped"]


def test_items_are_a_function_of_seed_epoch_and_index(dataset):
    ds = TopDownTrainDataset(dataset, (96, 128), (24, 32), seed=5)
    n = len(ds)
    a, b = ds[3], ds[3]
    for k in a:
        assert torch.equal(a[k], b[k])
    c = ds[n + 3]  # same record, next epoch: another augmentation
    assert not torch.equal(a["image"], c["image"]) or not torch.equal(a["joints"], c["joints"])
    assert int(c["index"]) == 3 and int(c["epoch"]) == 1
    img = denormalize_image(a["image"])
    assert img.min() >= -1e-5 and img.max() <= 1 + 1e-5
    assert a["target"].shape == (17, 32, 24) and a["target_weight"].shape == (17,)


def test_half_body_picks_upper_or_lower_joints():
    joints = np.array([[10.0 * i, 20.0 * i] for i in range(17)])
    vis = np.ones(17, dtype=bool)
    upper = np.arange(11)
    seen = set()
    for seed in range(20):
        c, s = half_body_center_scale(joints, vis, upper, 0.75, np.random.default_rng(seed))
        seen.add(round(float(c[0])))
        w, h = s * 200 / 1.5
        assert w / h == pytest.approx(0.75)
    assert seen == {50, 135}  # mean x of joints 0..10 and of 11..16


def test_resumable_sampler_skips_and_partitions(dataset):
    ds = TopDownTrainDataset(dataset, (96, 128), (24, 32))
    n = len(ds)
    full = list(ResumableDistributedSampler(ds, 4, seed=1))
    assert sorted(i % n for i in full) == list(range(n))
    s = ResumableDistributedSampler(ds, 4, seed=1)
    s.set_epoch(2, start_batch=2)
    rest = list(s)
    s.set_epoch(2)
    assert rest == list(s)[8:] and all(i // n == 2 for i in rest)
    assert len(s) == n and s.start_batch == 0
    parts = [list(ResumableDistributedSampler(ds, 4, num_replicas=2, rank=r, seed=1)) for r in (0, 1)]
    assert len(parts[0]) == len(parts[1]) == (n + 1) // 2
    assert set(parts[0]) | set(parts[1]) == set(full)


def test_targets_decode_back_to_the_keypoints_with_the_evaluator_decoder(dataset):
    """Training targets and the evaluator's decoding (argmax + quarter offset + inverse affine
    at heatmap resolution) agree: a target decodes to its keypoint within one heatmap cell."""
    from robustpose_bench.adapters.topdown import decode_standard, heatmap_to_image

    ds = TopDownTrainDataset(dataset, (96, 128), (24, 32), train=False, sigma=2.0)
    checked = 0
    for index in range(min(len(ds), 10)):
        item = ds[index]
        coords, maxvals = decode_standard(item["target"][None])
        img = heatmap_to_image(coords.numpy(), item["center"][None].double().numpy(),
                               item["scale"][None].double().numpy(), (24, 32))[0]
        si, pi, _ = ds.records[index]
        kp = dataset.samples[si].persons[pi].keypoints
        ok = (item["target_weight"] > 0).numpy()
        cell = float(item["scale"][1]) * 200 / 32  # image pixels per heatmap cell
        err = np.linalg.norm(img[ok] - kp[ok, :2], axis=1)
        assert (err <= cell).all(), (index, err.max(), cell)
        checked += int(ok.sum())
    assert checked > 50
