"""`robustpose attack --backend dask`: attack sets rendered on a Dask cluster hold the same
files (sha256 index) and the same notes of who was attacked as the local processes."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from robustpose_bench.datasets import load_coco
from robustpose_bench.render.benchmark import attack_benchmark
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.manifest import read_index

ROBUSTPOSE = [sys.executable, "-m", "robustpose_bench.cli.main"]


def _cli(*args):
    return subprocess.run([*ROBUSTPOSE, *map(str, args)], capture_output=True, text=True)


def test_attack_on_dask_equals_local(synthpose_val, tmp_path):
    pytest.importorskip("dask.distributed")
    from dask.distributed import LocalCluster

    from robustpose_bench.occlusion import make_attack_specs

    ann, images = synthpose_val["ann_file"], synthpose_val["image_root"]
    ds = load_coco(ann, images)
    conds = [Condition.from_attack(s)
             for s in make_attack_specs("nose,upper_body", "blackout,blur", ds.meta, [6])]
    attack_benchmark(ds, tmp_path / "local", conds, jobs=2, progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://",
                      host="127.0.0.1", dashboard_address=None) as cluster:
        attack_benchmark(ds, tmp_path / "dask", conds, backend="dask",
                         scheduler=cluster.scheduler_address, progress=False)
    assert read_index(tmp_path / "local") == read_index(tmp_path / "dask")
    assert len(read_index(tmp_path / "dask")) == 4 * 12
    notes = [json.loads((tmp_path / d / "attacked_persons.json").read_text())
             for d in ("local", "dask")]
    assert notes[0] == notes[1] and notes[0]["attack/blackout/nose"]


def test_attack_cli_dask_backend_and_option_errors(synthpose_val, tmp_path):
    pytest.importorskip("dask.distributed")
    ann, images = synthpose_val["ann_file"], synthpose_val["image_root"]
    common = ["attack", "--ann", ann, "--images", images, "--targets", "nose",
              "--modes", "meanout", "--no-progress"]
    res = _cli(*common, "--out", tmp_path / "a", "--backend", "dask")  # in-process cluster
    assert res.returncode == 0, res.stderr
    assert len(list((tmp_path / "a/meanout/nose").iterdir())) == 12
    assert _cli("verify", tmp_path / "a").returncode == 0
    res = _cli(*common, "--out", tmp_path / "b", "--scheduler", "tcp://127.0.0.1:9")
    assert res.returncode == 2 and "--scheduler needs --backend dask" in res.stderr
    res = _cli(*common, "--out", tmp_path / "c", "--backend", "ray")
    assert res.returncode == 2 and "'ray' is not one of 'local', 'loky', 'dask'" in res.stderr
