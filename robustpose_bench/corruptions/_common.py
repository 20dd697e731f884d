"""Helpers shared by the corruption modules: exact float conversions, Gaussian kernels, the
motion-blur taps and the clipped-zoom geometry of `imagecorruptions` 1.1.2 (Hendrycks & Dietterich).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from robustpose_bench.corruptions import _kernels as K
from robustpose_bench.corruptions._scratch import scratch

#: UNIT[v] == v / 255. (float64), bit for bit; indexing it replaces the division.
UNIT: np.ndarray = np.arange(256) / 255.0
UNIT.setflags(write=False)

#: IDENTITY[v] == np.uint8(v / 255. * 255): the reference's round trip of untouched pixels.
IDENTITY: np.ndarray = (UNIT * 255).astype(np.uint8)
IDENTITY.setflags(write=False)


def to_unit(image: np.ndarray, key: str = "unit") -> np.ndarray:
    """`image / 255.` as float64 in the scratch buffer `key` (valid until its next use)."""
    out = scratch(key, image.shape, np.float64)
    K.u8_to_unit_image(image, UNIT, out)
    return out


DUMMY_F64 = np.empty((1, 1, 1), np.float64)
DUMMY_U8 = np.empty((1, 1, 1), np.uint8)


@functools.lru_cache(maxsize=64)
def gaussian_half_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Weights w[0..r] (w[j] at distance j) of scipy.ndimage.gaussian_filter1d's kernel.

    Uses SciPy's own kernel function when available so the weights are SciPy's to the last bit.
    """
    sd = float(sigma)
    radius = int(truncate * sd + 0.5)
    try:
        from scipy.ndimage._filters import _gaussian_kernel1d

        phi = _gaussian_kernel1d(sigma, 0, radius)[::-1]
    except ImportError:  # pragma: no cover - SciPy moved its private helper
        x = np.arange(-radius, radius + 1)
        phi = np.exp(-0.5 / (sigma * sigma) * x ** 2)
        phi = phi / phi.sum()
    w = np.ascontiguousarray(phi[radius:], dtype=np.float64)
    w.setflags(write=False)
    return w


def gaussian_filter(x: np.ndarray, sigma: float | tuple[float, float], mode: int = K.MODE_NEAREST,
                    truncate: float = 4.0, finish: int = K.FINISH_F64,
                    key: str = "gauss") -> np.ndarray:
    """scipy.ndimage.gaussian_filter over axes 0 and 1 (axis 0 first) of a float64 (H, W, C)
    or (H, W) array, `mode` one of K.MODE_NEAREST / K.MODE_REFLECT; bit-identical to SciPy
    (this is skimage.filters.gaussian(x, sigma, channel_axis=-1) for colour images).

    finish=K.FINISH_F64 returns the float64 result in the scratch buffer `key`; the other
    K.FINISH_* codes return a new uint8 array of the converted result.
    """
    s0, s1 = (sigma, sigma) if np.ndim(sigma) == 0 else sigma
    if s0 <= 1e-15 or s1 <= 1e-15:
        raise ValueError("gaussian_filter: sigma must be positive")
    w0 = gaussian_half_kernel(float(s0), truncate)
    w1 = gaussian_half_kernel(float(s1), truncate)
    src = np.ascontiguousarray(x, dtype=np.float64)
    src3 = src[:, :, None] if src.ndim == 2 else src
    if finish == K.FINISH_F64:
        out = scratch(key, src.shape, np.float64)
        K.gaussian_separable(src3, w0, w1, mode, finish, out.reshape(src3.shape), DUMMY_U8)
    else:
        out = np.empty(src.shape, np.uint8)
        K.gaussian_separable(src3, w0, w1, mode, finish, DUMMY_F64, out.reshape(src3.shape))
    return out


def motion_taps(radius: int, sigma: float, angle: float, shape: tuple[int, int]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights and (dy, dx) shifts of the reference's line-shaped motion-blur kernel.

    width = 2 * radius + 1 taps with Gaussian weights exp(-i^2 / (2 sigma^2)) / (sqrt(2 pi) sigma),
    normalised; tap i shifts by -ceil(i * (sin a, cos a) - 0.5) pixels; the taps stop at the
    first shift as large as the image (shape = (H, W)).
    """
    width = radius * 2 + 1
    i = np.arange(width)
    k = (np.exp(-i ** 2 / (2 * (sigma ** 2)))) / (np.sqrt(2 * np.pi) * sigma)
    k = k / np.sum(k)
    point = (width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle)))
    hypot = math.hypot(point[0], point[1])
    dys: list[int] = []
    dxs: list[int] = []
    for j in range(width):
        dy = -math.ceil(((j * point[0]) / hypot) - 0.5)
        dx = -math.ceil(((j * point[1]) / hypot) - 0.5)
        if abs(dy) >= shape[0] or abs(dx) >= shape[1]:
            break
        dys.append(dy)
        dxs.append(dx)
    n = len(dys)
    return (np.ascontiguousarray(k[:n]), np.asarray(dys, np.int64), np.asarray(dxs, np.int64))


def clipped_zoom_geometry(n: int, factor: float) -> tuple[int, int, int, float]:
    """(crop length, crop start, zoomed length, effective factor) of the reference's
    `clipped_zoom` along one axis of length n: the centre crop of ceil(n / factor) samples is
    zoomed by scipy.ndimage.zoom to round(crop * factor) samples, i.e. by (crop - 1) / (out - 1).
    """
    ch = int(np.ceil(n / float(factor)))
    top = (n - ch) // 2
    out = int(round(ch * factor))
    eff = (ch - 1) / (out - 1) if out != 1 else 1.0
    return ch, top, out, float(eff)
