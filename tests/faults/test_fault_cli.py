"""Issue 11 item 8 (rendering side) and the exit-code convention (docs/errors.md).

Before: `--jobs 0` gave joblib's message, `--radius abc` did not name the option, two images
with the same file_name overwrote each other's renders, an image whose size differs from the
annotation was rendered without a word, and user errors exited 1 though `cli/_common.py`
promised 2.
"""
from __future__ import annotations

import json

import pytest
from _faults_helpers import run_cli
from click.testing import CliRunner

from robustpose_bench.cli._common import EXIT_FINDINGS, EXIT_INTERNAL, EXIT_USER
from robustpose_bench.cli.main import cli
from robustpose_bench.datasets import load_coco
from robustpose_bench.render.benchmark import generate_benchmark
from robustpose_bench.render.jobs import ImageChecks
from robustpose_bench.render.manifest import read_manifest
from robustpose_bench.render.protocol import get_protocol


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def test_jobs_and_radius_are_checked_by_option(small_set, tmp_path):
    ann, images = small_set
    for command, extra in (("generate", ["--corruptions", "fog"]), ("attack", ["--targets", "nose"])):
        res = run_cli(command, "--ann", ann, "--images", images, "--out", tmp_path / "o",
                      *extra, "--jobs", "0")
        assert res.returncode == EXIT_USER and "Traceback" not in res.stderr
        assert _error_lines(res.stderr) == [
            "Error: Invalid value for '--jobs' / '-j': 0: expected a positive number of "
            "processes, or -1 for all cores"]
    res = run_cli("attack", "--ann", ann, "--images", images, "--out", tmp_path / "o",
                  "--targets", "nose", "--radius", "6,abc")
    assert res.returncode == EXIT_USER
    assert _error_lines(res.stderr) == [
        "Error: Invalid value for '--radius': 'abc' is not a number (expected a comma list of "
        "numbers, e.g. 6,12)"]
    assert not (tmp_path / "o").exists()


def test_same_file_name_twice_names_both_records(small_set, tmp_path):
    ann, images = small_set
    data = json.loads(ann.read_text())
    data["images"][2]["file_name"] = data["images"][0]["file_name"]
    dup = tmp_path / "dup.json"
    dup.write_text(json.dumps(data))
    res = run_cli("generate", "--ann", dup, "--images", images, "--out", tmp_path / "o",
                  "--corruptions", "fog", "--severities", "1", "--no-progress")
    assert res.returncode == EXIT_USER and "Traceback" not in res.stderr
    assert _error_lines(res.stderr) == [
        f"Error: {dup}: images id 1 ('img_000.jpg') and id 3 ('img_000.jpg') share the "
        f"file_name 'img_000.jpg'; their renders would overwrite each other"]
    # names that differ only by extension collide once rendered as jpg
    data["images"][2]["file_name"] = "img_000.png"
    dup.write_text(json.dumps(data))
    (images / "img_000.png").write_bytes((images / "img_002.jpg").read_bytes())
    with pytest.raises(ValueError, match="map to the same output 'img_000.jpg'"):
        generate_benchmark(load_coco(dup, images), tmp_path / "o2", ["fog"], [1],
                           get_protocol("robustpose"), progress=False)
    # names that differ only in case are one file on macOS / Windows
    data["images"][2]["file_name"] = "IMG_000.jpg"
    dup.write_text(json.dumps(data))
    (images / "IMG_000.jpg").write_bytes((images / "img_002.jpg").read_bytes())
    with pytest.raises(ValueError, match="differ only in letter case"):
        generate_benchmark(load_coco(dup, images), tmp_path / "o2", ["fog"], [1],
                           get_protocol("robustpose"), progress=False)


def test_size_mismatch_is_an_error_or_a_warning(small_set, tmp_path):
    ann, images = small_set
    data = json.loads(ann.read_text())
    data["images"][1]["width"] = 65  # the file is 64 x 48
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    out = tmp_path / "o"
    res = run_cli("generate", "--ann", bad, "--images", images, "--out", out, "--corruptions",
                  "fog", "--severities", "1", "--no-progress")
    assert res.returncode == EXIT_FINDINGS and "Traceback" not in res.stderr
    assert (f"sub/img_001.jpg: {images / 'sub/img_001.jpg'}: decoded size 64x48 differs from "
            f"the annotation's 65x48 (image id 2)") in res.stderr
    assert read_manifest(out)["failed"] == ["sub/img_001.jpg"]
    _, report = generate_benchmark(load_coco(bad, images), tmp_path / "w", ["fog"], [1],
                                   get_protocol("robustpose"), progress=False,
                                   checks=ImageChecks(size_mismatch="warn"))
    assert report.rendered == 4 and not report.failed
    assert len(report.warnings) == 1 and "decoded size 64x48" in report.warnings[0]
    with pytest.raises(ValueError, match="size_mismatch='ignore'; valid: error, warn"):
        ImageChecks(size_mismatch="ignore")


def test_exit_codes_usage_input_findings(small_set, tmp_path):
    ann, images = small_set
    res = run_cli("generate", "--bogus")  # click usage error
    assert res.returncode == EXIT_USER and "No such option '--bogus'" in res.stderr
    res = run_cli("generate", "--ann", tmp_path / "missing.json", "--images", images,
                  "--out", tmp_path / "o")  # a missing input file
    assert res.returncode == EXIT_USER and "Traceback" not in res.stderr
    assert len(_error_lines(res.stderr)) == 1 and "missing.json" in res.stderr
    out = tmp_path / "ok"
    assert run_cli("generate", "--ann", ann, "--images", images, "--out", out, "--corruptions",
                   "fog", "--severities", "1", "--no-progress").returncode == 0
    (out / "fog/1/img_000.jpg").unlink()
    res = run_cli("verify", out)  # ran, found a problem
    assert res.returncode == EXIT_FINDINGS and "missing: fog/1/img_000.jpg" in res.stdout


def test_unexpected_errors_are_one_line_traceback_with_v(monkeypatch, small_set, tmp_path):
    import robustpose_bench.render.benchmark as benchmark

    def broken(*args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(benchmark, "generate_benchmark", broken)
    ann, images = small_set
    args = ["generate", "--ann", str(ann), "--images", str(images), "--out",
            str(tmp_path / "o"), "--corruptions", "fog", "--severities", "1", "--no-progress"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == EXIT_INTERNAL
    assert "Traceback" not in res.output
    assert _error_lines(res.output) == [
        "Error: internal error: KeyError: 'boom' (run `robustpose -v ...` for the traceback, "
        "and report it)"]
    res = CliRunner().invoke(cli, ["-v", *args])
    assert res.exit_code == EXIT_INTERNAL and "Traceback (most recent call last)" in res.output

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(benchmark, "generate_benchmark", interrupted)
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 130 and "Interrupted." in res.output
