"""Fixtures of the trainer / method tests (tests/train/_train_helpers.py)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))

from _train_helpers import trainer_factory  # noqa: E402,F401
