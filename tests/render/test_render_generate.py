"""Rendering a corrupted benchmark: layout, manifest, verify, resumption, protocols, bad input."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from robustpose_bench.datasets import load_coco
from robustpose_bench.render.benchmark import (
    generate_benchmark,
    parse_corruptions,
    parse_severities,
)
from robustpose_bench.render.conditions import Condition, parse_condition
from robustpose_bench.render.image import render_in_memory
from robustpose_bench.render.imageio import read_image
from robustpose_bench.render.manifest import read_index, read_manifest, verify
from robustpose_bench.render.protocol import derive_seed, get_protocol

ROBUSTPOSE = [sys.executable, "-m", "robustpose_bench.cli.main"]


def _cli(*args, **kw):
    return subprocess.run([*ROBUSTPOSE, *map(str, args)], capture_output=True, text=True, **kw)


def test_seed_derivation_is_stable_and_distinct():
    a = derive_seed(0, "img.jpg", "fog", 3)
    assert a == derive_seed(0, "img.jpg", "fog", 3)
    assert len({a, derive_seed(1, "img.jpg", "fog", 3), derive_seed(0, "b.jpg", "fog", 3),
                derive_seed(0, "img.jpg", "snow", 3), derive_seed(0, "img.jpg", "fog", 4)}) == 5
    assert 0 <= a < 2**32
    assert get_protocol("advmix").call_seed("x.jpg", "fog", 2) == 1
    assert get_protocol("advmix").severity_folder(1) == "0"


def test_condition_ids_round_trip():
    for c in (Condition.clean(), Condition.corruption("fog", 3), Condition.attack("blur", "nose"),
              Condition.attack("blackout", "nose", 12.0)):
        assert parse_condition(c.id) == c
    with pytest.raises(ValueError, match="cannot parse"):
        parse_condition("fog")


def test_parse_rejects_unknown_names_with_valid_list():
    with pytest.raises(ValueError, match="unknown corruption 'fgo'; valid: gaussian_noise"):
        parse_corruptions("fog,fgo")
    with pytest.raises(ValueError, match="valid: 1, 2, 3, 4, 5"):
        parse_severities("0,3")
    assert len(parse_corruptions("all")) == 15 and len(parse_corruptions("all+extra")) == 19


def test_generate_layout_manifest_verify_and_memory_equals_disk(tiny_coco, tmp_path):
    ann, images = tiny_coco
    ds = load_coco(ann, images)
    out = tmp_path / "out"
    proto = get_protocol("robustpose")
    manifest, report = generate_benchmark(ds, out, ["gaussian_noise", "fog"], [1, 5], proto,
                                          progress=False)
    assert report.rendered == 4 * 2 * 2 and not report.failed
    assert (out / "fog" / "5" / "sub" / "img_001.jpg").is_file()
    assert manifest["num_files"] == 16 and manifest["protocol"] == "robustpose"
    assert manifest["ann_sha256"] and len(manifest["benchmark_sha256"]) == 64
    assert set(read_index(out)) == {str(p.relative_to(out)) for p in out.rglob("*.jpg")}
    assert verify(out).ok
    # the in-memory render is the decoded on-disk file, pixel for pixel
    s = ds.samples[1]
    cond = Condition.corruption("gaussian_noise", 5)
    mem = render_in_memory(read_image(ds.image_path(s)), cond, proto, s.file_name)
    disk = read_image(out / "gaussian_noise" / "5" / s.file_name)
    np.testing.assert_array_equal(mem, disk)
    # per-image seeds: the same corruption differs between two images of the same size
    a = read_image(out / "gaussian_noise/5/img_000.jpg").astype(int) - read_image(
        images / "img_000.jpg").astype(int)
    b = read_image(out / "gaussian_noise/5/img_002.jpg").astype(int) - read_image(
        images / "img_002.jpg").astype(int)
    assert np.abs(a - b).mean() > 5


def test_resume_and_verify_detects_mismatches(tiny_coco, tmp_path):
    ann, images = tiny_coco
    ds = load_coco(ann, images)
    out = tmp_path / "out"
    proto = get_protocol("robustpose").with_overrides(format="png")
    generate_benchmark(ds, out, ["contrast"], [2], proto, progress=False)
    f_missing = out / "contrast/2/img_000.png"
    f_changed = out / "contrast/2/img_002.png"
    f_missing.unlink()
    f_changed.write_bytes(f_changed.read_bytes()[:-10] + b"0123456789")
    (out / "contrast/2/stray.png").write_bytes(b"x")
    rep = verify(out)
    assert rep.missing == ["contrast/2/img_000.png"] and rep.changed == ["contrast/2/img_002.png"]
    assert rep.extra == ["contrast/2/stray.png"] and not rep.ok
    res = _cli("verify", out)
    assert res.returncode == 1 and "missing: contrast/2/img_000.png" in res.stdout
    # a half-written file from a killed run is removed; missing files are redone
    (out / "contrast/2/.img_000.png.abc.part").write_bytes(b"half")
    (out / "contrast/2/stray.png").unlink()
    f_changed.unlink()
    _, report = generate_benchmark(ds, out, ["contrast"], [2], proto, progress=False)
    assert report.rendered == 2 and report.skipped == 2
    assert verify(out).ok and not list(out.rglob("*.part"))


def test_advmix_protocol_same_noise_for_same_size(tmp_path, make_tiny_coco):
    ann, images = make_tiny_coco(tmp_path, n=2)
    ds = load_coco(ann, images)
    out = tmp_path / "advmix"
    proto = get_protocol("advmix").with_overrides(format="png")
    generate_benchmark(ds, out, ["gaussian_noise"], [3], proto, progress=False)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["gaussian_noise"]
    assert [p.name for p in (out / "gaussian_noise").iterdir()] == ["2"]
    from robustpose_bench.corruptions import corrupt
    for s in ds.samples:
        src = read_image(ds.image_path(s))
        np.testing.assert_array_equal(read_image(out / "gaussian_noise/2" / s.file_name.replace(
            ".jpg", ".png")), corrupt(src, "gaussian_noise", 3, seed=1))


def test_broken_image_is_reported_and_the_rest_rendered(tiny_coco, tmp_path):
    ann, images = tiny_coco
    (images / "sub/img_001.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "out"
    res = _cli("generate", "--ann", ann, "--images", images, "--out", out, "--corruptions",
               "brightness", "--severities", "1", "--no-progress")
    assert res.returncode == 1, res.stderr
    assert "sub/img_001.jpg" in res.stderr and "cannot decode image" in res.stderr
    assert len(list(out.rglob("*.jpg"))) == 3
    assert read_manifest(out)["failed"] == ["sub/img_001.jpg"]
    assert _cli("verify", out).returncode == 1


def test_unknown_corruption_and_readonly_output(tiny_coco, tmp_path):
    ann, images = tiny_coco
    res = _cli("generate", "--ann", ann, "--images", images, "--out", tmp_path / "o",
               "--corruptions", "fogg")
    assert res.returncode != 0 and "valid: gaussian_noise" in res.stderr
    res = _cli("generate", "--ann", ann, "--images", images, "--out", tmp_path / "o",
               "--severities", "7")
    assert res.returncode != 0 and "valid: 1, 2, 3, 4, 5" in res.stderr
    if os.geteuid() == 0:
        pytest.skip("root ignores read-only permissions")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        res = _cli("generate", "--ann", ann, "--images", images, "--out", ro / "x",
                   "--corruptions", "brightness", "--severities", "1", "--no-progress")
        assert res.returncode != 0 and "cannot write" in res.stderr
    finally:
        ro.chmod(0o700)


def test_readonly_output_via_full_path(tiny_coco, tmp_path):
    """Writing under a path blocked by a file fails with a clear message, no partial files."""
    ann, images = tiny_coco
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    res = _cli("generate", "--ann", ann, "--images", images, "--out", blocker / "out",
               "--corruptions", "brightness", "--severities", "1", "--no-progress")
    assert res.returncode != 0
    assert "blocker" in res.stderr and "Traceback" not in res.stderr


def test_killed_generate_resumes_and_verifies(tmp_path, make_tiny_coco):
    ann, images = make_tiny_coco(tmp_path, n=12, size=(96, 128))
    out = tmp_path / "out"
    args = ["generate", "--ann", ann, "--images", images, "--out", out, "--corruptions",
            "glass_blur,zoom_blur,elastic_transform", "--no-progress"]
    proc = subprocess.Popen([*ROBUSTPOSE, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.rglob("*.jpg"))) < 20:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len(list(out.rglob("*.jpg")))
    assert 0 < n_before < 12 * 15, n_before
    assert not (out / "manifest.json").exists()
    res = _cli(*args)
    assert res.returncode == 0, res.stderr
    assert f"{12 * 15 - n_before} rendered" in res.stderr or "rendered" in res.stderr
    assert len(list(out.rglob("*.jpg"))) == 12 * 15
    assert _cli("verify", out).returncode == 0


def test_dask_backend_matches_processes(tiny_coco, tmp_path):
    pytest.importorskip("dask.distributed")
    from dask.distributed import LocalCluster

    ann, images = tiny_coco
    ds = load_coco(ann, images)
    proto = get_protocol("robustpose")
    generate_benchmark(ds, tmp_path / "a", ["shot_noise"], [2], proto, jobs=2, progress=False)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                      host="127.0.0.1", dashboard_address=":0") as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        generate_benchmark(ds, tmp_path / "b", ["shot_noise"], [2], proto, backend="dask",
                           scheduler=cluster.scheduler_address, progress=False)
    assert read_index(tmp_path / "a") == read_index(tmp_path / "b")


def test_manifest_definition_cli(tmp_path, make_tiny_coco):
    ann, images = make_tiny_coco(tmp_path / "data" / "tiny", n=2)
    definition = tmp_path / "tiny-c.yaml"
    definition.write_text("name: tiny-c\ndataset: coco\nannotations: tiny/person_keypoints_tiny.json\n"
                          "images: tiny/images\noutput: tiny-c\ncorruptions: [pixelate]\n"
                          "severities: [2]\nprotocol: robustpose\nseed: 7\nformat: png\n")
    res = _cli("generate", "--manifest", definition, "--root", tmp_path / "data", "--no-progress")
    assert res.returncode == 0, res.stderr
    m = json.loads((tmp_path / "data/tiny-c/manifest.json").read_text())
    assert m["benchmark"] == "tiny-c" and m["seed"] == 7 and m["format"] == "png"
    assert (tmp_path / "data/tiny-c/pixelate/2/img_000.png").is_file()
