"""Attack modes (how a region is filled): blackout, meanout and Gaussian blur, with their
registry; Pytel et al. section III and their `cutout_util.py` (PROTOCOL.md section 7).

A mode fills a region of a `Canvas`: the image being attacked plus its untouched source
(the blur reads the source, so overlapping attacks never blur twice) and the per-channel
mean of the source (meanout colour).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from robustpose_bench.occlusion.region import Region, Roi


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def opencv_default_sigma(kernel: int) -> float:
    """Sigma OpenCV uses for `GaussianBlur(..., sigmaX=0)`: 0.3 * ((k - 1) / 2 - 1) + 0.8."""
    return 0.3 * ((kernel - 1) * 0.5 - 1.0) + 0.8


@dataclass(frozen=True)
class GaussianSpec:
    """A Gaussian blur: odd kernel size (px) and sigma (px); sigma 0 means OpenCV's default
    for the kernel (bit-identical to the reference `cv2.GaussianBlur(img, (k, k), 0)`)."""

    kernel: int
    sigma: float = 0.0

    def __post_init__(self) -> None:
        if self.kernel < 1 or self.kernel % 2 != 1:
            raise ValueError(f"Gaussian kernel size must be odd and >= 1, got {self.kernel}")
        if self.sigma < 0 or not math.isfinite(self.sigma):
            raise ValueError(f"Gaussian sigma must be >= 0, got {self.sigma}")

    @property
    def effective_sigma(self) -> float:
        return self.sigma if self.sigma > 0 else opencv_default_sigma(self.kernel)

    def scaled(self, pixel_scale: float) -> GaussianSpec:
        """The same blur in a frame with `pixel_scale` model-input pixels per frame pixel:
        sigma / s, kernel half-width ((k - 1) / 2) / s rounded half up (kernel odd, >= 1)."""
        if pixel_scale == 1.0:
            return self
        half = max(0, _round_half_up((self.kernel - 1) / 2.0 / pixel_scale))
        return GaussianSpec(2 * half + 1, self.effective_sigma / pixel_scale)

    @classmethod
    def for_radius(cls, radius: float) -> GaussianSpec:
        """Keypoint blur of the reference: kernel 2r - 1 (r rounded half up to an integer) and
        OpenCV's default sigma for that kernel (kernel >= 1)."""
        return cls(max(1, 2 * _round_half_up(radius) - 1), 0.0)


@dataclass
class Canvas:
    """The frame an attack is drawn on.

    image: (H, W) or (H, W, C) array, modified in place. source: the same frame before any
    attack (defaults to a copy of `image`); the blur and the mean read it. mean: per-channel
    mean of `source` over the whole frame (float64 (C,) or scalar), computed on first use.
    """

    image: np.ndarray
    source: np.ndarray | None = None
    _mean: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.image.ndim not in (2, 3):
            raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {self.image.shape}")
        if self.source is None:
            self.source = self.image.copy()
        elif self.source.shape != self.image.shape:
            raise ValueError(f"source shape {self.source.shape} != image shape {self.image.shape}")

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def mean(self) -> np.ndarray:
        if self._mean is None:
            src = self.source.astype(np.float64)
            self._mean = src.reshape(-1, src.shape[2]).mean(axis=0) if src.ndim == 3 \
                else np.asarray(src.mean())
        return self._mean


def _fill_value(image: np.ndarray, value: np.ndarray) -> np.ndarray:
    """`value` in the image's dtype: rounded and clipped for integer images."""
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        return np.clip(np.rint(value), info.min, info.max).astype(image.dtype)
    return np.asarray(value, dtype=image.dtype)


def blur_roi(source: np.ndarray, roi: Roi, spec: GaussianSpec) -> np.ndarray:
    """`cv2.GaussianBlur(source, (k, k), sigma)` evaluated on the ROI only: the blur runs on
    the ROI grown by k // 2 pixels (clipped to the frame), so every ROI pixel equals the
    full-frame blur exactly (OpenCV's default BORDER_REFLECT_101 at the frame edges)."""
    pad = spec.kernel // 2
    h, w = source.shape[:2]
    y0, y1 = max(0, roi.y0 - pad), min(h, roi.y1 + pad)
    x0, x1 = max(0, roi.x0 - pad), min(w, roi.x1 + pad)
    patch = np.ascontiguousarray(source[y0:y1, x0:x1])
    blurred = cv2.GaussianBlur(patch, (spec.kernel, spec.kernel), spec.sigma)
    return blurred[roi.y0 - y0:roi.y1 - y0, roi.x0 - x0:roi.x1 - x0]


ModeFn = Callable[[Canvas, Roi, GaussianSpec], None]
_MODES: dict[str, ModeFn] = {}


def register_mode(name: str) -> Callable[[ModeFn], ModeFn]:
    """Decorator: register `fn(canvas, roi, blur_spec)` that fills `roi` of `canvas.image`."""

    def deco(fn: ModeFn) -> ModeFn:
        if name in _MODES:
            raise ValueError(f"attack mode {name!r} is already registered")
        _MODES[name] = fn
        return fn

    return deco


def list_modes() -> list[str]:
    """Registered attack modes, in registration order (blackout, meanout, blur, ...)."""
    return list(_MODES)


def get_mode(name: str) -> ModeFn:
    try:
        return _MODES[name]
    except KeyError:
        raise ValueError(f"unknown attack mode {name!r}; valid: {', '.join(_MODES)}") from None


@register_mode("blackout")
def blackout(canvas: Canvas, roi: Roi, blur: GaussianSpec) -> None:
    """Fill the region with 0."""
    canvas.image[roi.slices][roi.mask] = 0


@register_mode("meanout")
def meanout(canvas: Canvas, roi: Roi, blur: GaussianSpec) -> None:
    """Fill the region with the per-channel mean of the whole source frame (rounded for
    integer images; the reference truncates)."""
    canvas.image[roi.slices][roi.mask] = _fill_value(canvas.image, canvas.mean)


@register_mode("blur")
def blur(canvas: Canvas, roi: Roi, blur: GaussianSpec) -> None:
    """Replace the region by the Gaussian-blurred source frame (pasted inside the region
    only)."""
    canvas.image[roi.slices][roi.mask] = blur_roi(canvas.source, roi, blur)[roi.mask]


def fill_region(canvas: Canvas, region: Region, mode: str, blur: GaussianSpec) -> int:
    """Apply `mode` to `region` of `canvas`; returns the number of pixels covered in the frame
    (0 when the region lies outside it: nothing is changed then)."""
    fn = get_mode(mode)
    roi = region.roi(canvas.height, canvas.width)
    if roi.empty:
        return 0
    fn(canvas, roi, blur)
    return roi.num_pixels
