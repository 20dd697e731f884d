"""`build`: README tables sorted by mPC, a self-contained index.html, figures; the committed
README.md / index.html are what `build` makes from the committed CSVs."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from _summary_factory import make_summary

from robustpose_bench.leaderboard import LeaderboardError, add_results, build, read_table
from robustpose_bench.leaderboard.csvfile import render_csv

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("built")
    return build(REPO / "leaderboard", out), out


def md_tables(text: str, heading: str) -> list[list[str]]:
    """Data rows (cells) of the markdown table under `heading`."""
    lines = text.splitlines()
    i = lines.index(heading)
    rows = []
    for line in lines[i + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("| ") and not line.startswith("| #"):
            rows.append([c.strip() for c in line.strip("|").split(" | ")])
    return rows


def test_readme_sections_sorted_by_mpc(built):
    paths, out = built
    text = paths["readme"].read_text()
    det = md_tables(text, "### COCO-C: detected boxes "
                          "(`COCO_val2017_detections_AP_H_56_person.json`)")
    # rank, model, method, backbone, input, clean, mPC, rPC, source
    assert det[0][1:8] == ["HRNet", "AdvMix", "HRNet-W48", "256x192", "75.4", "57.1", "75.7"]
    mpcs = [float(r[6]) for r in det]
    assert mpcs == sorted(mpcs, reverse=True) and len(det) == 20
    # Table 1 and Table 2 print the same SBL-R50 result: one entry citing both tables
    sbl = [r for r in det if r[3] == "ResNet-50" and r[4] == "256x192" and r[2] == "Standard"]
    assert len(sbl) == 1 and sbl[0][8].endswith("Tables 1, 2")
    gt = md_tables(text, "### COCO-C: ground-truth boxes")
    assert [r[2] for r in gt[:2]] == ["Stylized + AdvMix", "AdvMix"] and len(gt) == 13
    bu = md_tables(text, "### COCO-C: bottom-up (no person boxes)")
    assert bu[0][1:7] == ["HrHRNet", "AdvMix", "HrHRNet-W32", "512x512", "68.3", "45.4"]
    mpii = md_tables(text, "### MPII-C: ground-truth boxes")
    assert mpii[0][2:7] == ["AdvMix", "HRNet-W32", "256x256", "90.5", "83.9"]
    assert "## SynthPose-C (`synthpose-c.csv`)" in text
    assert "_No rows yet._" in text or "measured" in text
    for name in ("coco-c_ranking.png", "coco-c_per_corruption.svg", "mpii-c_ranking.svg"):
        assert (out / "figures" / name).stat().st_size > 5000
        assert f"figures/{name}" in text or name.endswith(".svg")


def test_html_is_self_contained(built):
    paths, _ = built
    page = paths["html"].read_text()
    assert "<script>" in page and "<style>" in page
    assert not re.search(r"""(src|href)=["'](https?:|//|/)""", page)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    srcs = re.findall(r'<img[^>]+src="([^"]{0,30})', page)
    assert srcs and all(s.startswith("data:image/") for s in srcs)
    data = json.loads(re.search(r'<script type="application/json" id="leaderboard-data">'
                                r"(.*?)</script>", page, re.S).group(1))
    assert data["coco-c"] == read_table(REPO / "leaderboard" / "coco-c.csv").rows
    first = re.search(r'<table class="lb" id="table-coco-c".*?<tbody>\s*<tr[^>]*>(.*?)</tr>',
                      page, re.S).group(1)
    assert '<td data-col="mPC" class="num">57.1</td>' in first
    assert 'data-col="mPC" data-type="num"' in page


def test_committed_pages_are_up_to_date(built):
    """leaderboard/README.md and index.html must be rebuilt whenever a CSV changes
    (`robustpose leaderboard build`)."""
    paths, _ = built
    committed = REPO / "leaderboard"
    assert (committed / "README.md").read_text() == paths["readme"].read_text()

    def strip(page: str) -> str:  # figures may differ by renderer version, not the data
        return re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "data:", page)

    assert strip((committed / "index.html").read_text()) == strip(paths["html"].read_text())


def test_build_is_deterministic(tmp_path, built):
    """Same CSVs -> byte-identical page and figures (no dates, versions or random ids)."""
    a, a_dir = built
    b = build(REPO / "leaderboard", tmp_path / "b", formats=("svg",))  # the page inlines SVG
    assert a["html"].read_bytes() == b["html"].read_bytes()
    names = sorted(f.name for f in (tmp_path / "b" / "figures").iterdir())
    assert names == sorted(f.name for f in (a_dir / "figures").iterdir() if f.suffix == ".svg")
    for name in names:
        assert (a_dir / "figures" / name).read_bytes() == \
            (tmp_path / "b" / "figures" / name).read_bytes(), name


def test_measured_row_appears_and_ranks(tmp_path, board, write_results):
    s = make_summary(dataset="synthpose", clean=70.0)
    add_results(write_results(s), board / "synthpose-c.csv", name="tiny-net")
    out = build(board, tmp_path / "out", figures=False)
    text = out["readme"].read_text()
    rows = md_tables(text, "### SynthPose-C: ground-truth boxes")
    assert rows[0][1] == "**tiny-net**" and rows[0][5] == "70.00"
    assert rows[0][8].startswith("measured, robustpose 0.1.0, 2025-01-02")
    page = out["html"].read_text()
    assert '<tr class="measured">' in page


def test_build_refuses_invalid_files(tmp_path, board):
    t = read_table(board / "mpii-c.csv")
    t.rows[0]["rPC"] = "99.9"
    (board / "mpii-c.csv").write_text(render_csv(t.schema, t.rows))
    with pytest.raises(LeaderboardError, match=r"mpii-c.csv:2: rPC=99.9"):
        build(board, tmp_path / "out")
