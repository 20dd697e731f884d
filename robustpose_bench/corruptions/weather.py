"""Weather corruptions: snow, frost, fog, brightness (Hendrycks & Dietterich 2019, constants of
`imagecorruptions` 1.1.2), computed from a legacy RandomState in the reference's draw order.
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

from robustpose_bench.corruptions import _kernels as K
from robustpose_bench.corruptions._common import UNIT, clipped_zoom_geometry
from robustpose_bench.corruptions._frost import load_texture
from robustpose_bench.corruptions._scratch import scratch
from robustpose_bench.corruptions.blur import motion_blur_array
from robustpose_bench.corruptions.registry import register_corruption

# (mean, std of the snow field, zoom, threshold, motion radius, motion sigma, image weight)
SNOW = ((0.1, 0.3, 3, 0.5, 10, 4, 0.8),
        (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
        (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55))
FROST = ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))  # (image, frost weight)
FOG = ((1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))  # (strength, wibble decay)
BRIGHTNESS = (0.1, 0.2, 0.3, 0.4, 0.5)  # added to V in HSV


@register_corruption("snow", "weather", SNOW)
def snow(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Snow flakes: a N(mean, std) field (one `rng.normal(size=(H, W))`), zoomed, thresholded,
    motion-blurred at U(-135, -45) degrees (one `rng.uniform`), added twice (once rotated by
    180 degrees) to the whitened image."""
    c = SNOW[severity - 1]
    h, w = image.shape[:2]
    x = scratch("snow_x", image.shape, np.float32)
    K.u8_div255_f32(image, x)
    field = rng.normal(size=(h, w), loc=c[0], scale=c[1])
    ch0, top0, out0, z0 = clipped_zoom_geometry(h, c[2])
    ch1, top1, out1, z1 = clipped_zoom_geometry(w, c[2])
    layer = scratch("snow_layer", (out0, out1, 1), np.float64)
    layer.fill(0)
    K.zoom_linear_add(field[:, :, None], top0, top1, ch0, ch1, out0, out1, z0, z1, layer, False)
    layer[layer < c[3]] = 0
    np.clip(layer, 0, 1, out=layer)
    angle = rng.uniform(-135, -45)
    blurred = motion_blur_array(layer, c[4], c[5], angle, out_hw=(h, w))
    gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY, dst=scratch("snow_gray", (h, w), np.float32))
    return K.snow_compose(x, gray, blurred, c[6], UNIT)


@functools.lru_cache(maxsize=8)
def _frost_lut(severity: int) -> np.ndarray:
    """lut[a, b] = uint8(clip(c0 * a + c1 * b, 0, 255)) for image value a, frost value b."""
    c0, c1 = FROST[severity - 1]
    a = np.arange(256, dtype=np.uint8)[:, None]
    b = np.arange(256, dtype=np.uint8)[None, :]
    lut = np.uint8(np.clip(c0 * a + c1 * b, 0, 255))
    lut.setflags(write=False)
    return lut


def frost_layer(shape: tuple[int, int], rng: np.random.RandomState) -> np.ndarray:
    """The frost crop (H, W, 3) uint8 RGB: texture `rng.randint(5)`, scaled by cv2.resize
    (bicubic) so it covers the image with a 10% margin, random crop (two `rng.randint`)."""
    idx = rng.randint(5)
    tex = load_texture(int(idx))
    fh, fw = tex.shape[:2]
    h, w = shape
    if fh >= h and fw >= w:
        factor = 1.0
    elif fh < h and fw >= w:
        factor = h / fh
    elif fh >= h and fw < w:
        factor = w / fw
    else:
        factor = max(h / fh, w / fw)
    factor *= 1.1
    size = (int(np.ceil(fw * factor)), int(np.ceil(fh * factor)))
    scaled = cv2.resize(tex, dsize=size, interpolation=cv2.INTER_CUBIC)
    y0 = rng.randint(0, scaled.shape[0] - h)
    x0 = rng.randint(0, scaled.shape[1] - w)
    return np.ascontiguousarray(scaled[y0:y0 + h, x0:x0 + w, ::-1])


@register_corruption("frost", "weather", FROST)
def frost(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """clip(c0 * image + c1 * frost, 0, 255) with a random crop of a frost texture."""
    layer = frost_layer(image.shape[:2], rng)
    return K.apply_lut2(image, layer, _frost_lut(severity))


def _next_power_of_2(x: int) -> int:
    return 1 if x == 0 else 2 ** (x - 1).bit_length()


def plasma(mapsize: int, decay: float, rng: np.random.RandomState
           ) -> tuple[np.ndarray, float, float]:
    """The reference's diamond-square plasma fractal before normalisation, float64
    (mapsize, mapsize) in a scratch buffer, with its minimum and range (the fractal is
    (map - min) / range): per step the same `rng.uniform(-wibble, wibble, (n/s, n/s))` draws
    in the same order (squares, then the two diamond sets), wibble divided by `decay` per step.
    """
    m = scratch("plasma", (mapsize, mapsize), np.float64)
    m[0, 0] = 0.0
    stepsize, wibble = mapsize, 100
    while stepsize >= 2:
        k = mapsize // stepsize
        K.plasma_squares(m, stepsize, float(wibble), rng.uniform(-wibble, wibble, (k, k)))
        u1 = rng.uniform(-wibble, wibble, (k, k))
        u2 = rng.uniform(-wibble, wibble, (k, k))
        K.plasma_diamonds(m, stepsize, float(wibble), u1, u2)
        stepsize //= 2
        wibble /= decay
    pmin, prange = K.min_and_range(m)
    return m, pmin, prange


@register_corruption("fog", "weather", FOG)
def fog(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Adds c0 * plasma fractal (map of the next power of two >= max(H, W, 3)), rescaled so the
    image maximum is kept in [0, 1]."""
    c0, decay = FOG[severity - 1]
    h, w = image.shape[:2]
    mapsize = _next_power_of_2(max(h, w, 3))
    field, pmin, prange = plasma(mapsize, decay, rng)
    return K.fog_compose(image, field[:h, :w], pmin, prange, c0, UNIT)


@register_corruption("brightness", "weather", BRIGHTNESS, uses_rng=False)
def brightness(image: np.ndarray, severity: int,
               rng: np.random.RandomState | None) -> np.ndarray:
    """V += c in HSV (skimage's rgb2hsv / hsv2rgb arithmetic), clipped to [0, 1]."""
    return K.hsv_adjust_u8(image, UNIT, 2, 1.0, BRIGHTNESS[severity - 1])
