"""Blur corruptions: defocus_blur, glass_blur, motion_blur, zoom_blur (Hendrycks & Dietterich
2019, constants of `imagecorruptions` 1.1.2), with numba kernels that reproduce its arithmetic.
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

from robustpose_bench.corruptions import _kernels as K
from robustpose_bench.corruptions._common import (
    DUMMY_F64,
    DUMMY_U8,
    UNIT,
    clipped_zoom_geometry,
    gaussian_filter,
    motion_taps,
    to_unit,
)
from robustpose_bench.corruptions._scratch import scratch
from robustpose_bench.corruptions.registry import register_corruption

DEFOCUS_BLUR = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))  # (disk radius, alias blur)
GLASS_BLUR = ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))  # (sigma, delta, its)
MOTION_BLUR = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))  # (radius, sigma)
ZOOM_BLUR = ((1, 1.11, 0.01), (1, 1.16, 0.01), (1, 1.21, 0.02), (1, 1.26, 0.02),
             (1, 1.31, 0.03))  # np.arange(start, stop, step) of zoom factors


@functools.lru_cache(maxsize=8)
def disk_kernel(radius: int, alias_blur: float) -> np.ndarray:
    """The reference's anti-aliased disk: a binary disk of `radius` on a grid of at least
    17 x 17, normalised (float32), blurred by cv2.GaussianBlur (3x3, or 5x5 for radius > 8)."""
    if radius <= 8:
        grid = np.arange(-8, 8 + 1)
        ksize = (3, 3)
    else:
        grid = np.arange(-radius, radius + 1)
        ksize = (5, 5)
    xx, yy = np.meshgrid(grid, grid)
    disk = np.array((xx ** 2 + yy ** 2) <= radius ** 2, dtype=np.float32)
    disk /= np.sum(disk)
    kernel = cv2.GaussianBlur(disk, ksize=ksize, sigmaX=alias_blur)
    kernel.setflags(write=False)
    return kernel


@register_corruption("defocus_blur", "blur", DEFOCUS_BLUR, uses_rng=False)
def defocus_blur(image: np.ndarray, severity: int,
                 rng: np.random.RandomState | None) -> np.ndarray:
    """Each channel of image / 255 correlated with the disk kernel by cv2.filter2D (reflect-101
    borders), like the reference."""
    radius, alias = DEFOCUS_BLUR[severity - 1]
    kernel = disk_kernel(radius, alias)
    h, w = image.shape[:2]
    chan = scratch("defocus_in", (h, w), np.float64)
    filtered = scratch("defocus_out", (h, w), np.float64)
    out = np.empty(image.shape, np.uint8)
    for d in range(3):
        K.u8_channel_to_unit(image, d, UNIT, chan)
        res = cv2.filter2D(chan, -1, kernel, dst=filtered)
        K.unit_to_u8_channel(res, out, d)
    return out


def bounded_draws(rng: np.random.RandomState, low: int, high: int, n: int
                  ) -> tuple[np.ndarray, np.uint32]:
    """n values of `rng.randint(low, high)` as (vals, mask) with value = low + (vals & mask).

    Legacy RandomState draws a bounded integer as (32-bit output & mask), rejected while above
    high - low - 1; the reference's n / 2 calls `randint(low, high, size=(2,))` consume the raw
    stream exactly like this. Without rejections (range a power of two) the raw stream is used
    as is.
    """
    span = high - low - 1
    if span == 0:
        return np.zeros(n, np.uint32), np.uint32(0)  # a single value: numpy draws nothing
    mask = np.uint32((1 << span.bit_length()) - 1)
    if mask == span:
        return rng.randint(0, 2 ** 32, size=n, dtype=np.uint32), mask
    out = np.empty(n, np.uint32)
    filled = 0
    while filled < n:
        need = int((n - filled) * (int(mask) + 1) / (span + 1) * 1.02) + 64
        raw = rng.randint(0, 2 ** 32, size=need, dtype=np.uint32)
        filled, _ = K.masked_bounded(raw, mask, np.uint32(span), out, filled)
    return out, mask


@register_corruption("glass_blur", "blur", GLASS_BLUR)
def glass_blur(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Gaussian blur, then `iterations` sweeps of local pixel moves (every pixel, bottom-right
    to top-left, takes the value of a random neighbour within +-delta), then Gaussian blur.

    The random offsets are the reference's per-pixel `randint(-delta, delta, size=2)` draws, in
    its loop order; the moves run in a numba loop.
    """
    sigma, delta, iterations = GLASS_BLUR[severity - 1]
    h, w = image.shape[:2]
    x = gaussian_filter(to_unit(image), sigma, finish=K.FINISH_TIMES255)
    nh = max(0, h - 2 * delta)  # rows h = H - delta .. delta + 1
    nw = max(0, w - 2 * delta)
    n = iterations * nh * nw * 2
    if n:
        vals, mask = bounded_draws(rng, -delta, delta, n)
        K.glass_shuffle(x, delta, iterations, vals, mask, -delta)
    return gaussian_filter(to_unit(x), sigma, finish=K.FINISH_UNIT_U8)


def motion_blur_array(x: np.ndarray, radius: int, sigma: float, angle: float,
                      out_hw: tuple[int, int] | None = None, to_uint8: bool = False
                      ) -> np.ndarray:
    """The reference's `_motion_blur` on a (H, W, C) uint8 or float64 array, computing only the
    top-left `out_hw` block (default: all): float64 in the scratch buffer "motion", or with
    `to_uint8` a new uint8 array of np.uint8(np.clip(result, 0, 255))."""
    k, dy, dx = motion_taps(radius, sigma, angle, x.shape[:2])
    oh, ow = out_hw if out_hw is not None else x.shape[:2]
    shape = (oh, ow, x.shape[2])
    src = np.ascontiguousarray(x)
    if to_uint8:
        out = np.empty(shape, np.uint8)
        K.shift_sum(src, k, dy, dx, K.FINISH_CLIP255, DUMMY_F64, out)
    else:
        out = scratch("motion", shape, np.float64)
        K.shift_sum(src, k, dy, dx, K.FINISH_F64, out, DUMMY_U8)
    return out


@register_corruption("motion_blur", "blur", MOTION_BLUR)
def motion_blur(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Line-shaped Gaussian motion kernel at angle ~ U(-45, 45) degrees (one `rng.uniform`)."""
    radius, sigma = MOTION_BLUR[severity - 1]
    angle = rng.uniform(-45, 45)
    return motion_blur_array(image, radius, sigma, angle, to_uint8=True)


def zoom_factors(severity: int) -> np.ndarray:
    start, stop, step = ZOOM_BLUR[severity - 1]
    return np.arange(start, stop, step)


@register_corruption("zoom_blur", "blur", ZOOM_BLUR, uses_rng=False)
def zoom_blur(image: np.ndarray, severity: int,
              rng: np.random.RandomState | None) -> np.ndarray:
    """Mean of the image and its centre zooms by each factor (bilinear, float32)."""
    h, w = image.shape[:2]
    x = scratch("zoom_x", image.shape, np.float32)
    K.u8_to_unit_f32(image, UNIT, x)  # the reference divides in float64, then casts
    factors = zoom_factors(severity)
    acc = scratch("zoom_acc", image.shape, np.float32)
    acc.fill(0)
    for z in factors:
        ch0, top0, out0, z0 = clipped_zoom_geometry(h, z)
        ch1, top1, out1, z1 = clipped_zoom_geometry(w, z)
        K.zoom_linear_add(x, top0, top1, ch0, ch1, out0, out1, z0, z1, acc, True)
    x += acc
    x /= np.float32(len(factors) + 1)
    return K.unit_to_u8_f32(x)
