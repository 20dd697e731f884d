"""Issue 12 item 5: attacks measure the occlusion alone.

Before: image-mode attacked images were JPEG-95 re-encoded in memory (and on disk when asked)
while the clean baseline was not, so the round trip alone moved a real model's AP. Now attack
sets are PNG by default and in-memory attacks are used as drawn: an attack that changes no
pixel scores exactly the clean AP.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from _faults_helpers import run_cli

from robustpose_bench.datasets import load_coco
from robustpose_bench.datasets.meta import COCO
from robustpose_bench.render.benchmark import attack_benchmark
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.image import apply_condition, render_in_memory_with_info
from robustpose_bench.render.imageio import read_image
from robustpose_bench.render.protocol import get_protocol

ORACLE = str(Path(__file__).resolve().parents[1] / "evaluation" / "oracle_adapter.py")


def test_in_memory_attack_is_lossless_and_equals_the_default_file(synthpose_val, tmp_path):
    ds = load_coco(synthpose_val["ann_file"], synthpose_val["image_root"])
    jpg = get_protocol("robustpose")  # corruptions' protocol: JPEG 95
    cond = Condition.attack("blackout", "nose")
    manifest, _ = attack_benchmark(ds, tmp_path / "att", [cond], progress=False)
    assert manifest["format"] == "png" and manifest["quality"] is None
    changed = 0
    for s in ds.samples:
        image = read_image(ds.image_path(s))
        drawn, info = apply_condition(image, cond, jpg, s.file_name, s.persons, ds.meta)
        mem, mem_info = render_in_memory_with_info(image, cond, jpg, s.file_name, s.persons,
                                                   ds.meta)
        np.testing.assert_array_equal(mem, drawn)
        assert mem_info == info
        disk = read_image(tmp_path / "att/blackout/nose" / s.file_name.replace(".jpg", ".png"))
        np.testing.assert_array_equal(disk, mem)
        # pixels differ from the source only where a person was attacked
        changed += int(np.any(mem != image))
        if not info["counts"]["attacked"]:
            np.testing.assert_array_equal(mem, image)
    assert changed > 0


def test_attack_that_changes_no_pixel_scores_exactly_the_clean_ap(synthpose_val, tmp_path):
    # nobody's left ear is labelled: the left-ear attack skips every person, draws nothing
    data = json.loads(Path(synthpose_val["ann_file"]).read_text())
    ear = COCO.keypoint_names.index("left_ear")
    for a in data["annotations"]:
        a["keypoints"][3 * ear: 3 * ear + 3] = [0, 0, 0]
        a["num_keypoints"] = sum(1 for v in a["keypoints"][2::3] if v > 0)
    ann = tmp_path / "synthpose_val_noear.json"
    ann.write_text(json.dumps(data))
    grid = tmp_path / "grid.yaml"
    grid.write_text("name: g\ndataset: synthpose\nattacks:\n  - name: k\n    targets: left_ear\n"
                    "    modes: blackout\n")
    out = tmp_path / "eval"
    res = run_cli("evaluate", "--model", f"{ORACLE}:OracleAdapter", "--model-arg",
                  f"ann={ann}", "--model-arg", "jitter=40", "--ann", ann, "--images",
                  synthpose_val["image_root"], "--corruptions", "none", "--attacks", grid,
                  "--attack-mode", "image", "--allow-partial", "--out", out, "--no-progress")
    assert res.returncode == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    attack = summary["attacks"]["blackout/left_ear"]
    assert attack["counts"]["attacked"] == 0 and attack["counts"]["total"] > 0
    # the jitter makes predictions depend on the pixels: a JPEG round trip would move the AP
    assert summary["clean"] < 100.0
    assert attack["AP"] == summary["clean"]
