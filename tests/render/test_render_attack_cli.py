"""`robustpose attack`: image-mode attack sets rendered like corruption benchmarks."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from robustpose_bench.render.imageio import read_image

ROBUSTPOSE = [sys.executable, "-m", "robustpose_bench.cli.main"]


def _cli(*args):
    return subprocess.run([*ROBUSTPOSE, *map(str, args)], capture_output=True, text=True)


def test_attack_cli_renders_layout_notes_and_verifies(synthpose_val, tmp_path):
    ann, images = synthpose_val["ann_file"], synthpose_val["image_root"]
    out = tmp_path / "attack"
    res = _cli("attack", "--ann", ann, "--images", images, "--out", out, "--targets",
               "nose,upper_body", "--modes", "blackout,meanout", "--no-progress")
    assert res.returncode == 0, res.stderr
    folders = sorted(p.relative_to(out).as_posix() for p in out.glob("*/*") if p.is_dir())
    assert folders == ["blackout/nose", "blackout/upper_body", "meanout/nose",
                       "meanout/upper_body"]
    files = sorted((out / "blackout/nose").iterdir())
    assert len(files) == 12 and files[0].suffix == ".png"
    notes = json.loads((out / "attacked_persons.json").read_text())
    per_image = notes["attack/blackout/nose"]
    attacked = sum(v["counts"]["attacked"] for v in per_image.values())
    assert attacked > 0
    # pixels change only where a person was attacked; blackout pixels are exactly 0
    name = next(k for k, v in per_image.items() if v["counts"]["attacked"])
    src = read_image(images / name)
    dst = read_image(out / "blackout/nose" / name.replace(".jpg", ".png"))
    changed = np.any(src != dst, axis=2)
    assert changed.any() and (dst[changed] == 0).all()
    assert changed.sum() == sum(p["pixels"] for p in per_image[name]["persons"]
                                if p["status"] == "attacked")
    assert _cli("verify", out).returncode == 0
    # unknown targets and bad radii are refused with the valid list
    res = _cli("attack", "--ann", ann, "--images", images, "--out", out, "--targets", "nosee")
    assert res.returncode != 0 and "left_eye" in res.stderr
    for bad, needle in (("0", "'0': expected a positive finite number"),
                        ("abc", "'abc' is not a number"), ("nan", "'nan': expected a positive")):
        res = _cli("attack", "--ann", ann, "--images", images, "--out", out, "--targets", "nose",
                   "--radius", bad)
        assert res.returncode == 2 and "Invalid value for '--radius'" in res.stderr
        assert needle in res.stderr and "Traceback" not in res.stderr
