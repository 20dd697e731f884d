"""Fixtures of the report tests: results folders made from the leaderboard tests' summary
factory (tests/leaderboard/_summary_factory.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "leaderboard"))
from _summary_factory import make_summary  # noqa: E402


@pytest.fixture
def results_dirs(tmp_path) -> list[Path]:
    """Two runs on SynthPose-C (standard and a more robust one) with attacks + stability."""
    out = []
    for name, method, clean, rob in (("std", "standard", 70.0, 1.0),
                                     ("adv", "advmix", 71.0, 1.4)):
        s = make_summary(method=method, clean=clean, robustness=rob, attacks=True,
                         stability=True)
        d = tmp_path / "runs" / name
        d.mkdir(parents=True)
        (d / "summary.json").write_text(json.dumps(s))
        out.append(d)
    return out
