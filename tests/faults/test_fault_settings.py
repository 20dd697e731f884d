"""Issue 11 item 2: a folder belongs to one set of settings.

Before: `generate --seed 5 --quality 20` into a folder rendered with seed 0 / quality 95
printed "0 rendered, 48 already present" and rewrote the manifest to vouch for settings that
were never used. Now it is refused naming each difference; --force re-renders everything;
new corruptions with equal settings extend the folder.
"""
from __future__ import annotations

import json
import shutil

import pytest
from _faults_helpers import run_cli

from robustpose_bench.datasets import load_coco
from robustpose_bench.render.benchmark import attack_benchmark, generate_benchmark
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.manifest import read_index, read_manifest, verify
from robustpose_bench.render.protocol import get_protocol
from robustpose_bench.render.resume import SettingsMismatchError


def _gen(ann, images, out, *extra):
    return run_cli("generate", "--ann", ann, "--images", images, "--out", out, "--no-progress",
                   *extra)


def test_other_seed_and_quality_are_refused_then_forced(small_set, tmp_path):
    ann, images = small_set
    out = tmp_path / "out"
    assert _gen(ann, images, out, "--corruptions", "gaussian_noise", "--severities", "2"
                ).returncode == 0
    before = (out / "manifest.json").read_bytes(), read_index(out)
    res = _gen(ann, images, out, "--corruptions", "gaussian_noise", "--severities", "2",
               "--seed", "5", "--quality", "20")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    error = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert error == [f"Error: {out} was rendered with other settings (seed 0 in the folder, "
                     f"5 now; quality 95 in the folder, 20 now); re-render everything with "
                     f"--force, or choose another output folder"]
    assert ((out / "manifest.json").read_bytes(), read_index(out)) == before  # untouched
    # --force: every file is rendered with the new settings, like a fresh folder
    res = _gen(ann, images, out, "--corruptions", "gaussian_noise", "--severities", "2",
               "--seed", "5", "--quality", "20", "--force")
    assert res.returncode == 0, res.stderr
    fresh = tmp_path / "fresh"
    assert _gen(ann, images, fresh, "--corruptions", "gaussian_noise", "--severities", "2",
                "--seed", "5", "--quality", "20").returncode == 0
    assert read_index(out) == read_index(fresh) != before[1]
    m = read_manifest(out)
    assert (m["seed"], m["quality"]) == (5, 20)
    assert m["benchmark_sha256"] == read_manifest(fresh)["benchmark_sha256"]
    assert verify(out).ok


def test_new_corruptions_with_equal_settings_extend_the_folder(small_set, tmp_path):
    ann, images = small_set
    ds = load_coco(ann, images)
    proto = get_protocol("robustpose")
    out = tmp_path / "out"
    generate_benchmark(ds, out, ["fog"], [1, 2], proto, progress=False)
    _, report = generate_benchmark(ds, out, ["snow"], [4], proto, progress=False)
    assert (report.rendered, report.skipped) == (4, 8)
    m = read_manifest(out)
    assert m["conditions"] == ["fog/1", "fog/2", "snow/4"]
    assert len(read_index(out)) == 12 and verify(out).ok
    # the extended folder equals one rendered in one go
    whole = tmp_path / "whole"
    generate_benchmark(ds, whole, ["fog"], [1, 2], proto, progress=False,
                       extra_conditions=[Condition.corruption("snow", 4)])
    assert read_index(whole) == read_index(out)
    assert read_manifest(whole)["benchmark_sha256"] == m["benchmark_sha256"]


def test_other_annotation_engine_and_kind_are_refused(small_set, tmp_path):
    ann, images = small_set
    ds = load_coco(ann, images)
    proto = get_protocol("robustpose")
    out = tmp_path / "out"
    generate_benchmark(ds, out, ["fog"], [1], proto, progress=False)
    # another annotation file (same images, one keypoint moved)
    other = tmp_path / "other.json"
    data = json.loads(ann.read_text())
    data["annotations"][0]["keypoints"][0] += 1.0
    other.write_text(json.dumps(data))
    with pytest.raises(SettingsMismatchError, match=r"ann_sha256 [0-9a-f]{12} in the folder, "
                                                     r"[0-9a-f]{12} now"):
        generate_benchmark(load_coco(other, images), out, ["fog"], [1], proto, progress=False)
    # a folder rendered by another engine version (e.g. another Pillow: other JPEG bytes)
    m = json.loads((out / "manifest.json").read_text())
    m["engine"]["pillow"] = "1.0.0"
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(SettingsMismatchError, match=r"engine pillow 1\.0\.0 in the folder"):
        generate_benchmark(ds, out, ["fog"], [1], proto, progress=False)
    # attacks into a corruption folder
    with pytest.raises(SettingsMismatchError, match="kind corruption in the folder, attack now"):
        attack_benchmark(ds, out, [Condition.attack("blackout", "nose")], proto, progress=False)
    # a manifest from before `engine` was recorded: its versions stand in for it
    del m["engine"]
    m["versions"]["pillow"] = "1.0.0"
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(SettingsMismatchError, match=r"engine pillow 1\.0\.0 in the folder"):
        generate_benchmark(ds, out, ["fog"], [1], proto, progress=False)


def test_forced_run_onto_another_annotation_removes_files_it_no_longer_owns(small_set, tmp_path):
    ann, images = small_set
    out = tmp_path / "out"
    proto = get_protocol("robustpose").with_overrides(format="png")
    generate_benchmark(load_coco(ann, images), out, ["contrast"], [1], proto, progress=False)
    fewer = tmp_path / "fewer.json"
    data = json.loads(ann.read_text())
    data["images"] = data["images"][:2]
    data["annotations"] = data["annotations"][:2]
    fewer.write_text(json.dumps(data))
    _, report = generate_benchmark(load_coco(fewer, images), out, ["contrast"], [1], proto,
                                   force=True, progress=False)
    assert (report.rendered, report.removed) == (2, 2)
    assert verify(out).ok and len(read_index(out)) == 2


def test_damaged_manifest_is_one_line_with_the_way_out(small_set, tmp_path):
    ann, images = small_set
    out = tmp_path / "out"
    assert _gen(ann, images, out, "--corruptions", "fog", "--severities", "1").returncode == 0
    (out / "manifest.json").write_text("{ not json")
    res = _gen(ann, images, out, "--corruptions", "fog", "--severities", "1")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "manifest.json: unreadable manifest" in res.stderr and "--force" in res.stderr
    res = run_cli("verify", out)
    assert res.returncode == 2 and "unreadable manifest" in res.stderr
    assert _gen(ann, images, out, "--corruptions", "fog", "--severities", "1", "--force"
                ).returncode == 0
    assert verify(out).ok
    shutil.rmtree(out)
