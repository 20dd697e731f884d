"""Evaluation on a Dask cluster (evaluation/distributed.py): a LocalCluster of 2 worker
processes on CPU (tcp://127.0.0.1) gives the summary of the single-process run, for a torch
model with crop-mode attacks and stability (bit for bit: chunks end where local batches end),
resumes per condition, and survives a worker killed mid-run (CLI, `--scheduler`)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

import robustpose_bench as rpb  # noqa: E402
from robustpose_bench.evaluation.boxes import SampleBoxes  # noqa: E402
from robustpose_bench.evaluation.distributed import (  # noqa: E402
    GPU,
    chunks,
    default_chunk_size,
    gpu_worker_specs,
)

HERE = Path(__file__).parent
ORACLE = f"{HERE / 'oracle_adapter.py'}:OracleAdapter"
KILL_ONCE = f"{HERE / 'dask_adapters.py'}:KillOnceOracle"
ROBUSTPOSE = [sys.executable, "-m", "robustpose_bench.cli.main"]
NUMBERS = ("metric", "clean", "clean_metrics", "mPC", "rPC", "per_condition", "attacks",
           "stability")


def _numbers(summary) -> dict:
    data = json.loads(json.dumps(summary.to_json() if hasattr(summary, "to_json") else summary))
    return {k: data.get(k) for k in NUMBERS}


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded CPU worker processes that declare one GPU each (so the tasks'
    resource annotation is exercised; the adapters run on CPU)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, resources={GPU: 1}) as c:
        yield c


def test_dask_run_equals_local_run_and_resumes(cluster, synthpose_val, tmp_path):
    ann, images = synthpose_val["ann_file"], synthpose_val["image_root"]
    data = rpb.evaluation.DataSpec(ann=str(ann), images=str(images))
    kw = dict(conditions="gaussian_noise,contrast", severities="2", attacks="attacks-demo",
              stability="speckle_noise", stability_severities="3", batch_size=8,
              device="cpu", allow_partial=True, heatmap_images=4)
    # one torch thread, like each worker: float sums of other thread counts may differ in
    # the last bits (heatmap statistics)
    local = rpb.evaluate("synthpose_hrnet_w16_standard", data, threads=1, **kw)
    out = tmp_path / "dask"
    dask = rpb.evaluate("synthpose_hrnet_w16_standard", data, out=out,
                        scheduler=cluster.scheduler_address, **kw)
    assert _numbers(dask) == _numbers(local)
    assert dask.attacks["blackout/nose"]["counts"]["attacked"] > 0
    assert dask.stability["speckle_noise/3"]["heatmaps"]["clean"]["num_images"] == 4
    # resume: one condition's outputs removed, another's score only; the rest is kept
    kept = out / "conditions/clean/score.json"
    stamp = kept.stat().st_mtime_ns
    for f in (out / "conditions/contrast/2").iterdir():
        f.unlink()
    (out / "conditions/gaussian_noise/2/score.json").unlink()
    again = rpb.evaluate("synthpose_hrnet_w16_standard", data, out=out, backend="dask",
                         scheduler=cluster.scheduler_address, **kw)
    assert _numbers(again) == _numbers(local)
    assert kept.stat().st_mtime_ns == stamp


def test_killed_worker_gives_the_same_summary(cluster, synthpose_val, tmp_path):
    ann, images = synthpose_val["ann_file"], synthpose_val["image_root"]
    common = ["--corruptions", "motion_blur,brightness", "--severities", "1,4",
              "--attacks", "attacks-demo", "--batch-size", "4", "--allow-partial",
              "--no-progress", "--ann", str(ann), "--images", str(images)]
    marker = tmp_path / "killed.pid"
    res = subprocess.run(
        [*ROBUSTPOSE, "evaluate", "--model", KILL_ONCE, "--model-arg", f"ann={ann}",
         "--model-arg", f"marker={marker}", "--model-arg", "jitter=2", *common,
         "--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "dask")],
        capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert marker.is_file()  # a worker process did die mid-run
    ref = subprocess.run(
        [*ROBUSTPOSE, "evaluate", "--model", ORACLE, "--model-arg", f"ann={ann}",
         "--model-arg", "jitter=2", *common, "--out", str(tmp_path / "local")],
        capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr
    a = json.loads((tmp_path / "dask/summary.json").read_text())
    b = json.loads((tmp_path / "local/summary.json").read_text())
    assert _numbers(a) == _numbers(b)
    assert 0 < a["clean"] < 100 and a["attacks"]


def test_chunks_end_where_local_batches_end():
    def boxes(n):
        return SampleBoxes(np.zeros((n, 4)), np.ones(n), np.arange(n))

    sizes = [3, 0, 2, 4, 1, 5, 0, 2, 6, 1]
    bx = [boxes(n) for n in sizes]
    # local batches of >= 4 boxes end after images 2 (3+0+2), 3 (4), 5 (1+5), 8 (2+6), then 9
    assert chunks(range(10), bx, 4, 1) == [[0, 1, 2], [3], [4, 5], [6, 7, 8], [9]]
    assert chunks(range(10), bx, 4, 3) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert chunks([], bx, 4, 3) == []
    assert default_chunk_size(12, 2) == 3 and default_chunk_size(10_000, 4) == 16


def test_gpu_workers_get_a_device_each_and_tasks_need_one():
    pytest.importorskip("distributed")
    specs = gpu_worker_specs(3)
    assert [s["options"]["env"]["CUDA_VISIBLE_DEVICES"] for s in specs.values()] == ["0", "1",
                                                                                     "2"]
    assert all(s["options"]["resources"] == {GPU: 1} for s in specs.values())


def test_gpu_requested_without_gpu_workers_is_refused(synthpose_val):
    from distributed import Client

    from robustpose_bench.datasets import load_coco
    from robustpose_bench.evaluation.boxes import boxes_for_dataset
    from robustpose_bench.evaluation.distributed import DaskPredictor, ModelSpec
    from robustpose_bench.evaluation.settings import RunSettings
    from robustpose_bench.render.protocol import get_protocol

    ds = load_coco(synthpose_val["ann_file"], synthpose_val["image_root"])
    settings = RunSettings(protocol=get_protocol("robustpose"))
    with Client(processes=False, n_workers=1, threads_per_worker=1,
                dashboard_address=None) as client:
        with pytest.raises(ValueError, match=r"declares the resource GPU .*--resources GPU=1"):
            DaskPredictor(client, ModelSpec(ORACLE), ds, boxes_for_dataset(ds, None),
                          settings, gpu=True)
