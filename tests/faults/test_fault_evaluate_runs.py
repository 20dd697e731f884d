"""Issue 11 items 3, 4 and the evaluation half of "resume checks what it keeps": an evaluation
run belongs to one model and one benchmark.

Before: model A then model B into one --out kept A's finished conditions under B's name (and
`leaderboard add` took it); a checkpoint rewritten in place was not noticed; `--corrupted`
rendered from another annotation file scored silently; shards of different runs could be
merged as long as run.json matched. Now every stored condition carries the run's fingerprint
(evaluation/fingerprint.py) and a mismatch is refused naming the difference, or recomputed
with --force.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from _faults_helpers import ROBUSTPOSE, run_cli

import robustpose_bench as rpb
from robustpose_bench.cli._common import EXIT_USER
from robustpose_bench.evaluation import merge_shards
from robustpose_bench.evaluation.errors import RunMismatchError
from robustpose_bench.leaderboard import add_results
from robustpose_bench.leaderboard.schema import LeaderboardError
from robustpose_bench.render.manifest import JOURNAL
from robustpose_bench.results import fingerprint_problems

ADAPTERS = Path(__file__).with_name("_fault_adapters.py")
ORACLE = f"{ADAPTERS}:PoseOracle"
NUMBERS = ("clean", "clean_metrics", "mPC", "rPC", "per_condition", "per_corruption",
           "partial", "missing")


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def _scores(out: Path) -> dict[str, float]:
    return {p.parent.relative_to(out / "conditions").as_posix(): p.stat().st_mtime_ns
            for p in (out / "conditions").rglob("score.json")}


def _evaluate(ann, images, out, *extra, jitter=0.0):
    return run_cli("evaluate", "--model", ORACLE, "--model-arg", f"ann={ann}", "--model-arg",
                   f"jitter={jitter}", "--ann", ann, "--images", images, "--corruptions",
                   "fog,snow", "--severities", "1", "--allow-partial", "--out", out,
                   "--no-progress", *extra)


def test_model_a_then_model_b_is_refused_then_forced(small_set, tmp_path):
    ann, images = small_set
    out = tmp_path / "run"
    assert _evaluate(ann, images, out).returncode == 0
    a_summary = json.loads((out / "summary.json").read_text())
    stamps = _scores(out)
    assert set(stamps) == {"clean", "fog/1", "snow/1"}
    res = _evaluate(ann, images, out, jitter=3)  # model B: the same class, other weights
    assert res.returncode == EXIT_USER and "Traceback" not in res.stderr
    assert _errors(res.stderr) == [
        f"Error: {out} holds 3 condition(s) measured by another run (model.args.jitter 0.0 in "
        f"the folder, 3 now); recompute everything with --force, or choose another output "
        f"folder"]
    assert _scores(out) == stamps  # nothing touched
    assert json.loads((out / "summary.json").read_text()) == a_summary
    res = _evaluate(ann, images, out, "--force", jitter=3)
    assert res.returncode == 0, res.stderr
    assert all(_scores(out)[c] != t for c, t in stamps.items())  # every condition recomputed
    b_alone = tmp_path / "b"
    assert _evaluate(ann, images, b_alone, jitter=3).returncode == 0
    forced = json.loads((out / "summary.json").read_text())
    fresh = json.loads((b_alone / "summary.json").read_text())
    assert {k: forced[k] for k in NUMBERS} == {k: fresh[k] for k in NUMBERS}
    assert forced["fingerprint"] == fresh["fingerprint"] != a_summary["fingerprint"]
    assert forced["per_condition"] != a_summary["per_condition"]  # B really differs from A


def test_extra_conditions_with_the_same_fingerprint_extend_the_run(small_set, tmp_path):
    ann, images = small_set
    data = rpb.load_dataset(ann, images)
    model = dict(model=ORACLE, model_args={"ann": str(ann), "jitter": "2"})
    out = tmp_path / "run"
    rpb.evaluate(model["model"], data, "fog/1", model_args=model["model_args"], out=out)
    stamps = _scores(out)
    more = rpb.evaluate(model["model"], data, "fog/1,snow/2", model_args=model["model_args"],
                        out=out, batch_size=1)  # batch size is not part of the fingerprint
    assert _scores(out)["fog/1"] == stamps["fog/1"] and "snow/2" in _scores(out)
    assert set(more.per_condition) == {"fog", "snow"}


def test_adapter_objects_are_told_apart_by_their_fingerprint(small_set, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("_fault_adapters_obj", ADAPTERS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ann, images = small_set
    data = rpb.load_dataset(ann, images)
    a, b = module.PoseOracle(str(ann), jitter=0), module.PoseOracle(str(ann), jitter=2)
    for adapter in (a, b):
        adapter.fingerprint = lambda adapter=adapter: {"jitter": adapter.jitter}
    out = tmp_path / "obj"
    rpb.evaluate(a, data, "fog/1", out=out)
    with pytest.raises(RunMismatchError, match=r"model.adapter_fingerprint.jitter 0.0 in the "
                                               r"folder, 2.0 now"):
        rpb.evaluate(b, data, "fog/1", out=out)


def test_changed_checkpoint_at_the_same_path_is_refused(small_set, tmp_path):
    from robustpose_bench.models import create_model
    from robustpose_bench.models.checkpoint import save_checkpoint

    ann, images = small_set
    data = rpb.load_dataset(ann, images)
    ckpt = tmp_path / "model.safetensors"
    save_checkpoint(create_model("hrnet_w16_small"), ckpt)
    args = {"checkpoint": str(ckpt), "flip_test": "false"}
    out = tmp_path / "run"
    first = rpb.evaluate("zoo:hrnet_w16_small", data, "none", model_args=args, out=out)
    assert first.model["checkpoint_sha256"] == first.fingerprint["fields"]["model"][
        "checkpoint_sha256"]
    save_checkpoint(create_model("hrnet_w16_small"), ckpt)  # same path, other bytes
    with pytest.raises(RunMismatchError) as info:
        rpb.evaluate("zoo:hrnet_w16_small", data, "none", model_args=args, out=out)
    msg = str(info.value)
    assert msg.startswith(f"{out} holds 1 condition(s) measured by another run "
                          "(model.checkpoint_sha256 ")
    assert msg.endswith("now); recompute everything with force=True, or choose another output "
                        "folder") and "\n" not in msg
    again = rpb.evaluate("zoo:hrnet_w16_small", data, "none", model_args=args, out=out,
                         force=True)
    assert again.fingerprint["sha256"] != first.fingerprint["sha256"]


def test_corrupted_folder_must_match_the_annotation_file(small_set, tmp_path):
    ann, images = small_set
    bench = tmp_path / "bench"
    assert run_cli("generate", "--ann", ann, "--images", images, "--out", bench, "--corruptions",
                   "fog", "--severities", "1", "--no-progress").returncode == 0
    other = tmp_path / "other.json"
    data = json.loads(ann.read_text())
    data["annotations"][0]["keypoints"][0] += 1.0  # same images, other ground truth
    other.write_text(json.dumps(data))
    res = run_cli("evaluate", "--model", ORACLE, "--model-arg", f"ann={ann}", "--ann", other,
                  "--images", images, "--corrupted", bench, "--corruptions", "fog",
                  "--severities", "1", "--allow-partial", "--out", tmp_path / "o",
                  "--no-progress")
    assert res.returncode == EXIT_USER and "Traceback" not in res.stderr
    from robustpose_bench.io import sha256_file

    assert _errors(res.stderr) == [
        f"Error: {bench} was rendered from another annotation file: its manifest records "
        f"ann_sha256 {sha256_file(ann)}, {other} has {sha256_file(other)}; evaluate with the "
        f"annotation file it was rendered from, or render this one"]
    assert not (tmp_path / "o" / "conditions").exists()
    # the right annotation file, but conditions the folder lacks / an unfinished folder /
    # another protocol than the folder's
    dataset = rpb.load_dataset(ann, images)
    oracle = {"model_args": {"ann": str(ann)}}
    with pytest.raises(ValueError, match=r"does not hold 1 requested condition\(s\) \(snow/1\); "
                                         r"render them with `robustpose generate`"):
        rpb.evaluate(ORACLE, dataset, "fog/1,snow/1", rendered=bench, **oracle)
    with pytest.raises(ValueError, match="was rendered with protocol robustpose, not advmix"):
        rpb.evaluate(ORACLE, dataset, "fog/1", rendered=bench, protocol="advmix", **oracle)
    (bench / JOURNAL).write_text("# robustpose render journal {}\n")
    with pytest.raises(ValueError, match=f"{bench} is unfinished: an interrupted `robustpose "
                                         f"generate` left {JOURNAL}"):
        rpb.evaluate(ORACLE, dataset, "fog/1", rendered=bench, **oracle)
    (bench / JOURNAL).unlink()
    ok = rpb.evaluate(ORACLE, dataset, "fog/1", rendered=bench, **oracle)
    assert ok.protocol["on_the_fly"] is False and ok.per_condition == {"fog": {"1": 100.0}}


def test_leaderboard_add_refuses_a_folder_of_mixed_runs(small_set, tmp_path):
    ann, images = small_set
    data = rpb.load_dataset(ann, images)
    runs = {}
    for name, jitter in (("a", "0"), ("b", "2")):
        runs[name] = tmp_path / name
        rpb.evaluate(ORACLE, data, "fog/1,snow/1", model_args={"ann": str(ann), "jitter": jitter},
                     out=runs[name])
    csv = tmp_path / "lb" / "synthpose-c.csv"
    add_results(runs["a"], csv, allow_partial=True, check_dataset=False, dry_run=True)
    # a folder assembled by hand: B's fog/1 copied over A's
    shutil.rmtree(runs["a"] / "conditions" / "fog" / "1")
    shutil.copytree(runs["b"] / "conditions" / "fog" / "1", runs["a"] / "conditions" / "fog" / "1")
    with pytest.raises(LeaderboardError) as info:
        add_results(runs["a"], csv, allow_partial=True, check_dataset=False)
    assert f"{runs['a'] / 'conditions' / 'fog' / '1'}: measured with fingerprint" in str(info.value)
    assert "re-run the evaluation with --force" in str(info.value) and not csv.exists()
    summary = rpb.Summary.load(runs["a"])
    assert len(fingerprint_problems(summary, runs["a"])) == 1
    (runs["a"] / "conditions" / "snow" / "1" / "fingerprint.json").unlink()
    assert len(fingerprint_problems(summary, runs["a"])) == 2
    # and evaluate itself refuses to resume such a folder
    with pytest.raises(RunMismatchError, match="holds 2 condition"):
        rpb.evaluate(ORACLE, data, "fog/1,snow/1", model_args={"ann": str(ann), "jitter": "0"},
                     out=runs["a"])


def test_merge_refuses_shards_of_another_model(small_set, tmp_path):
    ann, images = small_set
    data = rpb.load_dataset(ann, images)
    for i, jitter in ((0, "1"), (1, "2")):
        rpb.evaluate(ORACLE, data, "fog/1", model_args={"ann": str(ann), "jitter": jitter},
                     shard=(i, 2), out=tmp_path / f"s{i}")
    with pytest.raises(ValueError) as info:
        merge_shards([tmp_path / "s0", tmp_path / "s1"], tmp_path / "m")
    assert str(info.value) == (
        f"{tmp_path / 's1'}: not a shard of the run of {tmp_path / 's0'}: its fingerprint "
        f"differs (model.args.jitter 1 in {tmp_path / 's0'}, 2 in {tmp_path / 's1'})")
    assert not (tmp_path / "m").exists()
    # a shard folder holds its share of the images: another share into it is another run
    with pytest.raises(RunMismatchError, match=r"\(shard \[0, 2\] in the folder, \[1, 2\] now\)"):
        rpb.evaluate(ORACLE, data, "fog/1", model_args={"ann": str(ann), "jitter": "1"},
                     shard=(1, 2), out=tmp_path / "s0")
    rpb.evaluate(ORACLE, data, "fog/1", model_args={"ann": str(ann), "jitter": "1"},
                 shard=(1, 2), out=tmp_path / "s1b")
    merged = merge_shards([tmp_path / "s0", tmp_path / "s1b"], tmp_path / "m")
    whole = rpb.evaluate(ORACLE, data, "fog/1", model_args={"ann": str(ann), "jitter": "1"})
    assert merged.per_condition == whole.per_condition
    assert merged.fingerprint == whole.fingerprint


def test_sigkill_during_evaluate_then_resume_equals_an_uninterrupted_run(small_set, tmp_path):
    ann, images = small_set
    out = tmp_path / "killed"
    args = ["evaluate", "--model", ORACLE, "--model-arg", f"ann={ann}", "--model-arg",
            "jitter=2", "--ann", ann, "--images", images, "--corruptions",
            "fog,snow,contrast,pixelate", "--severities", "2", "--allow-partial", "--stability",
            "--stability-corruptions", "speckle_noise", "--stability-severities", "2",
            "--out", out, "--no-progress"]
    env = {**os.environ, "FAULT_ADAPTER_DELAY": "0.15"}
    proc = subprocess.Popen([*ROBUSTPOSE, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (out / "conditions").exists() and len(_scores(out)) >= 2:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _scores(out)
    assert 2 <= len(done) < 6 and not (out / "summary.json").exists(), done
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    assert {c: t for c, t in _scores(out).items() if c in done} == done  # kept, not redone
    resumed = json.loads((out / "summary.json").read_text())
    whole = rpb.evaluate(ORACLE, rpb.load_dataset(ann, images), "fog,snow,contrast,pixelate",
                         severities=[2], model_args={"ann": str(ann), "jitter": "2"},
                         stability="speckle_noise", stability_severities=[2],
                         out=tmp_path / "whole")
    whole_json = json.loads((tmp_path / "whole" / "summary.json").read_text())
    assert {k: resumed[k] for k in NUMBERS} == {k: whole_json[k] for k in NUMBERS}
    assert resumed["stability"] == whole_json["stability"]
    assert resumed["fingerprint"] == whole_json["fingerprint"] == whole.fingerprint
    for cond in ("clean", "fog/2", "speckle_noise/2"):
        a = (out / "conditions" / cond / "results.json").read_text()
        assert a == (tmp_path / "whole" / "conditions" / cond / "results.json").read_text()
