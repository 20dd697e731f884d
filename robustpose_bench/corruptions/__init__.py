"""Image corruptions of the benchmark: the 15 + 4 of Hendrycks & Dietterich (ImageNet-C, 2019).

A reimplementation of `imagecorruptions` 1.1.2 (the reference definition, PROTOCOL.md section 1):
same constants and random-number stream, bit-identical outputs (tests/corruptions), seeded
through a local legacy `np.random.RandomState` (the global NumPy state is never touched), and
much faster (benchmarks/corruptions.py). See docs/corruptions.md.

    >>> import numpy as np
    >>> from robustpose_bench.corruptions import corrupt
    >>> img = np.zeros((48, 64, 3), np.uint8)
    >>> corrupt(img, "gaussian_noise", 3, seed=0).shape
    (48, 64, 3)
"""
from __future__ import annotations

import numbers
import threading

import numpy as np

# importing the category modules fills the registry
from robustpose_bench.corruptions import blur, digital, extra, noise, weather  # noqa: F401
from robustpose_bench.corruptions.registry import (
    Corruption,
    get_corruption,
    list_corruptions,
    order_registry,
    register_corruption,
)
from robustpose_bench.names import (
    ALL_CORRUPTIONS,
    CATEGORIES,  # category -> the 15 benchmark corruptions in it (extras excluded)
    CORRUPTIONS,
    EXTRA_CORRUPTIONS,
    SEVERITIES,
)

order_registry(ALL_CORRUPTIONS)
#: Images smaller than this (either side) are edge-padded to it, corrupted, and cropped back.
MIN_SIZE = 32

__all__ = [
    "ALL_CORRUPTIONS", "CATEGORIES", "CORRUPTIONS", "EXTRA_CORRUPTIONS", "MIN_SIZE", "SEVERITIES",
    "Corruption", "as_rgb_uint8", "corrupt", "get_corruption", "list_corruptions",
    "make_rng", "register_corruption",
]


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Validate an image and return it as a C-contiguous uint8 (H, W, 3) array.

    Accepts uint8 (H, W) grayscale, (H, W, 1) or (H, W, 3) RGB; grayscale is repeated to three
    channels (as the reference does). Other dtypes, RGBA and empty images raise ValueError.
    """
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {arr.dtype}; convert it first "
                         "(e.g. np.clip(x * 255, 0, 255).astype(np.uint8) for floats in [0, 1])")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an image of shape (H, W), (H, W, 1) or (H, W, 3), got "
                         f"{arr.shape}" + (" (RGBA: drop the alpha channel first)"
                                           if arr.ndim == 3 and arr.shape[2] == 4 else ""))
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"empty image of shape {arr.shape}")
    return np.ascontiguousarray(arr)


def _check_seed(seed: object) -> None:
    if seed is None or isinstance(seed, np.random.RandomState):
        return
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer in [0, 2**32 - 1] or None, got {seed!r}")
    if not 0 <= int(seed) <= 2 ** 32 - 1:
        raise ValueError(f"seed must be in [0, 2**32 - 1], got {seed}")


def make_rng(seed: int | np.random.RandomState | None) -> np.random.RandomState:
    """The legacy generator of one corruption call: RandomState(seed) for an int (the stream
    `np.random.seed(seed)` gives), a fresh OS-seeded one for None, or the given RandomState."""
    _check_seed(seed)
    if seed is None:
        return np.random.RandomState()
    if isinstance(seed, np.random.RandomState):
        return seed
    return np.random.RandomState(int(seed))


_local = threading.local()


def _call_rng(seed: int | np.random.RandomState | None) -> np.random.RandomState:
    """make_rng, reusing one RandomState per thread for integer seeds (re-seeding it is
    exactly `np.random.seed(seed)` and much cheaper than building a new generator)."""
    if seed is None or isinstance(seed, np.random.RandomState):
        return make_rng(seed)
    rs = getattr(_local, "rng", None)
    if rs is None:
        rs = _local.rng = np.random.RandomState()
    rs.seed(int(seed))
    return rs


def _check_severity(severity: int) -> int:
    if isinstance(severity, bool) or not isinstance(severity, numbers.Integral) \
            or int(severity) not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(map(str, SEVERITIES))}, "
                         f"got {severity!r}")
    return int(severity)


def corrupt(image: np.ndarray, corruption: str, severity: int,
            seed: int | np.random.RandomState | None = None) -> np.ndarray:
    """Corrupt one image.

    image: uint8, (H, W) grayscale or (H, W, 3) RGB (or (H, W, 1)), any size >= 1 x 1.
    corruption: a name of ALL_CORRUPTIONS; severity: 1..5.
    seed: int -> output equal to stock `imagecorruptions.corrupt(image, corruption_name=...,
        severity=...)` run right after `np.random.seed(seed)` (impulse_noise: its seeded
        equivalent, see docs/corruptions.md); None -> fresh OS entropy. Global NumPy random
        state is neither read nor changed.
    Returns a new uint8 (H, W, 3) RGB array. Images below MIN_SIZE x MIN_SIZE (the reference's
    minimum) are padded by edge replication at the bottom/right to at least 32 x 32, corrupted,
    and cropped back to (H, W).
    Raises ValueError for unknown names, severities outside 1..5 and bad images.
    """
    spec = get_corruption(corruption)
    sev = _check_severity(severity)
    img = as_rgb_uint8(image)
    _check_seed(seed)
    rng = _call_rng(seed) if spec.uses_rng else None
    h, w = img.shape[:2]
    if h < MIN_SIZE or w < MIN_SIZE:
        padded = np.pad(img, ((0, max(0, MIN_SIZE - h)), (0, max(0, MIN_SIZE - w)), (0, 0)),
                        mode="edge")
        return np.ascontiguousarray(spec.fn(padded, sev, rng)[:h, :w])
    return spec.fn(img, sev, rng)
