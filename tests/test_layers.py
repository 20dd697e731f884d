"""The import-linter contracts of pyproject.toml (layers, no cycles) hold, and they are not
vacuous: an upward import planted in a copy of the package breaks them."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_contracts_hold():
    res = _lint(REPO)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 kept, 0 broken" in res.stdout


def test_contracts_catch_an_upward_import_and_a_cycle(tmp_path):
    shutil.copytree(REPO / "robustpose_bench", tmp_path / "robustpose_bench",
                    ignore=shutil.ignore_patterns("__pycache__", "assets", "configs"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / "robustpose_bench" / "results.py").open("a") as fh:
        fh.write("\nimport robustpose_bench.report.markdown  # noqa\n")
    with (tmp_path / "robustpose_bench" / "adapters" / "args.py").open("a") as fh:
        fh.write("\nimport robustpose_bench.adapters.loading  # noqa\n")
    res = _lint(tmp_path, pythonpath=tmp_path)
    assert res.returncode != 0
    assert "robustpose_bench.results -> robustpose_bench.report.markdown" in res.stdout
    assert "robustpose_bench.adapters" in res.stdout and ".args -> .loading" in res.stdout \
        or ".loading -> .args" in res.stdout
    assert "0 kept, 2 broken" in res.stdout
