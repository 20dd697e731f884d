"""The built-in top-down pipeline recovers GT keypoints from a network that emits perfect
Gaussian heatmaps (with and without the flip test), decodes like the HRNet reference, batches
across images and applies crop hooks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from _topdown_fakes import FakeGaussianNet, paint_people, person_code
from torch import nn

from robustpose_bench.adapters.topdown import (
    CropBatch,
    HeatmapTopDownAdapter,
    decode_dark,
    decode_standard,
    flip_back,
    make_crops,
)
from robustpose_bench.datasets.meta import COCO
from robustpose_bench.geometry import affine_points, box_to_center_scale, get_affine_transform

FLIP = COCO.flip_index()
SIZE = (192, 256)
# Box sizes chosen so one heatmap cell is 1.0-1.2 image px (the 0.5 px tolerance is then
# above the worst case of quarter-offset decoding: 0.25 cell + 0.125 cell of flip shift).
BOXES = [np.array([[20, 30, 38.4, 51.2], [100, 40, 30, 60], [60, 120, 45, 40]]),
         np.array([[10, 10, 40, 50], [120, 100, 36, 48]])]


def _scene(seed: int = 0):
    rng = np.random.default_rng(seed)
    people, images = {}, []
    for img_idx, boxes in enumerate(BOXES):
        for p, b in enumerate(boxes):
            kp = np.stack([b[0] + rng.uniform(0, b[2], 17), b[1] + rng.uniform(0, b[3], 17)], 1)
            people[person_code(img_idx, p)] = (b, kp)
        images.append(paint_people((200, 200), boxes, img_idx))
    return people, images


def _gt(people, img_idx, n):
    return np.stack([people[person_code(img_idx, p)][1] for p in range(n)])


@pytest.mark.parametrize("flip_test", [False, True])
@pytest.mark.parametrize("decode,tol", [("standard", 0.5), ("dark", 0.3)])
def test_recovers_gt_from_perfect_heatmaps(flip_test, decode, tol):
    people, images = _scene()
    net = FakeGaussianNet(people, SIZE, FLIP)
    adapter = HeatmapTopDownAdapter(net, SIZE, FLIP, device="cpu", flip_test=flip_test,
                                    decode=decode)
    out = adapter.predict(images[0], BOXES[0])
    assert out.shape == (3, 17, 3) and out.dtype == np.float64
    err = np.abs(out[..., :2] - _gt(people, 0, 3))
    assert err.max() < tol, err.max()
    assert net.seen_flipped == (3 if flip_test else 0)
    # confidence = heatmap maximum: close to 1 for a unit Gaussian
    assert (out[..., 2] > 0.9).all() and (out[..., 2] <= 1.0 + 1e-6).all()


def test_without_shift_the_flip_average_is_biased_left():
    # The 1-px shift compensates the misalignment of flipped heatmaps (reference behaviour):
    # without it the flipped copy lands 0.75 cell left and the average moves left.
    people, images = _scene(1)
    gt = _gt(people, 0, 3)
    res = {}
    for shift in (True, False):
        net = FakeGaussianNet(people, SIZE, FLIP)
        ad = HeatmapTopDownAdapter(net, SIZE, FLIP, device="cpu", shift_heatmap=shift,
                                   decode="dark")
        res[shift] = (ad.predict(images[0], BOXES[0])[..., 0] - gt[..., 0]).mean()
    assert res[False] < res[True] - 0.3


def test_predict_batch_across_images_matches_predict():
    people, images = _scene()
    net = FakeGaussianNet(people, SIZE, FLIP)
    adapter = HeatmapTopDownAdapter(net, SIZE, FLIP, device="cpu", batch_size=2)
    outs = adapter.predict_batch([(images[0], BOXES[0]), (images[1], np.zeros((0, 4))),
                                  (images[1], BOXES[1])])
    assert [o.shape for o in outs] == [(3, 17, 3), (0, 17, 3), (2, 17, 3)]
    np.testing.assert_allclose(outs[0], adapter.predict(images[0], BOXES[0]), atol=1e-9)
    assert np.abs(outs[2][..., :2] - _gt(people, 1, 2)).max() < 0.5


def test_empty_boxes_and_heatmaps():
    people, images = _scene()
    adapter = HeatmapTopDownAdapter(FakeGaussianNet(people, SIZE, FLIP), SIZE, FLIP, device="cpu")
    assert adapter.predict(images[0], np.zeros((0, 4))).shape == (0, 17, 3)
    kp, hm = adapter.predict_with_heatmaps(images[0], BOXES[0])
    assert hm.shape == (3, 17, 64, 48) and hm.dtype == np.float32
    np.testing.assert_allclose(adapter.heatmaps(images[0], BOXES[0]), hm)
    np.testing.assert_allclose(kp[..., 2], hm.reshape(3, 17, -1).max(-1), rtol=1e-6)


def test_crop_hook_sees_crop_and_matrix_and_changes_the_input():
    seen = []

    class Recorder(nn.Module):
        num_keypoints = 17

        def forward(self, x):
            seen.append(x.clone())
            return torch.zeros(x.shape[0], 17, x.shape[2] // 4, x.shape[3] // 4)

    image = np.full((100, 120, 3), 200, np.uint8)
    boxes = np.array([[10, 10, 30, 40], [50, 20, 30, 60]])

    def hook(i, crop, matrix):
        assert crop.shape == (256, 192, 3) and crop.dtype == np.uint8
        c, s = box_to_center_scale(boxes[i], 0.75)
        np.testing.assert_allclose(matrix, get_affine_transform(c, s, 0, SIZE))
        out = crop.copy()
        if i == 1:
            out[:] = 0
        return out

    adapter = HeatmapTopDownAdapter(Recorder(), SIZE, FLIP, device="cpu", flip_test=False)
    adapter.predict(image, boxes, crop_hook=hook)
    x = seen[0]
    assert x[1].max() < -1.5  # black crop after ImageNet normalisation
    assert x[0, :, 128, 96].min() > 1.0  # grey 200 stays bright

    with pytest.raises(ValueError, match="crop_hook for box 0"):
        adapter.predict(image, boxes, crop_hook=lambda i, c, m: c[:10])
    per_item = []
    adapter.predict_batch([(image, boxes, lambda i, c, m: per_item.append(i) or c)])
    assert per_item == [0, 1]


def test_make_crops_geometry():
    image = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    boxes = np.array([[30.5, 20.0, 40.0, 70.0]])
    batch = make_crops(image, boxes, (48, 64))
    assert isinstance(batch, CropBatch) and batch.crops.shape == (1, 64, 48, 3)
    # The box centre lands on the crop centre.
    centre = affine_points(np.array([30.5 + 20, 20 + 35]), batch.matrices[0])
    np.testing.assert_allclose(centre, [24, 32], atol=1e-4)
    with pytest.raises(ValueError, match="uint8"):
        make_crops(image.astype(np.float32), boxes, (48, 64))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        make_crops(image, np.zeros((2, 3)), (48, 64))
    with pytest.raises(ValueError, match="needs person boxes"):
        make_crops(image, None, (48, 64))
    gray = make_crops(image[..., 0], boxes, (48, 64))
    assert gray.crops.shape == (1, 64, 48, 3)


def _reference_final_preds(hm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Loop transcription of the reference get_max_preds + quarter offset semantics."""
    n, k, h, w = hm.shape
    coords = np.zeros((n, k, 2))
    maxv = np.zeros((n, k))
    for i in range(n):
        for j in range(k):
            m = hm[i, j]
            idx = int(np.argmax(m))
            px, py = idx % w, idx // w
            maxv[i, j] = m.flat[idx]
            if maxv[i, j] <= 0:
                continue
            x, y = float(px), float(py)
            if 1 < px < w - 1 and 1 < py < h - 1:
                x += np.sign(m[py, px + 1] - m[py, px - 1]) * 0.25
                y += np.sign(m[py + 1, px] - m[py - 1, px]) * 0.25
            coords[i, j] = (x, y)
    return coords, maxv


def test_standard_decoder_matches_reference_semantics():
    rng = np.random.default_rng(3)
    hm = rng.normal(size=(4, 17, 16, 12)).astype(np.float32)
    hm[0, 0] = -1.0  # all non-positive -> (0, 0)
    hm[1, 1] = 0.0
    hm[1, 1, 0, 5] = 1.0  # border argmax: no offset
    hm[2, 2] = 0.0
    hm[2, 2, 7, 6] = 2.0
    hm[2, 2, 7, 7] = 1.0  # x moves +0.25, y stays (equal neighbours)
    coords, maxv = decode_standard(torch.from_numpy(hm))
    ref_c, ref_m = _reference_final_preds(hm)
    np.testing.assert_allclose(coords.numpy(), ref_c)
    np.testing.assert_allclose(maxv.numpy(), ref_m)
    np.testing.assert_allclose(coords[2, 2].numpy(), [6.25, 7.0])
    np.testing.assert_allclose(coords[0, 0].numpy(), [0, 0])


def test_dark_decoder_is_subpixel_exact_on_gaussians():
    ys, xs = np.mgrid[0:64, 0:48]
    truth = np.array([[20.3, 31.7], [10.9, 12.2], [33.5, 50.05]])
    hm = np.stack([np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / 8.0) for x, y in truth])[None]
    coords, maxv = decode_dark(torch.from_numpy(hm.astype(np.float32)))
    assert np.abs(coords[0].numpy() - truth).max() < 0.02
    std, _ = decode_standard(torch.from_numpy(hm))
    assert np.abs(std[0].numpy() - truth).max() <= 0.25 + 1e-9


def test_flip_back_swaps_mirrors_and_shifts():
    hm = torch.zeros(1, 3, 4, 6)
    hm[0, 0, 1, 1] = 1  # left thing at x=1
    out = flip_back(hm, [1, 0, 2], shift=False)
    assert out[0, 1, 1, 4] == 1 and out.sum() == 1
    out = flip_back(hm, [1, 0, 2], shift=True)
    assert out[0, 1, 1, 5] == 1


def test_constructor_validation():
    net = FakeGaussianNet({}, SIZE, FLIP)
    with pytest.raises(ValueError, match="flip_index=meta.flip_index"):
        HeatmapTopDownAdapter(net, SIZE, None, device="cpu")
    with pytest.raises(ValueError, match="permutation"):
        HeatmapTopDownAdapter(net, SIZE, [0, 0, 1], device="cpu")
    with pytest.raises(ValueError, match="flip_index has 16 entries"):
        HeatmapTopDownAdapter(net, SIZE, np.arange(16), device="cpu")
    with pytest.raises(ValueError, match="decoder"):
        HeatmapTopDownAdapter(net, SIZE, FLIP, device="cpu", decode="soft")
    with pytest.raises(ValueError, match="nn.Module"):
        HeatmapTopDownAdapter(lambda x: x, SIZE, FLIP, device="cpu")


def test_zoo_model_end_to_end_on_cpu():
    from robustpose_bench.models import create_model

    adapter = HeatmapTopDownAdapter(create_model("hrnet_w16_small"), (96, 128), FLIP,
                                    device="cpu")
    image = np.random.default_rng(0).integers(0, 255, (90, 120, 3), dtype=np.uint8)
    out = adapter.predict(image, np.array([[10, 10, 40, 60], [60, 5, 30, 80]]))
    assert out.shape == (2, 17, 3) and np.isfinite(out).all()
    assert adapter.num_params == 1210689 and adapter.backbone == "hrnet_w16_small"
    assert adapter.name == "hrnet_w16_small" and adapter.input_size == (96, 128)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_autocast_matches_cpu():
    people, images = _scene()
    cpu = HeatmapTopDownAdapter(FakeGaussianNet(people, SIZE, FLIP), SIZE, FLIP, device="cpu")
    gpu = HeatmapTopDownAdapter(FakeGaussianNet(people, SIZE, FLIP), SIZE, FLIP, device="cuda")
    assert gpu.amp
    a = cpu.predict_batch([(images[0], BOXES[0]), (images[1], BOXES[1])])
    b = gpu.predict_batch([(images[0], BOXES[0]), (images[1], BOXES[1])])
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x[..., :2], y[..., :2], atol=1e-3)
    from robustpose_bench.models import create_model

    model = create_model("sbl_r18_lite")
    img = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 80, 150], [90, 20, 100, 170]])
    fp32 = HeatmapTopDownAdapter(model, (96, 128), FLIP, device="cuda", amp=False).heatmaps(img, boxes)
    fp16 = HeatmapTopDownAdapter(model, (96, 128), FLIP, device="cuda", amp=True).heatmaps(img, boxes)
    assert np.abs(fp32 - fp16).max() < 1e-2 * max(1.0, np.abs(fp32).max())
