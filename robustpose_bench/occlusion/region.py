"""Occlusion regions (a circle on a keypoint, an axis-aligned rectangle over a part) and the
exact set of pixels each covers; the shapes of Pytel et al. (PROTOCOL.md section 7).

Pixel convention (the project's): pixel (x, y) has its centre at the integer point (x, y),
x first, 0-based. A pixel belongs to a region when its centre lies inside the closed shape.
The same rule in every frame makes a region drawn on a model-input crop and the same region
drawn on the full image (through the crop's similarity transform) cover the same scene
points, up to the pixel grid.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Roi:
    """Integer window [y0, y1) x [x0, x1) of a frame plus a bool mask (y1 - y0, x1 - x0) of
    the region's pixels inside it."""

    y0: int
    y1: int
    x0: int
    x1: int
    mask: np.ndarray

    @property
    def empty(self) -> bool:
        return self.y1 <= self.y0 or self.x1 <= self.x0 or not bool(self.mask.any())

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def num_pixels(self) -> int:
        return int(self.mask.sum())


def _span(lo: float, hi: float, size: int) -> tuple[int, int]:
    """Integer pixel centres i with lo <= i <= hi, clipped to 0..size-1, as [a, b)."""
    a = max(0, math.ceil(lo))
    b = min(size, math.floor(hi) + 1)
    return a, max(a, b)


@dataclass(frozen=True)
class Circle:
    """Filled circle, centre (cx, cy) and radius r in the pixels of its frame."""

    cx: float
    cy: float
    r: float

    def roi(self, height: int, width: int) -> Roi:
        x0, x1 = _span(self.cx - self.r, self.cx + self.r, width)
        y0, y1 = _span(self.cy - self.r, self.cy + self.r, height)
        ys = np.arange(y0, y1, dtype=np.float64)[:, None] - self.cy
        xs = np.arange(x0, x1, dtype=np.float64)[None, :] - self.cx
        return Roi(y0, y1, x0, x1, ys * ys + xs * xs <= self.r * self.r)

    def as_dict(self) -> dict:
        return {"shape": "circle", "cx": float(self.cx), "cy": float(self.cy), "r": float(self.r)}


@dataclass(frozen=True)
class Rect:
    """Closed axis-aligned rectangle [x1, x2] x [y1, y2] in the pixels of its frame."""

    x1: float
    y1: float
    x2: float
    y2: float

    @classmethod
    def from_center(cls, cx: float, cy: float, width: float, height: float) -> Rect:
        return cls(cx - width / 2.0, cy - height / 2.0, cx + width / 2.0, cy + height / 2.0)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0

    @property
    def size(self) -> tuple[float, float]:
        return self.x2 - self.x1, self.y2 - self.y1

    def roi(self, height: int, width: int) -> Roi:
        x0, x1 = _span(self.x1, self.x2, width)
        y0, y1 = _span(self.y1, self.y2, height)
        return Roi(y0, y1, x0, x1, np.ones((y1 - y0, x1 - x0), dtype=bool))

    def as_dict(self) -> dict:
        return {"shape": "rect", "x1": float(self.x1), "y1": float(self.y1),
                "x2": float(self.x2), "y2": float(self.y2)}


Region = Circle | Rect


def region_mask(region: Region, height: int, width: int) -> np.ndarray:
    """Full-frame (height, width) bool mask of the region's pixels."""
    out = np.zeros((height, width), dtype=bool)
    roi = region.roi(height, width)
    out[roi.slices] = roi.mask
    return out
