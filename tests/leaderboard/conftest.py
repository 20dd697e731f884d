"""Fixtures of the leaderboard tests: summary factory, results folders, a temp leaderboard."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _summary_factory import make_summary  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
LEADERBOARD = REPO / "leaderboard"


@pytest.fixture
def summary_factory():
    return make_summary


@pytest.fixture
def write_results(tmp_path):
    """write_results(summary, name) -> results folder holding summary.json."""
    def _write(summary: dict, name: str = "run") -> Path:
        d = tmp_path / "results" / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "summary.json").write_text(json.dumps(summary))
        return d
    return _write


@pytest.fixture
def board(tmp_path) -> Path:
    """A copy of the committed leaderboard CSV files; the SynthPose file keeps only its header
    (its committed rows come from `robustpose demo`), so tests start from a known state."""
    d = tmp_path / "leaderboard"
    d.mkdir()
    for f in LEADERBOARD.glob("*.csv"):
        shutil.copy(f, d / f.name)
    header = (LEADERBOARD / "synthpose-c.csv").read_text().splitlines()[0]
    (d / "synthpose-c.csv").write_text(header + "\n")
    return d
