"""The building blocks against the library code they replace (SciPy, NumPy, PIL, OpenCV), on
sizes and parameters beyond what the corruptions use, plus the frost texture lookup and the
reference shim itself."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
from _corruption_data import natural_image

from robustpose_bench.corruptions import _frost
from robustpose_bench.corruptions import _kernels as K
from robustpose_bench.corruptions._common import (
    UNIT,
    clipped_zoom_geometry,
    gaussian_filter,
    motion_taps,
)
from robustpose_bench.corruptions.blur import bounded_draws
from robustpose_bench.corruptions.digital import cv2_decodes_like_pil

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("mode", [K.MODE_NEAREST, K.MODE_REFLECT])
@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 2, 3), (7, 30, 1), (40, 5, 3), (64, 48, 2)])
@pytest.mark.parametrize("sigma", [0.7, 1.5, 4.0, (2.3, 0.9)])
def test_gaussian_filter_equals_scipy(shape, sigma, mode):
    rs = np.random.RandomState(0)
    x = rs.uniform(-1, 2, shape)
    name = ("nearest", "reflect")[mode]
    s = (sigma, sigma) if np.ndim(sigma) == 0 else sigma
    for truncate in (4.0, 3.0):
        ours = gaussian_filter(x, sigma, mode, truncate).copy()
        ref = ndi.gaussian_filter(x, (s[0], s[1], 0), mode=name, truncate=truncate)
        np.testing.assert_array_equal(ours, ref)
    ours2d = gaussian_filter(x[:, :, 0], sigma, mode, 3.0)
    np.testing.assert_array_equal(ours2d, ndi.gaussian_filter(x[:, :, 0], s, mode=name,
                                                              truncate=3.0))
    if mode == K.MODE_NEAREST and shape[2] == 3:
        u8 = gaussian_filter(np.clip(x, 0, 1), sigma, mode, finish=K.FINISH_UNIT_U8)
        ref = ndi.gaussian_filter(np.clip(x, 0, 1), (s[0], s[1], 0), mode=name)
        np.testing.assert_array_equal(u8, np.uint8(np.clip(ref, 0, 1) * 255))


def test_gaussian_filter_rejects_zero_sigma():
    with pytest.raises(ValueError, match="sigma"):
        gaussian_filter(np.zeros((4, 4)), 0.0)


@pytest.mark.parametrize("n_in", [1, 2, 5, 31, 33, 36, 97, 480])
def test_zoom_equals_scipy(n_in):
    rs = np.random.RandomState(n_in)
    factors = list(np.arange(1, 1.31, 0.01)) + [2, 2.5, 3, 4, 4.5]
    if n_in > 100:  # keep it fast: a few factors, including 1.19 / 1.2 (last row past the end)
        factors = [factors[i] for i in (0, 10, 19, 20, 30)] + [2.5, 4.5]
    for factor in factors:
        for dtype in (np.float32, np.float64):
            img = rs.rand(n_in, n_in + 3, 2).astype(dtype)
            ch0, top0, out0, z0 = clipped_zoom_geometry(n_in, factor)
            ch1, top1, out1, z1 = clipped_zoom_geometry(n_in + 3, factor)
            crop = img[top0:top0 + ch0, top1:top1 + ch1]
            ref = ndi.zoom(crop, (factor, factor, 1), order=1)
            assert ref.shape == (out0, out1, 2)
            acc = np.zeros((out0, out1, 2), dtype)
            K.zoom_linear_add(img, top0, top1, ch0, ch1, out0, out1, z0, z1, acc,
                              dtype == np.float32)
            np.testing.assert_array_equal(acc, ref)


def test_bilinear_interior_equals_map_coordinates():
    rs = np.random.RandomState(3)
    img = rs.rand(30, 41, 3).astype(np.float32)
    dy = rs.uniform(-4, 4, (30, 41)).astype(np.float32)
    dx = rs.uniform(-4, 4, (30, 41)).astype(np.float32)
    out = np.zeros_like(img)
    border = np.zeros((30, 41), bool)
    n_border = K.bilinear_interior(img, dy, dx, out, border)
    assert 0 < n_border == border.sum() < border.size
    y, x, z = np.meshgrid(np.arange(30), np.arange(41), np.arange(3), indexing="ij")
    coords = np.stack([(y + dy[..., None]).ravel(), (x + dx[..., None]).ravel(), z.ravel()])
    ref = ndi.map_coordinates(img, coords, order=1, mode="reflect").reshape(img.shape)
    np.testing.assert_array_equal(out[~border], ref[~border])


def test_motion_shift_sum_equals_numpy_rolls():
    rs = np.random.RandomState(5)
    src = rs.randint(0, 256, (23, 37, 3)).astype(np.uint8)
    for angle in (-44.0, 0.0, 17.5, 45.0, -120.0):
        k, dy, dx = motion_taps(10, 3, angle, src.shape[:2])
        ref = np.zeros(src.shape, np.float64)
        for ki, sy, sx in zip(k, dy, dx, strict=True):
            yi = np.clip(np.arange(23) - sy, 0, 22)
            xi = np.clip(np.arange(37) - sx, 0, 36)
            ref = ref + ki * src[yi][:, xi]
        out = np.empty(src.shape, np.float64)
        K.shift_sum(src, k, dy, dx, K.FINISH_F64, out, np.empty((1, 1, 1), np.uint8))
        np.testing.assert_array_equal(out, ref)


def test_motion_taps_stop_at_image_size():
    k, dy, dx = motion_taps(20, 15, 30.0, (5, 100))
    assert len(k) < 41 and np.abs(dy).max() < 5


@pytest.mark.parametrize("low,high", [(-1, 1), (-2, 2), (-3, 3), (-4, 4), (0, 5), (3, 4)])
def test_bounded_draws_follow_randint_stream(low, high):
    rs = np.random.RandomState(42)
    vals, mask = bounded_draws(rs, low, high, 1001 * 2)
    got = low + (vals & mask).astype(np.int64)
    ref_rs = np.random.RandomState(42)
    ref = np.concatenate([ref_rs.randint(low, high, size=(2,)) for _ in range(1001)])
    np.testing.assert_array_equal(got, ref)


def test_glass_shuffle_is_the_reference_copy_loop():
    rs = np.random.RandomState(8)
    img = rs.randint(0, 256, (12, 15, 3)).astype(np.uint8)
    delta, its = 2, 2
    ref = img.copy()
    draws = np.random.RandomState(1)
    for _ in range(its):
        for h in range(12 - delta, delta, -1):
            for w in range(15 - delta, delta, -1):
                dx, dy = draws.randint(-delta, delta, size=(2,))
                ref[h, w], ref[h + dy, w + dx] = ref[h + dy, w + dx], ref[h, w]
    ours = img.copy()
    n = its * (12 - 2 * delta) * (15 - 2 * delta) * 2
    vals, mask = bounded_draws(np.random.RandomState(1), -delta, delta, n)
    K.glass_shuffle(ours, delta, its, vals, mask, -delta)
    np.testing.assert_array_equal(ours, ref)


def test_hsv_round_trip_equals_skimage():
    import skimage.color

    rs = np.random.RandomState(2)
    img = rs.randint(0, 256, (50, 60, 3)).astype(np.uint8)
    img[:5] = 0
    img[5:10] = 255
    img[10:15, :, 1:] = img[10:15, :, :1]  # ties between channels
    x = img / 255.0
    for channel, mul, add in ((2, 1.0, 0.3), (1, 0.1, 0.0), (1, 5.0, 0.1), (1, 20.0, 0.2)):
        hsv = skimage.color.rgb2hsv(x)
        hsv[:, :, channel] = np.clip(hsv[:, :, channel] * mul + add, 0, 1) if channel == 1 \
            else np.clip(hsv[:, :, channel] + add, 0, 1)
        ref = np.uint8(np.clip(skimage.color.hsv2rgb(hsv), 0, 1) * 255)
        np.testing.assert_array_equal(K.hsv_adjust_u8(img, UNIT, channel, mul, add), ref)


def test_nearest_index_and_pixelate_gather_equal_pil():
    from PIL import Image

    from robustpose_bench.corruptions.digital import _nearest_index

    rs = np.random.RandomState(4)
    for n_in, n_out in ((1, 7), (3, 10), (160, 640), (144, 480), (19, 33)):
        small = rs.randint(0, 256, (n_in, n_in + 2, 3)).astype(np.uint8)
        ref = np.asarray(Image.fromarray(small).resize((n_out + 1, n_out),
                                                       Image.Resampling.NEAREST))
        out = K.gather_nearest(small, _nearest_index(n_in, n_out),
                               _nearest_index(n_in + 2, n_out + 1))
        np.testing.assert_array_equal(out, ref)


def test_opencv_jpeg_decoder_check():
    assert cv2_decodes_like_pil() in (True, False)
    from robustpose_bench.corruptions.digital import _pil_decode, jpeg_bytes, jpeg_round_trip

    img = natural_image(45, 61)
    for q in (7, 25, 95):
        np.testing.assert_array_equal(jpeg_round_trip(img, q), _pil_decode(jpeg_bytes(img, q)))


def test_frost_textures_found_without_importing_the_package():
    code = ("import sys; from robustpose_bench.corruptions import _frost; "
            "d = _frost.texture_dir(); [_frost.load_texture(i) for i in range(6)]; "
            "assert 'imagecorruptions' not in sys.modules, 'package imported'; print(d)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert res.returncode == 0, res.stderr
    folder = Path(res.stdout.strip())
    assert folder.name == "frost" and (folder / "frost1.png").is_file()


def test_frost_texture_equals_cv2_imread():
    folder = _frost.texture_dir()
    for i, name in enumerate(_frost.FROST_FILES):
        tex = _frost.load_texture(i)
        np.testing.assert_array_equal(tex, cv2.imread(str(folder / name)))
        assert not tex.flags.writeable


def test_frost_texture_errors(tmp_path, monkeypatch):
    bad = tmp_path / "frost"
    bad.mkdir()
    for name in _frost.FROST_FILES:
        (bad / name).write_bytes(b"not an image")
    monkeypatch.setattr(_frost, "texture_dir", lambda: bad)
    _frost.load_texture.cache_clear()
    try:
        with pytest.raises(_frost.FrostTextureError, match="differs from imagecorruptions"):
            _frost.load_texture(0)
    finally:
        monkeypatch.undo()
        _frost.load_texture.cache_clear()
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    _frost.texture_dir.cache_clear()
    try:
        with pytest.raises(_frost.FrostTextureError, match="pip install imagecorruptions"):
            _frost.texture_dir()
    finally:
        monkeypatch.undo()
        _frost.texture_dir.cache_clear()


def test_shim_without_pkg_resources(ref_corrupt):
    """The shim's stand-in pkg_resources (used where setuptools >= 81 removed it) resolves the
    reference's frost textures like the real one."""
    from _corruption_reference import load_reference

    pkg = load_reference(force_fake_pkg_resources=True)
    img = natural_image(40, 56)
    for sev in (1, 4):
        np.random.seed(3)
        a = pkg.corrupt(img, corruption_name="frost", severity=sev)
        np.testing.assert_array_equal(a, ref_corrupt(img, "frost", sev, 3))
    np.random.seed(3)
    pkg.corrupt(img, corruption_name="fog", severity=2)  # np.float_ alias
    pkg.corrupt(img, corruption_name="gaussian_blur", severity=2)  # multichannel


def test_channel_means_equal_numpy_mean():
    rs = np.random.RandomState(6)
    for h, w in ((1, 1), (2, 3), (33, 90), (480, 640), (517, 263)):
        img = rs.randint(0, 256, (h, w, 3)).astype(np.uint8)
        ref = np.mean(img / 255.0, axis=(0, 1))
        np.testing.assert_array_equal(K.channel_means(img, UNIT), ref)


@pytest.mark.parametrize("mapsize", [4, 8, 64, 256])
def test_plasma_equals_reference(mapsize, reference):
    from robustpose_bench.corruptions.weather import plasma

    for decay in (2, 1.4):
        np.random.seed(mapsize)
        ref = sys.modules["imagecorruptions.corruptions"].plasma_fractal(mapsize, decay)
        m, pmin, prange = plasma(mapsize, decay, np.random.RandomState(mapsize))
        np.testing.assert_array_equal((m - pmin) / prange, ref)
