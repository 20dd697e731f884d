"""The Python API: the README examples run as written, in memory (nothing written), and give
the numbers of the CLI on the same inputs; a plain nn.Module is scored from Python; training
validation gives the sweep's clean numbers; bad arguments get one-line errors."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import robustpose_bench as rpb
from robustpose_bench.adapters.base import AdapterError

REPO = Path(__file__).resolve().parents[2]
ROBUSTPOSE = [sys.executable, "-m", "robustpose_bench.cli.main"]
NUMBERS = ("metric", "clean", "clean_metrics", "mPC", "rPC", "per_condition", "per_corruption",
           "per_severity", "per_category", "partial", "num_conditions", "missing")


def readme_examples() -> list[str]:
    """The python blocks of the README's "Python API" section."""
    section = (REPO / "README.md").read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _temp_leftovers(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("robustpose-*")}


def _run_example(code: str, cwd: Path, monkeypatch) -> dict:
    monkeypatch.chdir(cwd)
    namespace: dict = {"__name__": "__readme__"}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
    return namespace


def _cli(*args, **kw):
    return subprocess.run([*ROBUSTPOSE, *map(str, args)], capture_output=True, text=True, **kw)


def _numbers(summary) -> dict:
    data = json.loads(json.dumps(summary.to_json() if hasattr(summary, "to_json") else summary))
    return {k: data.get(k) for k in NUMBERS}


@pytest.fixture(scope="module")
def readme_benchmark(tmp_path_factory):
    """Run the README's benchmark() example in an empty folder: its summary and the files
    that appeared there."""
    examples = readme_examples()
    assert len(examples) >= 2 and "rpb.benchmark(" in examples[0]
    cwd = tmp_path_factory.mktemp("readme_benchmark")
    # a private temp folder: parallel test workers make robustpose-* temp folders of their own
    tmp = tmp_path_factory.mktemp("readme_tmp")
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(tempfile, "tempdir", str(tmp))
        ns = _run_example(examples[0], cwd, mp)
    finally:
        mp.undo()
    return ns["summary"], _files(cwd), _temp_leftovers(tmp)


def test_readme_benchmark_runs_in_memory(readme_benchmark):
    summary, written, leftovers = readme_benchmark
    assert written == set() and leftovers == set()  # nothing written, temp data removed
    assert isinstance(summary, rpb.Summary) and summary.metric == "AP"
    assert set(summary.per_condition) == {"fog", "pixelate"}
    assert summary.partial is True and summary.num_conditions == 2
    assert 0 < summary.clean < 100 and summary.mPC == pytest.approx(
        (summary.per_condition["fog"]["3"] + summary.per_condition["pixelate"]["3"]) / 2)
    assert summary.rPC == pytest.approx(100 * summary.mPC / summary.clean)
    assert summary.model["name"] == "synthpose_hrnet_w16_standard"
    assert summary.validate(allow_partial=True) == []
    assert "synthpose_hrnet_w16_standard on synthpose, AP clean" in str(summary)


def test_readme_benchmark_equals_cli(readme_benchmark, tmp_path):
    """The README's one-liner and the CLI command it names give identical numbers."""
    summary, _, _ = readme_benchmark
    out = tmp_path / "cli"
    res = _cli("evaluate", "--model", "synthpose_hrnet_w16_standard", "--benchmark",
               "synthpose-c", "--gt-boxes", "--corruptions", "fog,pixelate", "--severities", "3",
               "--allow-partial", "--out", out, "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    cli = rpb.Summary.load(out)
    assert _numbers(cli) == _numbers(summary)
    for key in ("model", "protocol", "manifest", "boxes"):
        assert cli.get(key) == json.loads(json.dumps(summary.get(key))), key
    assert cli.dataset["ann_sha256"] == summary.dataset["ann_sha256"]
    assert (out / "data" / "synthpose" / "annotations" / "synthpose_val.json").is_file()
    # the README's sentence names that very command
    assert "--corruptions fog,pixelate --severities 3 --allow-partial" in " ".join(
        (REPO / "README.md").read_text().split())


@pytest.fixture(scope="module")
def module_example(tmp_path_factory):
    """The README's nn.Module example, run in an empty folder."""
    cwd = tmp_path_factory.mktemp("readme_module")
    mp = pytest.MonkeyPatch()
    try:
        ns = _run_example(readme_examples()[1], cwd, mp)
    finally:
        mp.undo()
    return ns, cwd


def test_plain_module_is_scored_without_writing(module_example):
    ns, cwd = module_example
    summary = ns["summary"]
    generated = {f for f in _files(cwd) if f.startswith("data/synthpose/")}
    assert _files(cwd) == generated  # only the data set the example generates itself
    assert set(summary.per_condition) == {"gaussian_noise", "snow"}
    assert summary.per_condition["gaussian_noise"].keys() == {"3"}
    assert summary.per_condition["snow"].keys() == {"2"}
    assert summary.model["input_size"] == [96, 128] and summary.model["params"] > 1_000_000
    assert 0 < summary.clean <= 100


def test_plain_module_equals_cli_and_training_validation(module_example, tmp_path,
                                                         monkeypatch):
    """The nn.Module wrapped by the API, the same weights through the CLI (a shipped model)
    and the trainer's validation give the same numbers."""
    from robustpose_bench.train.validate import validate_model

    ns, cwd = module_example
    summary, data = ns["summary"], ns["data"]
    out = tmp_path / "cli"
    res = _cli("evaluate", "--model", "synthpose_hrnet_w16_standard", "--ann",
               data.ann_file, "--images", data.image_root, "--corruptions",
               "gaussian_noise/3,snow/2", "--allow-partial", "--out", out, "--no-progress",
               cwd=cwd)
    assert res.returncode == 0, res.stderr
    assert _numbers(rpb.Summary.load(out)) == _numbers(summary)
    monkeypatch.chdir(cwd)  # the example's data paths are relative to its folder
    val = validate_model(ns["net"], data, (96, 128), decode="dark")  # the shipped decoder
    assert val == {k: v for k, v in summary.clean_metrics.items() if v is not None}


def test_in_memory_equals_on_disk_and_resumes(synthpose_val, tmp_path):
    data = rpb.load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])
    kw = dict(conditions="motion_blur/2", attacks="attacks-demo",
              stability="speckle_noise", severities=[1], heatmap_images=3)
    mem = rpb.evaluate("synthpose_hrnet_w16_advmix", data, **kw)
    disk = rpb.evaluate("synthpose_hrnet_w16_advmix", data, out=tmp_path / "o", **kw)
    assert _numbers(mem) == _numbers(disk) == _numbers(rpb.Summary.load(tmp_path / "o"))
    assert mem.attacks == json.loads(json.dumps(disk.attacks))
    assert set(mem.attacks) == {"blackout/nose", "meanout/upper_body"}
    assert mem.attacks["blackout/nose"]["counts"]["attacked"] > 0
    assert set(mem.stability) == {"speckle_noise/1"}
    assert mem.stability["speckle_noise/1"]["heatmaps"]["clean"]["num_images"] == 3
    assert mem.stability == json.loads(json.dumps(disk.stability))
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "o").rglob("score.json")}
    again = rpb.evaluate("synthpose_hrnet_w16_advmix", data, out=tmp_path / "o", **kw)
    assert _numbers(again) == _numbers(disk)
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # resumed, not redone


@pytest.mark.parametrize("call, message", [
    (lambda d: rpb.evaluate("synthpose_hrnet_w16_standard", "no-such-bench"),
     "unknown benchmark definition 'no-such-bench'; packaged: attacks, attacks-demo, coco-c"),
    (lambda d: rpb.evaluate("synthpose_hrnet_w16_standard", "coco-c"),
     "benchmark coco-c needs root="),
    (lambda d: rpb.evaluate("synthpose_hrnet_w16_standard", d, "fgo"),
     "unknown corruption 'fgo'; valid: gaussian_noise"),
    (lambda d: rpb.evaluate("synthpose_hrnet_w16_standard", d, "fog/9"),
     "cannot parse condition 'fog/9'"),
    (lambda d: rpb.evaluate("synthpose_hrnet_w16_standard", d, "attack/blackout/tail"),
     "unknown attack target 'tail' for synthpose"),
    (lambda d: rpb.evaluate("synthpose_hrnet_w16_standard", d, boxes="nope.json"),
     "detection file nope.json does not exist"),
    (lambda d: rpb.evaluate(rpb.create_model("hrnet_w16_small"), d),
     "a torch nn.Module needs input_size=(width, height)"),
    (lambda d: rpb.evaluate(object(), d), "model must be an adapter"),
    (lambda d: rpb.evaluate("synthpose_hrnet_w16_standard", d, shard=(0, 2)),
     "a shard run needs an output folder"),
    (lambda d: rpb.evaluate("synthpose_hrnet_w16_standard", d, attack_mode="paint"),
     "attack mode 'paint'; valid: auto, crop, image"),
])
def test_bad_arguments_one_line_errors(synthpose_val, call, message):
    data = rpb.load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])
    with pytest.raises((ValueError, AdapterError)) as info:
        call(data)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_cli_benchmark_without_root_is_synthesised_and_manifest_still_works(tmp_path):
    res = _cli("evaluate", "--model", "synthpose_hrnet_w16_standard", "--benchmark", "coco-c",
               "--out", tmp_path / "o")
    assert res.returncode != 0 and "benchmark coco-c needs --root" in res.stderr
    assert not (tmp_path / "o").exists()  # refused before the output folder is made
    res = _cli("evaluate", "--model", "nope", "--benchmark", "synthpose-c",
               "--out", tmp_path / "o")
    assert res.returncode != 0 and "model spec 'nope' not understood" in res.stderr
    assert not (tmp_path / "o").exists()  # nothing synthesised for a mistyped model
    res = _cli("evaluate", "--model", "x", "--benchmark", "coco-c", "--manifest",
               REPO / "manifests" / "coco-c.yaml", "--out", tmp_path / "o")
    assert res.returncode != 0 and "not both" in res.stderr
    assert os.path.basename(rpb.__file__) == "__init__.py"


def test_merge_refuses_shards_of_different_runs(synthpose_val, tmp_path):
    from robustpose_bench.evaluation import merge_shards

    sys.path.insert(0, str(Path(__file__).parent))
    from oracle_adapter import OracleAdapter

    data = rpb.load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])
    oracle = OracleAdapter(str(synthpose_val["ann_file"]))
    rpb.evaluate(oracle, data, "fog/1", shard=(0, 2), out=tmp_path / "s0")
    rpb.evaluate(oracle, data, "fog/2", shard=(1, 2), out=tmp_path / "s1")
    with pytest.raises(ValueError, match="s1: its run settings differ from those of .*s0"):
        merge_shards([tmp_path / "s0", tmp_path / "s1"], tmp_path / "m")
    rpb.evaluate(oracle, data, "fog/1", shard=(1, 2), out=tmp_path / "s1b", workers=1)
    merged = merge_shards([tmp_path / "s0", tmp_path / "s1b"], tmp_path / "m")
    whole = rpb.evaluate(oracle, data, "fog/1")
    assert merged.per_condition == whole.per_condition == {"fog": {"1": 100.0}}
    (tmp_path / "s0" / "run.json").write_text("{}")
    with pytest.raises(ValueError, match="s0/run.json: not the run settings"):
        merge_shards([tmp_path / "s0", tmp_path / "s1b"], tmp_path / "m2")


def test_public_api_listing_and_a_light_import():
    api = ["CORRUPTIONS", "Condition", "Summary", "benchmark", "corrupt", "create_model",
           "evaluate", "load_adapter", "load_dataset"]
    assert sorted(rpb.__all__) == sorted([*api, "__version__"]) and set(api) <= set(dir(rpb))
    assert rpb.CORRUPTIONS[0] == "gaussian_noise" and callable(rpb.corrupt)
    code = ("import sys, robustpose_bench as r; print([n for n in dir(r) if n[:2] != '__']); "
            "print(sorted(m for m in ('torch', 'numpy', 'robustpose_bench.evaluation') "
            "if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [repr(api), "[]"]  # nothing heavy imported yet
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        rpb.nope  # noqa: B018


def test_cli_generate_synthesises_synthpose_under_an_empty_root(tmp_path):
    """`generate --benchmark synthpose-c --root DIR` from an empty DIR makes the data set the
    definition describes (as evaluate does) and renders it; the files equal a direct call."""
    from robustpose_bench.datasets.synthpose import generate

    res = _cli("generate", "--benchmark", "synthpose-c", "--root", tmp_path / "data",
               "--corruptions", "fog", "--severities", "1", "--no-progress")
    assert res.returncode == 0, res.stderr
    rendered = sorted((tmp_path / "data" / "synthpose-c" / "fog" / "1").iterdir())
    assert len(rendered) == 100
    generate(tmp_path / "ref", split="val", num_images=100, seed=0)
    ours = tmp_path / "data" / "synthpose" / "annotations" / "synthpose_val.json"
    assert ours.read_bytes() == (tmp_path / "ref" / "annotations" / "synthpose_val.json").read_bytes()
