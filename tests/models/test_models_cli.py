"""`robustpose models [PATTERN]`: table and JSON listing of the zoo."""
from __future__ import annotations

import json

from click.testing import CliRunner

from robustpose_bench.cli.models import command


def test_models_table_and_json():
    runner = CliRunner()
    res = runner.invoke(command, ["hrnet*"])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0].split()[:4] == ["name", "family", "backbone", "input"]
    w32 = next(ln for ln in lines if ln.startswith("hrnet_w32 "))
    assert "192x256" in w32 and "28.54M" in w32 and "28.5M" in w32
    assert not any(ln.startswith("sbl_") for ln in lines)
    res = runner.invoke(command, ["sbl_r50", "--json", "-k", "16"])
    rows = json.loads(res.output)
    assert rows[0]["name"] == "sbl_r50" and rows[0]["input_size"] == [192, 256]
    assert rows[0]["params"] == 33_999_697 - 257  # one keypoint fewer: 256 weights + 1 bias
    res = runner.invoke(command, ["nothing*"])
    assert res.exit_code != 0 and "no zoo model matches" in res.output
