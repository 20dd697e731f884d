"""Fixtures of the corruption tests: the shimmed reference package (the oracle) and test images.

The oracle is the real installed `imagecorruptions` 1.1.2, repaired from outside by
`_corruption_reference.py` (pkg_resources stand-in, np.float_ alias, multichannel ->
channel_axis). Test images are small so the reference's pure-Python glass blur stays fast.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _corruption_data import SHAPES  # noqa: E402
from _corruption_reference import load_reference, reference_corrupt  # noqa: E402


@pytest.fixture(scope="session")
def reference():
    """The stock imagecorruptions package, importable on today's stack."""
    return load_reference()


@pytest.fixture(scope="session")
def ref_corrupt(reference):
    """reference_corrupt(image, name, severity, seed) -> stock output after np.random.seed."""
    return reference_corrupt


@pytest.fixture(scope="session")
def images() -> dict[str, np.ndarray]:
    return {k: f() for k, f in SHAPES.items()}
