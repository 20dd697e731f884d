"""Heatmap codecs (models/codec.py): the unbiased encoding, DARK decoding, their round trip on
SynthPose GT through the evaluator's crop geometry and COCO OKS AP, and the trainer recording
the matching decoder for the evaluator."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from _train_helpers import make_config

from robustpose_bench.adapters.topdown import heatmap_to_image, make_crops
from robustpose_bench.datasets.loading import load_dataset
from robustpose_bench.geometry import affine_points
from robustpose_bench.metrics.coco import evaluate_keypoints
from robustpose_bench.models.codec import (
    CODECS,
    blur_zero_padded,
    decode_dark,
    decode_heatmaps,
    decode_standard,
    encode_unbiased,
    get_codec,
)

INPUT, HEATMAP = (96, 128), (24, 32)


def test_unbiased_encoding_is_the_exact_position_gaussian():
    joints = np.array([[41.2, 50.6], [3.0, 2.0], [-40.0, 10.0], [10.0, 10.0]])
    t, w = encode_unbiased(joints, np.array([1, 1, 1, 0]), INPUT, HEATMAP, sigma=2.0)
    assert t.shape == (4, 32, 24) and t.dtype == np.float32
    assert w.tolist() == [1, 1, 0, 0]  # off-map (3-sigma window misses), unlabelled
    ys, xs = np.mgrid[0:32, 0:24]
    ref = np.exp(-((xs - 41.2 / 4) ** 2 + (ys - 50.6 / 4) ** 2) / 8.0)
    np.testing.assert_allclose(t[0], ref, rtol=1e-6, atol=1e-7)
    assert t[0].max() < 1.0  # the peak lies between cells
    assert not t[2].any() and not t[3].any()


@pytest.mark.parametrize("mu", [(10.3, 12.7), (5.6, 20.2), (13.05, 6.95)])
def test_dark_decodes_an_unbiased_target_exactly(mu):
    t, _ = encode_unbiased(np.array([[mu[0] * 4, mu[1] * 4]]), np.array([1]), INPUT, HEATMAP)
    hm = torch.from_numpy(t)[None]
    dark, _ = decode_dark(hm)
    np.testing.assert_allclose(dark[0, 0].numpy(), mu, atol=2e-3)
    std, _ = decode_standard(hm)
    assert np.abs(std[0, 0].numpy() - mu).max() > 0.04  # the quarter offset cannot


def test_dark_zero_pads_like_the_reference_near_the_border():
    # A peak 2.4 cells from the edge: a reflected border would mirror it and pull the refined
    # position towards the edge (to 1.18); zero padding (the DARK reference) stays near it.
    t, _ = encode_unbiased(np.array([[2.4 * 4, 3.3 * 4]]), np.array([1]), INPUT, HEATMAP)
    coords, _ = decode_dark(torch.from_numpy(t)[None])
    assert np.abs(coords[0, 0].numpy() - (2.4, 3.3)).max() < 0.15


def _dark_reference_blur(hm: np.ndarray, kernel: int = 11) -> np.ndarray:
    """The DARK reference's modulation blur: the map inside a zero border, cv2.GaussianBlur
    (sigma 0: OpenCV's for the kernel size), the border cut off again."""
    border = (kernel - 1) // 2
    padded = np.zeros((hm.shape[0] + 2 * border, hm.shape[1] + 2 * border), np.float64)
    padded[border:-border, border:-border] = hm
    return cv2.GaussianBlur(padded, (kernel, kernel), 0)[border:-border, border:-border]


@pytest.mark.parametrize("shape", [(3, 17, 32, 24), (2, 5, 64, 48), (1, 2, 7, 5)])
def test_dark_blur_matrices_equal_the_reference_blur(shape):
    """The banded-matrix blur equals the DARK reference (zero border + cv2.GaussianBlur) map
    by map, peaks at the border and maps smaller than the kernel included."""
    gen = torch.Generator().manual_seed(sum(shape))
    hm = torch.rand(shape, generator=gen) ** 4  # peaky maps
    hm[..., 0, 0] = 1.0
    ours = blur_zero_padded(hm).numpy()
    flat = hm.reshape(-1, *shape[-2:]).numpy()
    ref = np.stack([_dark_reference_blur(m) for m in flat]).reshape(shape)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)


def _gt_round_trip_ap(dataset, codec_name: str, decoder: str) -> float:
    """Encode every GT person in its evaluation crop, decode, map back, COCO OKS AP."""
    codec = get_codec(codec_name)
    results = []
    for s in dataset.samples:
        persons = [p for p in s.persons if not p.iscrowd]
        if not persons:
            continue
        batch = make_crops(np.zeros((s.height, s.width, 3), np.uint8),
                           np.array([p.bbox for p in persons]), INPUT)
        for i, p in enumerate(persons):
            joints = affine_points(p.keypoints[:, :2].astype(np.float64), batch.matrices[i])
            target, _ = codec.encode(joints, p.keypoints[:, 2], INPUT, HEATMAP, 2.0)
            coords, maxvals = decode_heatmaps(torch.from_numpy(target)[None], decoder)
            xy = heatmap_to_image(coords.numpy(), batch.centers[i:i + 1],
                                  batch.scales[i:i + 1], HEATMAP)[0]
            kp = np.concatenate([xy, maxvals.numpy()[0][:, None]], axis=1)
            results.append({"image_id": s.image_id, "category_id": 1,
                            "keypoints": kp.ravel().tolist(), "score": 1.0})
    return 100.0 * evaluate_keypoints(str(dataset.ann_file), results,
                                      sigmas=dataset.meta.sigmas)["AP"]


def test_gt_round_trip_ap_rises_with_the_unbiased_codec(synthpose_val):
    """The encoding bias alone costs AP on SynthPose's small people at 32x24 heatmaps:
    msra + its decoder ~88 on this split (80.9 on the 100-image val), unbiased + DARK ~100
    (94.6)."""
    ds = load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])
    ap = {name: _gt_round_trip_ap(ds, name, CODECS[name].decoder) for name in CODECS}
    assert CODECS["unbiased"].decoder == "dark" and CODECS["msra"].decoder == "standard"
    assert ap["unbiased"] >= 97.0, ap
    assert ap["msra"] <= 92.0 and ap["unbiased"] > ap["msra"] + 5.0, ap


def test_trainer_records_the_matching_decoder(synthpose_val, tmp_path):
    from robustpose_bench.adapters.loading import load_adapter
    from robustpose_bench.datasets.meta import SYNTHPOSE
    from robustpose_bench.training import build_trainer

    cfg = make_config(synthpose_val, data={"encoding": "unbiased"},
                      train={"epochs": 1, "max_steps_per_epoch": 1})
    ds = load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])
    tr = build_trainer(cfg, tmp_path, device="cpu", resume=False, train_dataset=ds)
    item = tr.train_set[0]
    assert float(item["target"].max()) < 1.0  # sub-pixel peaks
    tr.fit()
    tr.close()
    side = json.loads((tmp_path / "last.json").read_text())
    assert side["inference"] == {"decode": "dark"} and side["encoding"] == "unbiased"
    adapter = load_adapter(str(tmp_path / "last.safetensors"), meta=SYNTHPOSE, device="cpu")
    assert adapter.decode == "dark"
