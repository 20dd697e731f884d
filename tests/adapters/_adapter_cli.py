"""Run `robustpose evaluate` in a subprocess on the SynthPose fixture (family end-to-end tests)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def evaluate(synthpose_val: dict, model: str, out: Path, *model_args: str,
             env: dict | None = None) -> tuple[subprocess.CompletedProcess, dict | None]:
    """`robustpose evaluate --model MODEL --corruptions none` on the clean split; returns the
    process and summary.json (None when it was not written)."""
    cmd = [sys.executable, "-m", "robustpose_bench.cli.main", "evaluate", "--model", model,
           "--ann", str(synthpose_val["ann_file"]), "--images", str(synthpose_val["image_root"]),
           "--corruptions", "none", "--allow-partial", "--device", "cpu", "--out", str(out), "--no-progress"]
    for arg in model_args:
        cmd += ["--model-arg", arg]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                         env={**os.environ, **(env or {})}, check=False)
    summary = out / "summary.json"
    return res, (json.loads(summary.read_text()) if summary.is_file() else None)


def clean_ap(summary: dict) -> float:
    """The clean AP of a summary (a number in [0, 100])."""
    value = summary["clean"]
    value = value.get("AP", value) if isinstance(value, dict) else value
    return float(value)
