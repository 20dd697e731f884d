"""`robustpose leaderboard add|validate|build` through the real CLI group."""
from __future__ import annotations

from _summary_factory import make_summary
from click.testing import CliRunner

from robustpose_bench.cli.main import cli
from robustpose_bench.leaderboard import read_table


def run(*args: str):
    return CliRunner().invoke(cli, ["-q", *map(str, args)], catch_exceptions=False)


def test_validate_ok_and_failing(board):
    res = run("leaderboard", "validate", board)
    assert res.exit_code == 0, res.output
    assert "OK: 5 file(s) valid" in res.output
    csv = board / "mpii-c.csv"
    csv.write_text(csv.read_text().replace("88.5,77.5,87.6", "88.5,77.5,80.6", 1))
    res = run("leaderboard", "validate", board)
    assert res.exit_code == 1
    assert f"{csv}:2: rPC=80.6 but 100 * mPC / clean" in res.output
    assert "1 problem(s) found" in res.output


def test_validate_missing_path(tmp_path):
    res = run("leaderboard", "validate", tmp_path / "nope.csv")
    assert res.exit_code == 2 and "no such file or folder" in res.output


def test_add_twice_then_build(tmp_path, board, write_results):
    results = write_results(make_summary())
    csv = board / "synthpose-c.csv"
    res = run("leaderboard", "add", results, "--csv", csv, "--name", "tiny", "--method",
              "AdvMix")
    assert res.exit_code == 0, res.output
    assert "added tiny / AdvMix" in res.output
    res = run("leaderboard", "add", results, "--csv", csv, "--name", "tiny", "--method",
              "AdvMix")
    assert "unchanged" in res.output
    assert len(read_table(csv).rows) == 1
    res = run("leaderboard", "build", "--dir", board, "--out", tmp_path / "site",
              "--no-figures")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "site" / "index.html").exists()
    assert "**tiny**" in (tmp_path / "site" / "README.md").read_text()


def test_add_refuses_partial(board, write_results):
    results = write_results(make_summary(missing=["fog/1"]))
    res = run("leaderboard", "add", results, "--csv", board / "synthpose-c.csv")
    assert res.exit_code == 2
    assert "1 of 75 benchmark conditions missing (fog/1)" in res.output
    res = run("leaderboard", "add", results, "--csv", board / "synthpose-c.csv",
              "--allow-partial")
    assert res.exit_code == 0, res.output
