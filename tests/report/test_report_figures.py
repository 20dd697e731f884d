"""Report figures carry the numbers they are given; `make_report` writes PNG + SVG figures and
a markdown report with the right tables; `robustpose report` CLI."""
from __future__ import annotations

import json
import re

import pytest
from _summary_factory import CORRUPTIONS, make_summary
from click.testing import CliRunner
from PIL import Image

from robustpose_bench.cli.main import cli
from robustpose_bench.report import figures as F
from robustpose_bench.report import load_run, make_report
from robustpose_bench.results import SummaryError

EXPECTED = ["synthpose_per_corruption", "synthpose_severity", "synthpose_clean_vs_rpc",
            "synthpose_attacks_keypoint", "synthpose_attacks_part", "synthpose_stability"]


def bar_heights(ax) -> list[float]:
    """Heights of the bars (bar containers only, not the shaded category spans)."""
    return [float(p.get_height()) for c in ax.containers for p in c]


def test_per_corruption_bars_carry_the_numbers():
    a = {c: 10.0 + i for i, c in enumerate(CORRUPTIONS)}
    b = {c: 50.0 - i for i, c in enumerate(CORRUPTIONS)}
    fig = F.plot_per_corruption({"A": a, "B": b}, "AP")
    ax = fig.axes[0]
    heights = bar_heights(ax)
    assert heights == [a[c] for c in CORRUPTIONS] + [b[c] for c in CORRUPTIONS]
    assert [t.get_text() for t in ax.get_xticklabels()][:3] == ["Gauss", "Shot", "Impulse"]
    assert ax.get_ylabel().startswith("AP (%)")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["A", "B"]


def test_severity_and_rpc_figures():
    fig = F.plot_severity({"A": {1: 60.0, 2: 50.0, 3: 40.0, 4: 30.0, 5: 20.0}}, "PCKh",
                          clean={"A": 80.0})
    line = fig.axes[0].lines[0]
    assert list(line.get_xdata()) == [0, 1, 2, 3, 4, 5]
    assert list(line.get_ydata()) == [80.0, 60.0, 50.0, 40.0, 30.0, 20.0]
    assert "PCKh@0.5 (%)" in fig.axes[0].get_ylabel()
    fig = F.plot_clean_vs_rpc([{"label": "x", "clean": 74.4, "rPC": 71.3, "group": "256x192"},
                               {"label": "y", "clean": 75.1, "rPC": 71.6, "group": "384x288"}])
    ax, ax2 = fig.axes
    assert bar_heights(ax) == [71.3, 71.6] and ax.get_ylim()[0] == 0.0
    assert list(ax2.lines[0].get_ydata()) == [74.4, 75.1]


def test_attack_and_stability_figures():
    fig = F.plot_attack_losses({"m": {"blackout": {"nose": 5.0, "left_eye": 1.0},
                                      "blur": {"nose": 1.2, "left_eye": 0.3}}},
                               ["nose", "left_eye"], "keypoint")
    ax = fig.axes[0]
    assert bar_heights(ax) == [5.0, 1.0, 1.2, 0.3]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["nose", "L. eye"]
    fig = F.plot_stability({"m": ([1, 2, 3], [0.2, 0.5, 1.0])}, {"m": {"spatter/1": 0.6}})
    assert list(fig.axes[0].lines[0].get_ydata()) == [20.0, 50.0, 100.0]
    assert bar_heights(fig.axes[1]) == [0.6]


def test_make_report(tmp_path, results_dirs):
    out = tmp_path / "report"
    path = make_report(results_dirs, out)
    assert path == out / "report.md"
    text = path.read_text()
    for stem in EXPECTED:
        for ext in ("png", "svg"):
            f = out / "figures" / f"{stem}.{ext}"
            assert f.stat().st_size > 5000, f
        assert f"](figures/{stem}.png)" in text and f"(figures/{stem}.svg)" in text
        with Image.open(out / "figures" / f"{stem}.png") as im:
            assert im.width >= 600 and im.height >= 300
        assert (out / "figures" / f"{stem}.svg").read_text().lstrip().startswith("<?xml")
    # the numbers in the tables are the runs' numbers
    std = json.loads((results_dirs[0] / "summary.json").read_text())
    adv = json.loads((results_dirs[1] / "summary.json").read_text())
    row = re.search(r"^\| hrnet_w16_small Standard \| 256x192 \| (.*)$", text, re.M).group(1)
    cells = [c.strip() for c in row.split("|")]
    assert cells[:3] == ["70.00", f"{std['mPC']:.2f}", f"{std['rPC']:.2f}"]
    assert cells[3] == f"{std['per_category']['noise']:.2f}"
    # sorted by mPC: the more robust run first
    assert text.index("| hrnet_w16_small AdvMix | 256x192") < text.index(
        "| hrnet_w16_small Standard | 256x192")
    fog = re.search(r"^\| fog \| (.*)$", text, re.M).group(1)
    assert [c.strip() for c in fog.split("|")][:2] == [
        f"{std['per_corruption']['fog']:.2f}", f"{adv['per_corruption']['fog']:.2f}"]
    assert f"| blackout/nose | {70.0 - 5.0:.2f} |" in text
    assert "### Stability (R and RUC)" in text


def test_report_handles_partial_and_attack_only_runs(tmp_path):
    s = make_summary(missing=[f"fog/{k}" for k in range(1, 6)])
    a = make_summary(dataset="coco", attacks=True)
    a.pop("per_condition")
    for name, data in (("partial", s), ("attacks", a)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(data))
    run = load_run(tmp_path / "partial")
    assert run.partial and "fog" not in run.per_corruption and len(run.per_corruption) == 14
    path = make_report([tmp_path / "partial", tmp_path / "attacks"], tmp_path / "out",
                       formats=["svg"])
    text = path.read_text()
    assert "no (partial)" in text and "## coco (AP)" in text
    assert (tmp_path / "out" / "figures" / "coco_attacks_part.svg").exists()
    assert not (tmp_path / "out" / "figures" / "coco_per_corruption.svg").exists()


def test_report_errors(tmp_path):
    with pytest.raises(SummaryError, match="no summary.json"):
        make_report([tmp_path], tmp_path / "out")
    with pytest.raises(SummaryError, match="no results folders"):
        make_report([], tmp_path / "out")


def test_report_cli(tmp_path, results_dirs):
    res = CliRunner().invoke(cli, ["-q", "report", *map(str, results_dirs), "--out",
                                   str(tmp_path / "r"), "--format", "svg"])
    assert res.exit_code == 0, res.output
    assert "report.md" in res.output
    assert (tmp_path / "r" / "figures" / "synthpose_severity.svg").exists()
    assert not (tmp_path / "r" / "figures" / "synthpose_severity.png").exists()
    res = CliRunner().invoke(cli, ["report", str(results_dirs[0]), "--out", str(tmp_path),
                                   "--format", "gif"])
    assert res.exit_code == 2 and "unknown format" in res.output


def test_stability_table_names_the_perturbation_set(tmp_path, results_dirs):
    """Each stability row says which perturbation set its numbers used (summary.json
    metric_options.stability_set; a run without a named set is 'custom')."""
    adv = results_dirs[1] / "summary.json"
    summary = json.loads(adv.read_text())
    summary["metric_options"] = {**(summary.get("metric_options") or {}),
                                 "stability_set": "stable-heatmap"}
    adv.write_text(json.dumps(summary))
    text = make_report(results_dirs, tmp_path / "report").read_text()
    first = next(iter(summary["stability"]))
    assert f"| hrnet_w16_small AdvMix | stable-heatmap | {first} |" in text
    assert f"| hrnet_w16_small Standard | custom | {first} |" in text
