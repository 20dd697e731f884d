"""`robustpose corruptions`: listing and corrupting one image."""
from __future__ import annotations

import json

import numpy as np
from _corruption_data import natural_image
from click.testing import CliRunner
from PIL import Image

from robustpose_bench.cli.main import cli
from robustpose_bench.corruptions import ALL_CORRUPTIONS, corrupt


def test_list():
    res = CliRunner().invoke(cli, ["corruptions"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert [ln.split()[0] for ln in lines[1:]] == list(ALL_CORRUPTIONS)
    assert "glass_blur         blur     benchmark yes" in res.output
    assert "saturate           digital  extra     no" in res.output
    res = CliRunner().invoke(cli, ["corruptions", "--json"])
    rows = json.loads(res.output)
    assert [r["name"] for r in rows] == list(ALL_CORRUPTIONS)
    assert rows[0] == {"name": "gaussian_noise", "category": "noise", "set": "benchmark",
                       "random": True, "params": [0.08, 0.12, 0.18, 0.26, 0.38]}


def test_corrupt_one_image(tmp_path):
    img = natural_image(50, 70)
    src = tmp_path / "in.png"
    Image.fromarray(img).save(src)
    out = tmp_path / "sub" / "out.png"
    res = CliRunner().invoke(cli, ["corruptions", "--image", str(src), "--corruption", "snow",
                                   "--severity", "4", "--seed", "7", "--out", str(out)])
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(np.asarray(Image.open(out)), corrupt(img, "snow", 4, seed=7))
    jpg = tmp_path / "out.jpg"
    res = CliRunner().invoke(cli, ["corruptions", "--image", str(src), "--corruption", "fog",
                                   "--severity", "1", "--out", str(jpg), "--quality", "90"])
    assert res.exit_code == 0 and Image.open(jpg).format == "JPEG"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["in.png", "out.jpg", "out.png", "sub"]


def test_errors(tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(natural_image(40, 40)).save(src)
    run = CliRunner().invoke
    res = run(cli, ["corruptions", "--image", str(src), "--corruption", "rain", "--severity",
                    "1", "--out", str(tmp_path / "o.png")])
    assert res.exit_code == 2 and "unknown corruption 'rain'; valid: gaussian_noise" in res.output
    res = run(cli, ["corruptions", "--image", str(src), "--corruption", "fog", "--severity", "6",
                    "--out", str(tmp_path / "o.png")])
    assert res.exit_code == 2 and "severity must be one of 1, 2, 3, 4, 5" in res.output
    res = run(cli, ["corruptions", "--image", str(src), "--corruption", "fog"])
    assert res.exit_code == 2 and "--severity, --out" in res.output
    res = run(cli, ["corruptions", "--image", str(src), "--corruption", "fog", "--severity", "1",
                    "--out", str(tmp_path / "o.bmp")])
    assert res.exit_code == 2 and ".png, .jpg or .jpeg" in res.output
    res = run(cli, ["corruptions", "--corruption", "fog"])
    assert res.exit_code == 2 and "need --image" in res.output
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    res = run(cli, ["corruptions", "--image", str(bad), "--corruption", "fog", "--severity", "1",
                    "--out", str(tmp_path / "o.png")])
    assert res.exit_code == 2 and "bad.png: cannot decode image" in res.output
    assert not (tmp_path / "o.png").exists()
