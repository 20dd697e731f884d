"""Noise corruptions: gaussian_noise, shot_noise, impulse_noise (Hendrycks & Dietterich 2019,
constants of `imagecorruptions` 1.1.2), computed from a legacy RandomState in the reference's order.
"""
from __future__ import annotations

import numpy as np

from robustpose_bench.corruptions import _kernels as K
from robustpose_bench.corruptions._common import IDENTITY, UNIT, to_unit
from robustpose_bench.corruptions.registry import register_corruption

GAUSSIAN_NOISE = (0.08, 0.12, 0.18, 0.26, 0.38)  # std of the additive noise, image in [0, 1]
SHOT_NOISE = (60, 25, 12, 5, 3)  # photons per unit intensity: poisson(x * c) / c
IMPULSE_NOISE = (0.03, 0.06, 0.09, 0.17, 0.27)  # salt & pepper amount (fraction of values)


@register_corruption("gaussian_noise", "noise", GAUSSIAN_NOISE)
def gaussian_noise(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """x / 255 + N(0, c^2) per value, clipped to [0, 1]: one `rng.normal(size=(H, W, 3))`."""
    c = GAUSSIAN_NOISE[severity - 1]
    noise = rng.normal(size=image.shape, scale=c)
    return K.add_noise_u8(image, noise, UNIT)


@register_corruption("shot_noise", "noise", SHOT_NOISE)
def shot_noise(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Poisson(x * c) / c per value, x = image / 255: one `rng.poisson` over (H, W, 3)."""
    c = SHOT_NOISE[severity - 1]
    lam = to_unit(image)
    lam *= c
    counts = rng.poisson(lam)
    return K.counts_to_u8(counts, float(c))


@register_corruption("impulse_noise", "noise", IMPULSE_NOISE)
def impulse_noise(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Salt & pepper on a fraction c of the values (per channel value, like
    `skimage.util.random_noise(mode='s&p', amount=c)`), seeded.

    The reference draws from scikit-image's own unseeded generator; here the same algorithm
    draws from the legacy RandomState: u1 = rng.random_sample((H, W, 3)) (value flipped where
    u1 <= c), then u2 = rng.random_sample((H, W, 3)) (salt = 255 where u2 <= 0.5, else pepper = 0).
    """
    c = IMPULSE_NOISE[severity - 1]
    u_flip = rng.random_sample(image.shape)
    u_salt = rng.random_sample(image.shape)
    return K.salt_and_pepper_u8(image, u_flip, u_salt, c, 0.5, IDENTITY)
