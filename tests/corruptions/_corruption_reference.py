"""Compatibility shim that makes the stock `imagecorruptions` 1.1.2 package run on today's stack.

Used as the test oracle (tests/corruptions/conftest.py) and by benchmarks/corruptions.py. The
package itself is not modified; three known incompatibilities (PROTOCOL.md section 1) are
repaired from outside:

- `from pkg_resources import resource_filename` fails where setuptools >= 81 dropped
  `pkg_resources`: a tiny stand-in module providing `resource_filename` is injected for the
  duration of the import only.
- `np.float_` (used by fog's plasma fractal) is gone in NumPy 2: the module's `np` name is
  rebound to a proxy of numpy that adds the alias (numpy itself is not mutated, and
  `np.random` is still the global legacy generator, so `np.random.seed` keeps working).
- `skimage.filters.gaussian(..., multichannel=True)` (glass_blur, gaussian_blur) was removed in
  scikit-image 0.19/0.21: the module's `gaussian` name is rebound to a wrapper that maps it to
  `channel_axis=-1`.
"""
from __future__ import annotations

import importlib
import os
import sys
import types
from typing import Any

import numpy as np

_CACHE: dict[bool, types.ModuleType] = {}


class _NumpyProxy(types.ModuleType):
    """Forwards every attribute to numpy; adds `float_` when numpy lacks it."""

    def __init__(self) -> None:
        super().__init__("numpy")

    def __getattr__(self, name: str) -> Any:
        if name == "float_":
            return np.float64
        return getattr(np, name)


def _fake_pkg_resources() -> types.ModuleType:
    mod = types.ModuleType("pkg_resources")

    def resource_filename(package: str, resource: str) -> str:
        base = os.path.dirname(sys.modules[package].__file__)
        return os.path.normpath(os.path.join(base, resource))

    mod.resource_filename = resource_filename  # type: ignore[attr-defined]
    return mod


def _gaussian_compat(gaussian):
    def wrapped(image, *args, multichannel=None, **kwargs):
        if multichannel is not None:
            kwargs.setdefault("channel_axis", -1 if multichannel else None)
        return gaussian(image, *args, **kwargs)

    return wrapped


def load_reference(force_fake_pkg_resources: bool = False) -> types.ModuleType:
    """Import the stock `imagecorruptions` package with the shim applied; returns the package.

    With `force_fake_pkg_resources` the stand-in `pkg_resources` is used even when the real one
    is importable (to test the fallback path); the package is then imported afresh.
    """
    if force_fake_pkg_resources in _CACHE:
        return _CACHE[force_fake_pkg_resources]
    saved = {k: sys.modules.pop(k) for k in list(sys.modules)
             if k == "imagecorruptions" or k.startswith("imagecorruptions.")}
    injected = False
    saved_pkg = sys.modules.get("pkg_resources")
    if force_fake_pkg_resources:
        sys.modules["pkg_resources"] = _fake_pkg_resources()
        injected = True
    else:
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module("pkg_resources")
        except ImportError:
            sys.modules["pkg_resources"] = _fake_pkg_resources()
            injected = True
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pkg = importlib.import_module("imagecorruptions")
    finally:
        if injected:
            if saved_pkg is not None:
                sys.modules["pkg_resources"] = saved_pkg
            else:
                sys.modules.pop("pkg_resources", None)
    corr = sys.modules["imagecorruptions.corruptions"]
    corr.np = _NumpyProxy()
    corr.gaussian = _gaussian_compat(corr.gaussian)
    # keep later plain imports pointing at the first (shimmed) copy
    if saved:
        for k in list(sys.modules):
            if k == "imagecorruptions" or k.startswith("imagecorruptions."):
                sys.modules.pop(k)
        sys.modules.update(saved)
    _CACHE[force_fake_pkg_resources] = pkg
    return pkg


def reference_corrupt(image: np.ndarray, corruption: str, severity: int, seed: int) -> np.ndarray:
    """Stock `imagecorruptions.corrupt` right after `np.random.seed(seed)` (global state!)."""
    pkg = load_reference()
    np.random.seed(seed)
    return pkg.corrupt(image, corruption_name=corruption, severity=severity)
