"""Device-side crops (adapters/device_crops.py): crops warped with `grid_sample` have the
geometry of OpenCV's warpAffine (the CPU path) and a trained zoo model gives keypoints
within 0.1 px of the CPU path. Runs on CPU; the CUDA comparison is marked `gpu`."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import robustpose_bench as rpb  # noqa: E402
from robustpose_bench.adapters.device_crops import (  # noqa: E402
    image_to_device,
    invert_affine,
    warp_crops,
)
from robustpose_bench.datasets import load_coco  # noqa: E402
from robustpose_bench.evaluation.boxes import boxes_for_dataset  # noqa: E402
from robustpose_bench.evaluation.resolve import resolve_model  # noqa: E402
from robustpose_bench.geometry import warp_crop  # noqa: E402
from robustpose_bench.render.imageio import read_image  # noqa: E402

MODEL = "synthpose_hrnet_w16_standard"  # the zoo's hrnet_w16_small, trained on SynthPose


def _random_affines(rng, n, size):
    """Image -> crop matrices with rotation, anisotropic scale, shear and offsets reaching
    outside the image."""
    out = []
    for _ in range(n):
        a = rng.uniform(-np.pi, np.pi)
        s = rng.uniform(0.3, 2.5, 2)
        shear = rng.uniform(-0.3, 0.3)
        m = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ np.array(
            [[s[0], shear], [0.0, s[1]]])
        t = rng.uniform(-0.5, 1.5, 2) * np.array(size) - m @ (np.array(size) / 2)
        out.append(np.concatenate([m, t[:, None]], axis=1))
    return np.stack(out)


def test_invert_affine_is_opencvs():
    rng = np.random.default_rng(0)
    mats = _random_affines(rng, 20, (192, 256))
    for m, inv in zip(mats, invert_affine(mats), strict=True):
        np.testing.assert_array_equal(inv, cv2.invertAffineTransform(m))
    assert not invert_affine(np.zeros((1, 2, 3))).any()  # singular: zeros, as OpenCV


def test_warp_matches_opencv_geometry():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (0, 0), 2)  # smooth, like photos: interpolation matters
    mats = _random_affines(rng, 12, (96, 128))
    dev = warp_crops(image_to_device(image, torch.device("cpu")), mats, (96, 128))
    assert dev.shape == (12, 3, 128, 96) and dev.dtype == torch.float32
    ours = dev.permute(0, 2, 3, 1).numpy().astype(np.int16)
    ref = np.stack([warp_crop(image, m, (96, 128)) for m in mats]).astype(np.int16)
    diff = np.abs(ours - ref)
    assert diff.max() <= 1 and (diff > 0).mean() < 2e-3, (diff.max(), (diff > 0).mean())
    # outside the image: black, as BORDER_CONSTANT 0
    far = np.array([[[1.0, 0.0, -5000.0], [0.0, 1.0, -5000.0]]])
    assert not warp_crops(image_to_device(image, torch.device("cpu")), far, (8, 8)).any()


def _keypoints(adapter, items):
    return np.concatenate(adapter.predict_batch(items))


def test_zoo_model_keypoints_within_a_tenth_of_a_pixel(synthpose_val):
    ds = load_coco(synthpose_val["ann_file"], synthpose_val["image_root"])
    adapter = resolve_model(MODEL, ds.meta, device="cpu").adapter
    assert adapter.device_crops is False and adapter.crop_spec() is not None  # CPU default
    boxes = boxes_for_dataset(ds, None, adapter.inference_protocol)
    items = [(read_image(ds.image_path(s)), boxes[i].boxes) for i, s in enumerate(ds.samples)]
    cpu = _keypoints(adapter, items)
    adapter.device_crops = True
    assert adapter.crop_spec() is None  # the model process cuts them, on the device
    dev = _keypoints(adapter, items)
    assert cpu.shape == dev.shape and len(cpu) == sum(len(b) for b in boxes) > 20
    assert np.abs(cpu[..., :2] - dev[..., :2]).max() <= 0.1
    assert np.abs(cpu[..., 2] - dev[..., 2]).max() < 1e-2
    # a crop hook (crop-mode attack) still gets CPU crops; mixed batches work
    hooked = [(img, b, (lambda i, crop, m: crop)) if n % 2 else (img, b)
              for n, (img, b) in enumerate(items)]
    np.testing.assert_allclose(_keypoints(adapter, hooked)[..., :2], dev[..., :2], atol=0.1)


def test_evaluate_with_device_crops_on_cpu(synthpose_val):
    ds = load_coco(synthpose_val["ann_file"], synthpose_val["image_root"])
    kw = dict(conditions="defocus_blur", severities="2", device="cpu", allow_partial=True)
    cpu = rpb.evaluate(MODEL, ds, **kw)
    dev = rpb.evaluate(MODEL, ds, model_args={"device_crops": True}, **kw)
    assert dev.clean == pytest.approx(cpu.clean, abs=0.5)
    assert dev.per_condition["defocus_blur"]["2"] == pytest.approx(
        cpu.per_condition["defocus_blur"]["2"], abs=0.5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_device_crops_match_the_cpu_path(synthpose_val):
    ds = load_coco(synthpose_val["ann_file"], synthpose_val["image_root"])
    cpu_adapter = resolve_model(MODEL, ds.meta, device="cpu").adapter
    cuda_adapter = resolve_model(MODEL, ds.meta, device="cuda").adapter
    assert cuda_adapter.device_crops is True  # on by default on CUDA
    boxes = boxes_for_dataset(ds, None, cpu_adapter.inference_protocol)
    items = [(read_image(ds.image_path(s)), boxes[i].boxes) for i, s in enumerate(ds.samples)]
    cpu, gpu = _keypoints(cpu_adapter, items), _keypoints(cuda_adapter, items)
    assert np.abs(cpu[..., :2] - gpu[..., :2]).max() <= 0.1
