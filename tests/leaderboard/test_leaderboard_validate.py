"""`validate`: every kind of bad leaderboard file gives a message naming the file and line."""
from __future__ import annotations

import pytest

from robustpose_bench.leaderboard import CORRUPTION_SCHEMA, read_table, validate
from robustpose_bench.leaderboard.csvfile import render_csv
from robustpose_bench.leaderboard.schema import (
    BENCHMARK_CORRUPTIONS,
    check_cell,
    mean_consistent,
    schema_for,
)


def edit(csv, line: int, **cells):
    """Rewrite data row number `line` (1-based file line) of `csv` with new cells."""
    t = read_table(csv)
    t.rows[line - 2].update(cells)
    csv.write_text(render_csv(t.schema, t.rows))


def test_committed_board_is_valid(board):
    assert validate([board]) == []


@pytest.mark.parametrize("cells,message", [
    (dict(rPC="70.0"), "rPC=70.0 but 100 * mPC / clean = 100 * 40.7 / 59.0 = 68.98"),
    (dict(mPC="41.2", rPC="69.8"), "mPC=41.2 but the mean of the 15 corruptions is 40.740"),
    (dict(clean="abc"), "clean='abc' is not a number"),
    (dict(clean="101.0"), "outside 0..100"),
    (dict(params="1.5M"), "params='1.5M' is not a non-negative integer"),
    (dict(input_size="256 x 192"), "input_size='256 x 192' is not HxW"),
    (dict(date="May 2021"), "date='May 2021' is not YYYY"),
    (dict(source="copied"), "source='copied'"),
    (dict(paper=""), "paper is empty (required for reported rows)"),
    (dict(model=""), "model is empty"),
    (dict(metric="PCKh"), "metric=PCKh but coco-c.csv holds AP results"),
    (dict(metric="mAP"), "metric='mAP'"),
    (dict(boxes=" gt"), "leading/trailing spaces"),
])
def test_bad_cells(board, cells, message):
    csv = board / "coco-c.csv"
    edit(csv, 2, **cells)
    problems = validate([csv])
    assert any(message in p for p in problems), problems
    assert all(p.startswith(f"{csv}:2: ") for p in problems), problems


def test_measured_rows_need_provenance_and_two_decimals(board):
    csv = board / "synthpose-c.csv"
    row = {c: "" for c in CORRUPTION_SCHEMA.names}
    row.update(model="m", method="Standard", metric="AP", clean="70.0", mPC="49.00",
               rPC="70.00", boxes="gt", protocol="robustpose", source="measured",
               date="2025-01-02")
    csv.write_text(render_csv(CORRUPTION_SCHEMA, [row]))
    problems = validate([csv])
    assert any("clean=70.0: measured numbers have 2 decimals" in p for p in problems)
    assert any("version is empty (required for measured rows)" in p for p in problems)
    assert any("manifest_sha256 is empty" in p for p in problems)
    row.update(clean="70.00", version="0.1.0", manifest_sha256="ab" * 32)
    csv.write_text(render_csv(CORRUPTION_SCHEMA, [row]))
    assert validate([csv]) == []
    row.update(manifest_sha256="XY" * 32)
    csv.write_text(render_csv(CORRUPTION_SCHEMA, [row]))
    assert any("64 lowercase hex" in p for p in validate([csv]))


def test_duplicate_keys(board):
    csv = board / "ochuman-c.csv"
    t = read_table(csv)
    csv.write_text(render_csv(t.schema, [*t.rows, dict(t.rows[0])]))
    problems = validate([csv])
    assert len(problems) == 1
    assert f"{csv}:9: duplicate key" in problems[0] and "first on line 2" in problems[0]


def test_bad_header(board):
    csv = board / "mpii-c.csv"
    lines = csv.read_text().splitlines()
    lines[0] = lines[0].replace(",rPC,", ",rpc,")
    csv.write_text("\n".join(lines) + "\n")
    (problem,) = validate([csv])
    assert str(csv) in problem and "missing columns ['rPC']" in problem
    assert "unknown columns ['rpc']" in problem


def test_ragged_row_and_empty_file(board):
    csv = board / "mpii-c.csv"
    csv.write_text(csv.read_text() + "a,b,c\n")
    (problem,) = validate([csv])
    assert f"{csv}:12: 3 cells" in problem
    empty = board / "empty.csv"
    empty.write_text("")
    assert any("empty file" in p for p in validate([empty]))


def test_no_files(tmp_path):
    assert validate([tmp_path]) == ["no leaderboard CSV files given or found"]


def test_schema_helpers():
    assert schema_for("coco-occlusion.csv").kind == "occlusion"
    assert schema_for("x/coco-c.csv").kind == "corruption"
    assert schema_for("whatever.csv", CORRUPTION_SCHEMA.names) is CORRUPTION_SCHEMA
    assert len(BENCHMARK_CORRUPTIONS) == 15
    assert check_cell(CORRUPTION_SCHEMA.column("seed"), "1") is None
    assert mean_consistent("40.7", ["40.7"] * 15)
    assert not mean_consistent("40.9", ["40.7"] * 15)


def test_corruption_names_match_the_corruption_package():
    try:
        from robustpose_bench.corruptions import CORRUPTIONS
    except ImportError:
        pytest.skip("robustpose_bench.corruptions not available")
    assert tuple(CORRUPTIONS) == BENCHMARK_CORRUPTIONS


def test_docs_describe_every_column():
    from pathlib import Path

    from robustpose_bench.leaderboard.schema import OCCLUSION_SCHEMA

    doc = (Path(__file__).resolve().parents[2] / "docs" / "leaderboard.md").read_text()
    for col in CORRUPTION_SCHEMA.names + [c for c in OCCLUSION_SCHEMA.names if "/" not in c]:
        if col in BENCHMARK_CORRUPTIONS[1:-1]:
            continue  # documented as the range gaussian_noise ... jpeg_compression
        assert f"`{col}`" in doc, col
