"""Issue 11 items 5, 7 and 8 (evaluation side): every failure of `evaluate` / `score` /
`merge` / `train` is one line naming the file, option, adapter + image + condition, with a
non-zero exit and no traceback; clean-only evaluation works; attack modes say what they do.

Before: a decompression bomb or 0-byte image, `--out` on a read-only file system, `--device
cuda` on a CPU-only torch, `--device tpu9` and an adapter raising RuntimeError gave
tracebacks; an adapter calling sys.exit(0) made `evaluate` exit 0 with no results;
`--corruptions none` failed with `pass allow_partial=True`; `--attack-mode crop` silently
became image mode; `--batch-size 0` was accepted; `score` took an empty result list and GT
records that `generate` refuses without a word; two runs could write one output folder.
"""
from __future__ import annotations

import errno
import json
import logging
from pathlib import Path

import pytest
from _faults_helpers import run_cli
from click.testing import CliRunner
from PIL import Image

import robustpose_bench as rpb
from robustpose_bench.cli._common import EXIT_USER
from robustpose_bench.cli.main import cli
from robustpose_bench.evaluation.errors import PartialRunError
from robustpose_bench.locking import output_lock

ADAPTERS = Path(__file__).with_name("_fault_adapters.py")
REPO = Path(__file__).resolve().parents[2]


def _errors(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("Error:")]


def _eval_args(ann, images, out, model="PoseOracle", *extra):
    return ["evaluate", "--model", f"{ADAPTERS}:{model}", "--model-arg", f"ann={ann}", "--ann",
            str(ann), "--images", str(images), "--corruptions", "none", "--out", str(out),
            "--no-progress", *map(str, extra)]


def _invoke(args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("damage", ["bomb", "empty", "limit"])
def test_hostile_source_images_are_one_line(small_set, tmp_path, damage):
    ann, images = small_set
    victim = images / "sub" / "img_001.jpg"
    extra = []
    if damage == "bomb":  # a 14000 x 14000 PNG named .jpg
        Image.new("L", (14000, 14000)).save(victim, format="PNG")
        want = (f"Error: {victim}: 196,000,000 pixels, above the limit of 64,000,000 (raise "
                f"it with --max-pixels or ROBUSTPOSE_MAX_PIXELS); not decoded")
    elif damage == "empty":
        victim.write_bytes(b"")
        want = f"Error: {victim}: empty file (0 bytes), not an image"
        extra = ["--workers", "1"]  # decoded in a worker process: still the reader's line
    else:
        extra = ["--max-pixels", "1000"]  # 64 x 48 = 3072 pixels per image
        victim = images / "img_000.jpg"
        want = (f"Error: {victim}: 64 x 48 = 3,072 pixels, above the limit of 1,000 (raise it "
                f"with --max-pixels or ROBUSTPOSE_MAX_PIXELS); not decoded")
    res = run_cli(*_eval_args(ann, images, tmp_path / "o", "PoseOracle", *extra))
    assert res.returncode == EXIT_USER and "Traceback" not in res.stderr
    assert _errors(res.stderr) == [want]
    assert not (tmp_path / "o" / "summary.json").exists()


def test_adapter_errors_name_adapter_image_and_condition(small_set, tmp_path):
    ann, images = small_set
    res = run_cli(*_eval_args(ann, images, tmp_path / "o", "RaisingAdapter", "--model-arg",
                              "fail_at=2"))
    assert res.returncode == EXIT_USER and "Traceback" not in res.stderr
    assert _errors(res.stderr) == [
        "Error: adapter RaisingAdapter on image 2 (sub/img_001.jpg) under condition clean: "
        "RuntimeError: CUDA error: an illegal memory access was encountered CUDA kernel errors "
        "might be asynchronously reported"]
    verbose = run_cli("-v", *_eval_args(ann, images, tmp_path / "o", "RaisingAdapter"))
    assert verbose.returncode == EXIT_USER and "Traceback (most recent call last)" in \
        verbose.stderr and "RuntimeError: CUDA error" in verbose.stderr
    # sys.exit(0) inside the adapter, or while it is built: never exit 0 without results
    res = run_cli(*_eval_args(ann, images, tmp_path / "e", "ExitingAdapter"))
    assert res.returncode == EXIT_USER and not (tmp_path / "e" / "summary.json").exists()
    assert _errors(res.stderr) == [
        "Error: adapter ExitingAdapter on image 1 (img_000.jpg) under condition clean: called "
        "sys.exit(0)"]
    res = run_cli(*_eval_args(ann, images, tmp_path / "l", "ExitOnLoad"))
    assert res.returncode == EXIT_USER and not (tmp_path / "l" / "summary.json").exists()
    assert _errors(res.stderr) == [
        f"Error: the model {ADAPTERS}:ExitOnLoad called sys.exit(0) while it was loaded; no "
        f"results were written to {tmp_path / 'l'}"]


def test_devices_batch_size_and_workers_are_checked_by_name(small_set, tmp_path):
    import torch

    ann, images = small_set
    base = _eval_args(ann, images, tmp_path / "o")
    res = _invoke([*base, "--device", "tpu9"])
    assert res.exit_code == EXIT_USER and _errors(res.output) == [
        "Error: device 'tpu9' is not a device torch knows (Invalid device string: 'tpu9'); use "
        "cpu, cuda or cuda:N"]
    if not torch.cuda.is_available():
        res = _invoke([*base, "--device", "cuda"])
        assert res.exit_code == EXIT_USER and _errors(res.output) == [
            f"Error: device 'cuda': this torch has no CUDA support (torch {torch.__version__}); "
            f"use --device cpu" if torch.version.cuda is None else
            f"Error: device 'cuda': no CUDA GPU is visible (torch {torch.__version__}); use "
            f"--device cpu"]
    else:
        res = _invoke([*base, "--device", f"cuda:{torch.cuda.device_count()}"])
        assert res.exit_code == EXIT_USER and "CUDA device(s), numbered from 0" in res.output
    for value in ("0", "-5"):
        res = _invoke([*base, "--batch-size", value])
        assert res.exit_code == EXIT_USER and _errors(res.output) == [
            f"Error: Invalid value for '--batch-size': {value} is not in the range x>=1."]
    res = _invoke([*base, "--workers", "-1"])
    assert res.exit_code == EXIT_USER and "Invalid value for '--workers'" in res.output
    with pytest.raises(ValueError, match="^batch_size must be an integer >= 1, got 0$"):
        rpb.evaluate("synthpose_hrnet_w16_standard", rpb.load_dataset(ann, images), "none",
                     batch_size=0)
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_out_on_a_read_only_file_system(small_set, tmp_path, monkeypatch):
    ann, images = small_set
    out = tmp_path / "ro" / "out"
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if self == out:
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    res = _invoke(_eval_args(ann, images, out))
    assert res.exit_code == EXIT_USER and "Traceback" not in res.output
    assert _errors(res.output) == [
        f"Error: cannot create the output folder {out}: Read-only file system"]


@pytest.mark.skipif(__import__("os").geteuid() == 0, reason="root writes into read-only folders")
def test_out_in_a_folder_without_write_permission(small_set, tmp_path):
    ann, images = small_set
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        res = run_cli(*_eval_args(ann, images, ro / "out"))
    finally:
        ro.chmod(0o755)
    assert res.returncode == EXIT_USER and "Traceback" not in res.stderr
    assert _errors(res.stderr) == [
        f"Error: cannot create the output folder {ro / 'out'}: Permission denied"]


def test_a_second_writer_fails_at_once(small_set, tmp_path):
    import os

    ann, images = small_set
    out = tmp_path / "busy"
    with output_lock(out):
        res = run_cli(*_eval_args(ann, images, out))
        assert res.returncode == EXIT_USER
        assert _errors(res.stderr) == [
            f"Error: {out} is in use by process {os.getpid()}: another robustpose run writes "
            f"there; wait for it to finish or choose another output folder"]
        train = run_cli("train", REPO / "robustpose_bench/configs/synthpose_standard.yaml",
                        "--out", out)
        assert train.returncode == EXIT_USER and _errors(train.stderr) == [
            f"Error: {out} is in use by process {os.getpid()}: another robustpose run writes "
            f"there; wait for it to finish or choose another output folder"]
    assert not (out / "summary.json").exists() and not (out / "config.yaml").exists()


def test_clean_only_and_partial_runs(small_set, tmp_path):
    ann, images = small_set
    out = tmp_path / "clean"
    res = _invoke(_eval_args(ann, images, out))
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.splitlines()[-2]) == {"metric": "AP", "clean": 100.0}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mPC"] is None and summary["partial"] is False and summary["missing"] == []
    # some benchmark corruptions but not all: the CLI names its flag, the API its keyword
    args = _eval_args(ann, images, tmp_path / "p")
    args[args.index("none")] = "fog,snow"
    res = _invoke(args)
    assert res.exit_code == EXIT_USER and "allow_partial" not in res.output
    assert _errors(res.output)[0].endswith(
        "mPC needs all 75: evaluate them, or pass --allow-partial to report a partial result "
        "(marked partial)")
    assert not (tmp_path / "p").exists()  # refused before the model was loaded
    with pytest.raises(PartialRunError, match="pass allow_partial=True to report a partial"):
        rpb.evaluate(f"{ADAPTERS}:PoseOracle", rpb.load_dataset(ann, images), "fog,snow",
                     model_args={"ann": str(ann)}, allow_partial=False)


def test_attack_mode_auto_crop_and_image(small_set, tmp_path):
    ann, images = small_set
    grid = tmp_path / "grid.yaml"
    grid.write_text("name: g\ndataset: coco\nattacks:\n  - name: k\n    targets: nose\n"
                    "    modes: blackout\n")
    data = rpb.load_dataset(ann, images)
    oracle = dict(model_args={"ann": str(ann)}, attacks=str(grid), conditions="none")
    auto = rpb.evaluate(f"{ADAPTERS}:PoseOracle", data, **oracle)
    assert auto.protocol["attack_mode"] == "image"
    assert auto.protocol["attack_mode_requested"] == "auto"
    res = _invoke([*_eval_args(ann, images, tmp_path / "c"), "--attacks", grid,
                   "--attack-mode", "crop"])
    assert res.exit_code == EXIT_USER and _errors(res.output) == [
        "Error: attack mode crop: adapter PoseOracle takes no crop_hook in predict(), so "
        "attacks cannot be drawn on its input crops; use attack mode image (or auto)"]
    crop = rpb.evaluate("synthpose_hrnet_w16_standard", data, attacks=str(grid),
                        conditions="none")
    assert crop.protocol["attack_mode"] == "crop" and crop.attacks["blackout/nose"]["counts"]


def test_score_warns_on_empty_results_and_checks_gt_like_generate(small_set, tmp_path, caplog):
    ann, images = small_set
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    with caplog.at_level(logging.WARNING):
        res = _invoke(["score", "--ann", ann, "--results", empty])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["scores"]["AP"] == 0.0
    assert f"{empty}: the result list is empty: every score is 0" in caplog.text
    data = json.loads(ann.read_text())
    cases = {
        "negative bbox": (lambda d: d["annotations"][1]["bbox"].__setitem__(2, -3.0),
                          "annotations[1].bbox: negative box size w=-3.0"),
        "visibility 7": (lambda d: d["annotations"][2]["keypoints"].__setitem__(5, 7),
                         "annotations[2].keypoints: visibility flags must be 0, 1 or 2, got 7"),
        "empty file_name": (lambda d: d["images"][3].__setitem__("file_name", ""),
                            "images[3].file_name: empty file name"),
        "duplicate annotation id": (lambda d: d["annotations"][3].__setitem__("id", 100),
                                    "annotations[3].id: duplicate annotation id 100 (also "
                                    "annotations[0])"),
    }
    for name, (damage, message) in cases.items():
        bad = tmp_path / f"{name.replace(' ', '_')}.json"
        broken = json.loads(json.dumps(data))
        damage(broken)
        bad.write_text(json.dumps(broken))
        scored = _invoke(["score", "--ann", bad, "--results", empty])
        rendered = _invoke(["generate", "--ann", bad, "--images", images, "--out",
                            tmp_path / "g", "--corruptions", "fog", "--severities", "1",
                            "--no-progress"])
        for res in (scored, rendered):
            assert res.exit_code == EXIT_USER, (name, res.output)
            errors = _errors(res.output)
            assert len(errors) == 1 and errors[0].startswith(f"Error: {bad}: {message}"), \
                (name, errors)
