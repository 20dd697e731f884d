"""`robustpose score` through the installed console script, in a real subprocess."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _metric_cases import gt_dict, near, person

ROBUSTPOSE = Path(sys.executable).parent / "robustpose"


def run(*args: str | Path) -> subprocess.CompletedProcess:
    exe = [str(ROBUSTPOSE)] if ROBUSTPOSE.exists() else [sys.executable, "-m",
                                                        "robustpose_bench.cli.main"]
    return subprocess.run(exe + ["score", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("score")
    rng = np.random.default_rng(4)
    anns = [person(1, (100, 100, 100, 200), rng), person(2, (50, 50, 200, 300), rng),
            person(2, (300, 60, 80, 160), rng)]
    res = [near(a, rng, 3, float(s)) for a, s in zip(anns, (0.9, 0.8, 0.7), strict=True)]
    res.append(near(anns[1], rng, 30, 0.5))
    (d / "gt.json").write_text(json.dumps(gt_dict([1, 2, 3], anns)))
    (d / "res.json").write_text(json.dumps(res))
    (d / "empty.json").write_text("[]")
    bad = json.loads(json.dumps(res))
    bad[2]["image_id"] = 77
    (d / "bad.json").write_text(json.dumps(bad))
    nan = json.loads(json.dumps(res))
    nan[1]["score"] = float("nan")
    (d / "nan.json").write_text(json.dumps(nan))
    short = json.loads(json.dumps(res))
    short[3]["keypoints"] = short[3]["keypoints"][:50]
    (d / "short.json").write_text(json.dumps(short))
    neg = json.loads(json.dumps(res))
    neg[0]["score"] = -1.0
    (d / "neg.json").write_text(json.dumps(neg))
    (d / "dup.json").write_text(json.dumps(res + [res[1]]))
    return d


def test_ap_json_and_table(files):
    p = run("--ann", files / "gt.json", "--results", files / "res.json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["metric"] == "ap" and out["options"]["backend"] == "native"
    assert set(out["scores"]) == {"AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75",
                                  "ARM", "ARL"}
    assert 0 < out["scores"]["AP"] <= 1
    from robustpose_bench.metrics.coco import evaluate_keypoints

    assert out["scores"] == evaluate_keypoints(files / "gt.json", files / "res.json")
    p2 = run("--ann", files / "gt.json", "--results", files / "res.json", "--backend",
             "pycocotools", "--no-use-area", "--sigmas", "coco")
    assert p2.returncode == 0, p2.stderr
    assert json.loads(p2.stdout)["scores"] == evaluate_keypoints(
        files / "gt.json", files / "res.json", use_area=False, backend="pycocotools")
    t = run("--ann", files / "gt.json", "--results", files / "res.json", "--table")
    assert t.returncode == 0 and "AP50" in t.stdout and "percent" in t.stdout


def test_empty_results_give_zero(files):
    p = run("--ann", files / "gt.json", "--results", files / "empty.json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["scores"]["AP"] == 0.0


def test_bad_input_names_the_record(files):
    p = run("--ann", files / "gt.json", "--results", files / "bad.json")
    assert p.returncode != 0 and "results[2].image_id" in p.stderr and "77" in p.stderr
    assert "Traceback" not in p.stderr
    p = run("--ann", files / "gt.json", "--results", files / "nan.json")
    assert p.returncode != 0 and "results[1].score" in p.stderr
    for name, where in (("short.json", "results[3].keypoints"), ("neg.json", "results[0].score"),
                        ("dup.json", "results[4].keypoints")):
        p = run("--ann", files / "gt.json", "--results", files / name)
        assert p.returncode != 0 and where in p.stderr, (name, p.stderr)
    p = run("--ann", files / "gt.json", "--results", files / "nan.json", "--nan-policy", "drop")
    assert p.returncode == 0
    p = run("--ann", files / "gt.json", "--results", files / "res.json", "--backend", "zzz")
    assert p.returncode != 0 and "unknown AP backend" in p.stderr
    p = run("--ann", files / "gt.json", "--results", files / "res.json", "--sigmas", "1,2")
    assert p.returncode != 0 and "sigmas" in p.stderr


def test_pckh_from_synthpose(synthpose_val, tmp_path):
    recs = json.loads(Path(synthpose_val["mpii_file"]).read_text())
    preds = [{"image": r["image"], "joints": (np.array(r["joints"]) - 1.0).tolist()} for r in recs]
    (tmp_path / "preds.json").write_text(json.dumps(preds))
    p = run("--ann", synthpose_val["mpii_file"], "--gt-mat", synthpose_val["mpii_gt_mat"],
            "--results", tmp_path / "preds.json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["metric"] == "pckh" and out["scores"]["PCKh"] == 1.0
    t = run("--ann", synthpose_val["mpii_gt_mat"], "--results", tmp_path / "preds.json",
            "--table")
    assert t.returncode == 0 and "Shoulder" in t.stdout and "100.00" in t.stdout
    (tmp_path / "short.json").write_text(json.dumps(preds[:-1]))
    p = run("--ann", synthpose_val["mpii_gt_mat"], "--results", tmp_path / "short.json")
    assert p.returncode != 0 and "predictions for" in p.stderr
