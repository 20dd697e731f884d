"""Fixtures of the fault tests (helpers in `_faults_helpers.py`)."""
from __future__ import annotations

import pytest
from _faults_helpers import make_set


@pytest.fixture
def small_set(tmp_path):
    """4 images of 48 x 64 px: (annotation file, image folder)."""
    return make_set(tmp_path / "data")


@pytest.fixture(name="make_set")
def make_set_fixture():
    return make_set
