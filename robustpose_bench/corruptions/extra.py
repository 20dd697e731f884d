"""The four held-out corruptions: speckle_noise, gaussian_blur, spatter, saturate (Hendrycks &
Dietterich 2019, constants of `imagecorruptions` 1.1.2); never part of mPC.
"""
from __future__ import annotations

import cv2
import numpy as np
import scipy.ndimage as ndi

from robustpose_bench.corruptions import _kernels as K
from robustpose_bench.corruptions._common import UNIT, gaussian_filter, to_unit
from robustpose_bench.corruptions.registry import register_corruption

SPECKLE_NOISE = (0.15, 0.2, 0.35, 0.45, 0.6)  # std of the multiplicative noise
GAUSSIAN_BLUR = (1, 2, 3, 4, 6)  # sigma in pixels
# (mean, std of the liquid field, its blur sigma, threshold, intensity / mud blur, 0 water 1 mud)
SPATTER = ((0.65, 0.3, 4, 0.69, 0.6, 0),
           (0.65, 0.3, 3, 0.68, 0.6, 0),
           (0.65, 0.3, 2, 0.68, 0.5, 0),
           (0.65, 0.3, 1, 0.65, 1.5, 1),
           (0.67, 0.4, 1, 0.65, 1.5, 1))
SATURATE = ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2))  # S -> clip(S * a + b)


@register_corruption("speckle_noise", "noise", SPECKLE_NOISE, extra=True)
def speckle_noise(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """x + x * N(0, c^2) per value, x = image / 255: one `rng.normal(size=(H, W, 3))`."""
    noise = rng.normal(size=image.shape, scale=SPECKLE_NOISE[severity - 1])
    return K.speckle_u8(image, noise, UNIT)


@register_corruption("gaussian_blur", "blur", GAUSSIAN_BLUR, extra=True, uses_rng=False)
def gaussian_blur(image: np.ndarray, severity: int,
                  rng: np.random.RandomState | None) -> np.ndarray:
    """Gaussian blur of image / 255 with sigma c (truncate 4, edge replication)."""
    return gaussian_filter(to_unit(image), GAUSSIAN_BLUR[severity - 1], finish=K.FINISH_UNIT_U8)


@register_corruption("spatter", "weather", SPATTER, extra=True)
def spatter(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Water drops (severities 1-3) or mud (4-5) from a thresholded smooth N(mean, std) field
    (one `rng.normal(size=(H, W))`); OpenCV/SciPy steps as in the reference."""
    c = SPATTER[severity - 1]
    h, w = image.shape[:2]
    liquid = rng.normal(size=(h, w), loc=c[0], scale=c[1])
    liquid = ndi.gaussian_filter(liquid, sigma=c[2], mode="nearest")
    liquid[liquid < c[3]] = 0
    if c[5] == 0:
        liquid8 = (liquid * 255).astype(np.uint8)
        dist = 255 - cv2.Canny(liquid8, 50, 150)
        dist = cv2.distanceTransform(dist, cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.blur(dist, (3, 3)).astype(np.uint8)
        dist = cv2.equalizeHist(dist)
        ker = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
        dist = cv2.filter2D(dist, cv2.CV_8U, ker)
        dist = cv2.blur(dist, (3, 3)).astype(np.float32)
        # water is pale turquoise (175, 238, 238) / 255 on channels 0, 1, 2
        color = np.array([175 / 255., 238 / 255., 238 / 255.], np.float32)
        return K.spatter_water_u8(image, liquid8, dist, c[4], color)
    m = np.where(liquid > c[3], 1, 0)
    m = ndi.gaussian_filter(m.astype(np.float32), sigma=c[4], mode="nearest")
    m[m < 0.8] = 0
    # mud brown (63, 42, 20) / 255
    return K.spatter_mud_u8(image, m, np.array([63 / 255., 42 / 255., 20 / 255.]))


@register_corruption("saturate", "digital", SATURATE, extra=True, uses_rng=False)
def saturate(image: np.ndarray, severity: int,
             rng: np.random.RandomState | None) -> np.ndarray:
    """S -> clip(S * a + b, 0, 1) in HSV (skimage's rgb2hsv / hsv2rgb arithmetic)."""
    a, b = SATURATE[severity - 1]
    return K.hsv_adjust_u8(image, UNIT, 1, float(a), float(b))
