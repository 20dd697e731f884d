"""The corruption registry: one entry per corruption (name, category, per-severity constants)
of Hendrycks & Dietterich (ImageNet-C, 2019) as packaged by `imagecorruptions` 1.1.2.

Follows the extension-point convention of the project: a dict + `register_corruption`
decorator + `list_corruptions` / `get_corruption` (names and categories: PROTOCOL.md section 1).
"""
from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from robustpose_bench.names import CATEGORIES, SEVERITIES

#: fn(image uint8 (H, W, 3) C-contiguous, severity 1..5, rng: legacy RandomState, or None for
#: corruptions registered with uses_rng=False) -> new uint8 (H, W, 3)
CorruptionFn = Callable[[np.ndarray, int, np.random.RandomState], np.ndarray]

#: The four corruption categories (names.CATEGORIES order).
CATEGORY_NAMES: tuple[str, ...] = tuple(CATEGORIES)


@dataclass(frozen=True)
class Corruption:
    """One registered corruption.

    name: registry key (the `imagecorruptions` function name).
    category: noise / blur / weather / digital.
    extra: True for the 4 held-out corruptions (never part of mPC).
    params: the published per-severity constants, params[severity - 1] (for docs and listings).
    uses_rng: whether the corruption draws random numbers.
    fn: the implementation, fn(image, severity, rng) on a uint8 (H, W, 3) image of at least
        32 x 32 pixels (`corrupt` takes care of validation, grayscale and small images).
    """

    name: str
    category: str
    extra: bool
    params: tuple[Any, ...]
    uses_rng: bool
    fn: CorruptionFn

    def __call__(self, image: np.ndarray, severity: int, seed: int | None = None) -> np.ndarray:
        """Same as `robustpose_bench.corruptions.corrupt(image, self.name, severity, seed)`."""
        from robustpose_bench.corruptions import corrupt

        return corrupt(image, self.name, severity, seed=seed)


_REGISTRY: dict[str, Corruption] = {}


def register_corruption(name: str, category: str, params: Sequence[Any], *, extra: bool = False,
                        uses_rng: bool = True) -> Callable[[CorruptionFn], CorruptionFn]:
    """Decorator adding `fn(image, severity, rng)` to the registry under `name`."""
    if category not in CATEGORY_NAMES:
        raise ValueError(f"unknown category {category!r}; valid: {', '.join(CATEGORY_NAMES)}")
    if len(params) != len(SEVERITIES):
        raise ValueError(f"{name}: need one parameter set per severity, got {len(params)}")

    def deco(fn: CorruptionFn) -> CorruptionFn:
        if name in _REGISTRY:
            raise ValueError(f"corruption {name!r} is already registered")
        _REGISTRY[name] = Corruption(name, category, extra, tuple(params), uses_rng, fn)
        return fn

    return deco


def order_registry(names: Sequence[str]) -> None:
    """Put `names` first, in this order, in listings (the protocol order); others follow."""
    missing = [n for n in names if n not in _REGISTRY]
    if missing:
        raise ValueError(f"not registered: {', '.join(missing)}")
    ordered = {n: _REGISTRY[n] for n in names}
    ordered.update({n: c for n, c in _REGISTRY.items() if n not in ordered})
    _REGISTRY.clear()
    _REGISTRY.update(ordered)


def get_corruption(name: str) -> Corruption:
    """The registry entry of `name` (ValueError listing the valid names if unknown)."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown corruption {name!r}; valid: {', '.join(_REGISTRY)}") from None


def list_corruptions(pattern: str = "*", category: str | None = None,
                     include_extra: bool = True) -> list[str]:
    """Registered names matching a glob `pattern`, in registry (protocol) order."""
    if category is not None and category not in CATEGORY_NAMES:
        raise ValueError(f"unknown category {category!r}; valid: {', '.join(CATEGORY_NAMES)}")
    return [n for n, c in _REGISTRY.items()
            if fnmatch.fnmatchcase(n, pattern)
            and (category is None or c.category == category)
            and (include_extra or not c.extra)]
