"""`robustpose evaluate` end to end on SynthPose: user adapters from the CLI, summary.json,
resumption, shards + merge, bad adapters, missing rendered files, a zoo model on CPU."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROBUSTPOSE = [sys.executable, "-m", "robustpose_bench.cli.main"]
ORACLE = str(Path(__file__).with_name("oracle_adapter.py"))


def _cli(*args, **kw):
    return subprocess.run([*ROBUSTPOSE, *map(str, args)], capture_output=True, text=True, **kw)


def _data(synthpose_val):
    return synthpose_val["ann_file"], synthpose_val["image_root"]


def test_user_adapter_full_75_conditions(synthpose_val, tmp_path):
    ann, images = _data(synthpose_val)
    out = tmp_path / "oracle"
    res = _cli("evaluate", "--model", f"{ORACLE}:OracleAdapter", "--model-arg", f"ann={ann}",
               "--ann", ann, "--images", images, "--on-the-fly", "--out", out, "--no-progress")
    assert res.returncode == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metric"] == "AP" and summary["clean"] == pytest.approx(100.0)
    assert len(summary["per_condition"]) == 15
    assert all(len(v) == 5 for v in summary["per_condition"].values())
    assert summary["mPC"] == pytest.approx(100.0) and summary["rPC"] == pytest.approx(100.0)
    assert summary["partial"] is False
    assert summary["model"]["spec"].endswith("OracleAdapter")
    assert summary["dataset"]["num_images"] == 12 and len(summary["manifest"]["sha256"]) == 64
    csv = (out / "per_condition.csv").read_text().splitlines()
    assert csv[0] == "condition,corruption,severity,AP" and len(csv) == 2 + 75
    # results files people can read
    results = json.loads((out / "conditions/fog/3/results.json").read_text())
    assert results and set(results[0]) == {"image_id", "category_id", "keypoints", "score"}


def test_detected_boxes_and_rendered_benchmark_equal_on_the_fly(synthpose_val, tmp_path):
    ann, images = _data(synthpose_val)
    bench = tmp_path / "bench"
    res = _cli("generate", "--ann", ann, "--images", images, "--out", bench, "--corruptions",
               "gaussian_noise,contrast", "--severities", "2,5", "--no-progress")
    assert res.returncode == 0, res.stderr
    common = ["--model", f"{ORACLE}:OracleAdapter", "--model-arg", f"ann={ann}",
              "--model-arg", "jitter=3", "--ann", ann, "--images", images,
              "--boxes", synthpose_val["detections"], "--corruptions", "gaussian_noise,contrast",
              "--severities", "2,5", "--allow-partial", "--no-progress"]
    r1 = _cli("evaluate", *common, "--corrupted", bench, "--out", tmp_path / "a")
    r2 = _cli("evaluate", *common, "--on-the-fly", "--out", tmp_path / "b")
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    a = json.loads((tmp_path / "a/summary.json").read_text())
    b = json.loads((tmp_path / "b/summary.json").read_text())
    assert a["per_condition"] == b["per_condition"] and a["clean"] == b["clean"]
    assert a["manifest"]["sha256"] == b["manifest"]["sha256"]
    assert a["boxes"].endswith("_detections.json") and a["partial"] is True
    assert 0 < a["clean"] < 100  # detections: false positives and jittered boxes


def test_missing_rendered_file_names_condition_and_suggests_generate(synthpose_val, tmp_path):
    ann, images = _data(synthpose_val)
    bench = tmp_path / "bench"
    assert _cli("generate", "--ann", ann, "--images", images, "--out", bench, "--corruptions",
                "snow", "--severities", "1", "--no-progress").returncode == 0
    victim = sorted((bench / "snow/1").iterdir())[3]
    victim.unlink()
    res = _cli("evaluate", "--model", f"{ORACLE}:OracleAdapter", "--model-arg", f"ann={ann}",
               "--ann", ann, "--images", images, "--corrupted", bench, "--corruptions", "snow",
               "--severities", "1", "--allow-partial", "--out", tmp_path / "o", "--no-progress")
    assert res.returncode != 0
    assert "snow/1" in res.stderr and victim.name in res.stderr
    assert "robustpose generate" in res.stderr


@pytest.mark.parametrize("mode, needle", [
    ("shape", r"last axis has 2 values, expected 3"),
    ("k", "16 keypoints per person, the data set has 17"),
    ("nan", "person 0, keypoint 3: x is nan"),
])
def test_bad_adapter_output_names_adapter_and_sample(synthpose_val, tmp_path, mode, needle):
    import re

    ann, images = _data(synthpose_val)
    res = _cli("evaluate", "--model", f"{ORACLE}:BrokenAdapter", "--model-arg", f"mode={mode}",
               "--ann", ann, "--images", images, "--corruptions", "none", "--out",
               tmp_path / "o", "--no-progress")
    assert res.returncode != 0
    assert "adapter BrokenAdapter, image 1 (val_000000.jpg)" in res.stderr
    assert re.search(needle, res.stderr), res.stderr


def test_shards_merge_equals_single_run(synthpose_val, tmp_path):
    ann, images = _data(synthpose_val)
    common = ["--model", f"{ORACLE}:OracleAdapter", "--model-arg", f"ann={ann}",
              "--model-arg", "jitter=2", "--ann", ann, "--images", images, "--on-the-fly",
              "--corruptions", "motion_blur", "--severities", "1,4", "--allow-partial",
              "--no-progress"]
    assert _cli("evaluate", *common, "--out", tmp_path / "full").returncode == 0
    for i in range(2):
        r = _cli("evaluate", *common, "--shard", f"{i}/2", "--out", tmp_path / f"s{i}")
        assert r.returncode == 0 and not (tmp_path / f"s{i}/summary.json").exists(), r.stderr
    r = _cli("merge", tmp_path / "s0", tmp_path / "s1", "--out", tmp_path / "merged",
             "--no-progress")
    assert r.returncode == 0, r.stderr
    full = json.loads((tmp_path / "full/summary.json").read_text())
    merged = json.loads((tmp_path / "merged/summary.json").read_text())
    assert merged["per_condition"] == full["per_condition"] and merged["clean"] == full["clean"]
    r = _cli("merge", tmp_path / "s0", "--out", tmp_path / "m2")
    assert r.returncode != 0 and "do not cover" in r.stderr


def test_zoo_model_sweep_resumes_after_kill(synthpose_val, tmp_path):
    from robustpose_bench.models import create_model
    from robustpose_bench.models.checkpoint import save_checkpoint

    ann, images = _data(synthpose_val)
    out = tmp_path / "zoo"
    # random weights, saved: a zoo model without a checkpoint would get new random weights in
    # the resumed run, whose fingerprint then (rightly) differs from the killed run's
    ckpt = save_checkpoint(create_model("sbl_r18"), tmp_path / "sbl_r18.safetensors")
    args = ["evaluate", "--model", "zoo:sbl_r18", "--model-arg", "input_size=96x128",
            "--model-arg", f"checkpoint={ckpt}",
            "--ann", ann, "--images", images, "--on-the-fly", "--corruptions",
            "gaussian_noise,defocus_blur,pixelate", "--allow-partial", "--batch-size", "16",
            "--stability", "--stability-corruptions", "speckle_noise", "--out", out,
            "--no-progress"]
    proc = subprocess.Popen([*ROBUSTPOSE, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 180
    while time.time() < deadline and len(list(out.glob("conditions/**/score.json"))) < 3:
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(out.glob("conditions/**/score.json"))
    assert 3 <= len(done) < 1 + 15 + 5, [str(p) for p in done]
    stamps = {p: p.stat().st_mtime_ns for p in done}
    res = _cli(*args)
    assert res.returncode == 0, res.stderr
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # not recomputed
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["per_condition"]) == {"gaussian_noise", "defocus_blur", "pixelate"}
    assert 0.0 <= summary["clean"] <= 100.0
    assert summary["model"]["params"] > 1_000_000
    stab = summary["stability"]
    assert set(stab) == {f"speckle_noise/{s}" for s in range(1, 6)}
    for entry in stab.values():
        assert 0.0 <= entry["RUC"] <= 1.0 and entry["R"] >= 0.0
        # the zoo adapter exposes heatmaps: D_n / D_(1)(2) of clean and perturbed copies
        assert entry["heatmaps"]["clean"]["D_n"] >= 0.0
        assert entry["heatmaps"]["perturbed"]["num_heatmaps"] > 0


def test_bottom_up_adapter_and_image_mode_attacks(synthpose_val, tmp_path):
    ann, images = _data(synthpose_val)
    grid = tmp_path / "grid.yaml"
    grid.write_text("name: g\ndataset: synthpose\nattacks:\n  - name: k\n    targets: nose\n"
                    "    modes: blackout\n")
    out = tmp_path / "bu"
    res = _cli("evaluate", "--model", f"{ORACLE}:BottomUpOracle", "--model-arg", f"ann={ann}",
               "--ann", ann, "--images", images, "--corruptions", "none", "--attacks", grid,
               "--allow-partial", "--out", out, "--no-progress")
    assert res.returncode == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clean"] == pytest.approx(100.0)
    assert summary["protocol"]["attack_mode"] == "image"
    assert summary["attacks"]["blackout/nose"]["AP"] == pytest.approx(100.0)
    # the reference per-keypoint AP counts persons without a labelled nose as misses
    assert 50.0 < summary["attacks"]["blackout/nose"]["AP_keypoint"] < 100.0
    assert summary["attacks"]["blackout/nose"]["counts"]["total"] > 0
