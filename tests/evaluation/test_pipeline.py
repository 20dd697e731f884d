"""The local prediction pipeline (evaluation/pipeline.py): per-image work (decode, corrupt,
JPEG round trip, crop warp + crop-mode attack hooks) in data-loader workers across the planned
conditions gives the numbers of the single-process run, bit for bit; stage times; thread
counts; a worker's error reaches the user as one line; workers forked after OpenCV's thread
pool was used do not hang."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import robustpose_bench as rpb  # noqa: E402
from robustpose_bench.datasets import load_coco  # noqa: E402
from robustpose_bench.evaluation import pipeline  # noqa: E402
from robustpose_bench.evaluation.boxes import boxes_for_dataset  # noqa: E402
from robustpose_bench.evaluation.pipeline import (  # noqa: E402
    STAGES,
    ImageStream,
    available_cores,
    check_dask,
    check_executor,
    chunk_bounds,
    default_threads,
    joined,
    oversubscribed,
)
from robustpose_bench.evaluation.predict import LocalPredictor  # noqa: E402
from robustpose_bench.evaluation.resolve import resolve_model  # noqa: E402
from robustpose_bench.evaluation.settings import RunSettings  # noqa: E402
from robustpose_bench.render.conditions import Condition  # noqa: E402
from robustpose_bench.render.protocol import get_protocol  # noqa: E402

MODEL = "synthpose_hrnet_w16_standard"


def _summary_numbers(s) -> str:
    return json.dumps({k: s[k] for k in ("clean", "per_condition", "attacks")}, sort_keys=True)


def test_workers_give_the_single_process_numbers(synthpose_val):
    """Worker-cut crops with crop-mode attack hooks, 2 processes, equal workers=0."""
    ann, images = synthpose_val["ann_file"], synthpose_val["image_root"]
    ds = load_coco(ann, images)
    kw = dict(conditions="glass_blur,brightness", severities="3", attacks="attacks-demo",
              device="cpu", batch_size=8, allow_partial=True, threads=1)
    one = rpb.evaluate(MODEL, ds, workers=0, **kw)
    two = rpb.evaluate(MODEL, ds, workers=2, **kw)
    assert _summary_numbers(one) == _summary_numbers(two)
    assert one.attacks["blackout/nose"]["counts"]["attacked"] > 0


def test_crops_cut_by_workers_equal_crops_cut_by_the_adapter(synthpose_val):
    """The CropSpec path (crops cut in the workers, `predict_crops`) and the adapter's own
    `predict_batch` give identical keypoints; every stage is timed."""
    ds = load_coco(synthpose_val["ann_file"], synthpose_val["image_root"])
    adapter = resolve_model(MODEL, ds.meta, device="cpu").adapter
    boxes = boxes_for_dataset(ds, None, adapter.inference_protocol)
    settings = RunSettings(protocol=get_protocol("robustpose"), batch_size=8, workers=1,
                           conditions=[Condition.corruption("fog", 2)])
    cond, idx = Condition.corruption("fog", 2), list(range(len(ds)))
    with LocalPredictor(adapter, ds, boxes, settings, threads=1) as worker_crops:
        assert worker_crops.crop_spec is not None
        worker_crops.plan([Condition.clean(), cond], idx)
        a = [worker_crops.predict(c, idx).predictions for c in (Condition.clean(), cond)]
    own = LocalPredictor(adapter, ds, boxes, settings, threads=1)
    own.crop_spec = None  # the adapter cuts its crops in this process
    b = [own.predict(c, idx).predictions for c in (Condition.clean(), cond)]
    for pa, pb in zip(a, b, strict=True):
        assert sorted(pa.keypoints) == sorted(pb.keypoints) == idx
        for i in idx:
            np.testing.assert_array_equal(pa.keypoints[i], pb.keypoints[i])
    t = worker_crops.times
    assert t.images == 2 * len(ds) and t.crops == 2 * sum(len(x) for x in boxes)
    assert set(t.seconds) == set(STAGES)
    assert all(t.seconds[s] > 0 for s in ("decode", "corrupt", "jpeg", "warp", "model"))


def test_chunk_bounds():
    assert chunk_bounds([20, 20, 20, 20, 20], 64, 16) == [(0, 4), (4, 5)]
    assert chunk_bounds([0] * 5, 64, 2) == [(0, 2), (2, 4), (4, 5)]  # the last one short
    assert chunk_bounds([70, 0, 1], 64, 16) == [(0, 1), (1, 3)]
    assert chunk_bounds([], 64, 16) == []


def test_joined_is_a_view_of_consecutive_slices_else_a_copy():
    base = torch.arange(6 * 4 * 3, dtype=torch.uint8).reshape(6, 4, 3).numpy()
    view = joined([base[1:2], base[2:5]])
    assert np.shares_memory(view, base)
    np.testing.assert_array_equal(view, base[1:5])
    gap = joined([base[0:1], base[2:3]])
    assert not np.shares_memory(gap, base)
    np.testing.assert_array_equal(gap, base[[0, 2]])
    other = joined([base[0:1], base.copy()[1:2]])
    np.testing.assert_array_equal(other, base[0:2])


def _stream_items(plan, sources, boxes, spec, workers):
    stream = ImageStream(plan, sources, boxes, spec, "crop", workers)
    try:
        return [list(stream.take(c)) for c, _ in plan]
    finally:
        stream.close()


@pytest.mark.parametrize("cut_crops", [True, False])
def test_chunks_ending_mid_condition_give_the_items_of_one_process(synthpose_val, monkeypatch,
                                                                   cut_crops):
    """Worker chunks of 3 images over conditions of 5 (a chunk ends mid-condition, the last
    one is short; also with a crop limit) unpack to the items of `workers=0`, bit for bit:
    crops, centres, scales, matrices, pixels, attack counts, in order."""
    from robustpose_bench.evaluation.source import ImageSource

    ds = load_coco(synthpose_val["ann_file"], synthpose_val["image_root"])
    adapter = resolve_model(MODEL, ds.meta, device="cpu").adapter
    boxes = boxes_for_dataset(ds, None, adapter.inference_protocol)
    protocol = get_protocol("robustpose")
    sources = {"image": ImageSource(ds, protocol, attacks_in_image=True),
               "crop": ImageSource(ds, protocol, attacks_in_image=False)}
    attack = Condition.attack("blackout", "nose")
    plan = [(Condition.corruption("fog", 2), [0, 1, 2, 3, 4]), (attack, [5, 6, 7, 8, 9])]
    spec = adapter.crop_spec() if cut_crops else None
    one = _stream_items(plan, sources, boxes, spec, 0)
    for chunk_crops, chunk_images in ((10_000, 3), (5, 16)):
        monkeypatch.setattr(pipeline, "CHUNK_CROPS", chunk_crops)
        monkeypatch.setattr(pipeline, "CHUNK_IMAGES", chunk_images)
        two = _stream_items(plan, sources, boxes, spec, 2)
        for a_cond, b_cond in zip(one, two, strict=True):
            assert [p.index for p in a_cond] == [p.index for p in b_cond]
            for a, b in zip(a_cond, b_cond, strict=True):
                assert a.position == b.position and a.counts == b.counts
                assert set(a.seconds) == set(b.seconds) and b.error is None
                if cut_crops:
                    ca, cb = a.crop_batch(), b.crop_batch()
                    for k in ("crops", "centers", "scales", "matrices"):
                        assert getattr(ca, k).dtype == getattr(cb, k).dtype
                        np.testing.assert_array_equal(getattr(ca, k), getattr(cb, k))
                else:
                    np.testing.assert_array_equal(a.pixels(), b.pixels())
    if cut_crops:  # the workers ran the crop-mode attack hooks
        assert sum(p.counts["attacked"] for p in one[1]) > 0


def test_small_chunks_give_the_single_process_keypoints(synthpose_val, monkeypatch):
    """The predictor with chunks that end inside network batches and conditions."""
    ds = load_coco(synthpose_val["ann_file"], synthpose_val["image_root"])
    adapter = resolve_model(MODEL, ds.meta, device="cpu").adapter
    boxes = boxes_for_dataset(ds, None, adapter.inference_protocol)
    conds = [Condition.clean(), Condition.corruption("fog", 2)]
    idx = list(range(len(ds)))
    monkeypatch.setattr(pipeline, "CHUNK_CROPS", 3)
    monkeypatch.setattr(pipeline, "CHUNK_IMAGES", 7)
    out = {}
    for workers in (0, 2):
        settings = RunSettings(protocol=get_protocol("robustpose"), batch_size=8,
                               workers=workers, conditions=conds[1:])
        with LocalPredictor(adapter, ds, boxes, settings, threads=1) as pred:
            pred.plan(conds, idx)
            out[workers] = [pred.predict(c, idx).predictions.keypoints for c in conds]
    for a, b in zip(out[0], out[2], strict=True):
        assert sorted(a) == sorted(b) == idx
        for i in idx:
            np.testing.assert_array_equal(a[i], b[i])


def test_thread_counts():
    assert default_threads(0) == available_cores()
    assert default_threads(available_cores() + 3) == 1
    before = torch.get_num_threads()
    from robustpose_bench.evaluation.predict import torch_threads

    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_oversubscription_is_warned_about(caplog):
    cores = available_cores()
    assert not oversubscribed(cores, 1)  # the default: cores workers + the model's thread
    assert not oversubscribed(0, cores)
    with caplog.at_level("WARNING", logger="robustpose_bench.evaluation.pipeline"):
        assert oversubscribed(cores + 1, 1)
        assert oversubscribed(cores, 2)
    assert len(caplog.records) == 2 and f"on {cores} cores" in caplog.records[0].message


def test_unreachable_scheduler_fails_at_once_in_one_line():
    import socket
    import time

    with socket.socket() as s:  # a port nothing listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        t0 = time.perf_counter()
        with pytest.raises(ValueError, match=rf"^cannot reach the Dask scheduler at "
                                             rf"tcp://127.0.0.1:{port}: [^\n]+$"):
            rpb.evaluate(MODEL, "synthpose-c", scheduler=f"tcp://127.0.0.1:{port}")
        assert time.perf_counter() - t0 < 5  # before the data set and the model are made
    with pytest.raises(ValueError, match=r"^scheduler address 'tcp://h:99999': expected"):
        check_dask("tcp://h:99999")


def test_dask_backend_without_dask_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ValueError, match=r"^--backend dask needs dask.distributed: pip install"):
        rpb.evaluate(MODEL, "synthpose-c", backend="dask")


def test_executor_choice_errors():
    assert check_executor(None, None) == "local"
    assert check_executor(None, "tcp://h:8786") == "dask"
    assert check_executor("loky", None) == "local"
    with pytest.raises(ValueError, match="'pycocotools' is an AP engine: pass it as ap_backend"):
        check_executor("pycocotools", None)
    with pytest.raises(ValueError, match="needs backend dask, not local"):
        check_executor("local", "tcp://h:8786")


def test_unreadable_image_in_a_worker_is_one_line(synthpose_val, tmp_path):
    """The data loader would wrap a worker's exception in its traceback text: the image
    error reaches the CLI as the reader's own one line."""
    import shutil

    root = tmp_path / "data"
    shutil.copytree(synthpose_val["image_root"], root)
    victim = sorted(root.iterdir())[5]
    victim.write_bytes(b"not a jpeg")
    res = subprocess.run(
        [sys.executable, "-m", "robustpose_bench.cli.main", "evaluate", "--model",
         "robustpose_bench.adapters.topdown:CentreHeatmapAdapter", "--ann",
         str(synthpose_val["ann_file"]), "--images", str(root), "--corruptions", "none",
         "--workers", "2", "--out", str(tmp_path / "out"), "--no-progress"],
        capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr
    error = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and victim.name in error[0], res.stderr
    assert "DataLoader worker" not in res.stderr and "Traceback" not in res.stderr


def test_workers_forked_after_opencv_threads_were_used_do_not_hang(synthpose_val):
    """A single-process sweep (OpenCV's thread pool in use), then one with workers, in the
    same process: setting OpenCV's threads inside a forked worker used to hang forever."""
    code = textwrap.dedent(f"""
        import robustpose_bench as rpb
        from robustpose_bench.adapters.topdown import CentreHeatmapAdapter
        from robustpose_bench.datasets import load_coco
        ds = load_coco({str(synthpose_val["ann_file"])!r}, {str(synthpose_val["image_root"])!r})
        for w in (0, 2):
            s = rpb.evaluate(CentreHeatmapAdapter(ds.meta), ds, "zoom_blur", severities="1",
                             workers=w, allow_partial=True)
        print("done", s.clean)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the hung workers too
        proc.communicate()
        pytest.fail("the sweep with workers hung")
    assert proc.returncode == 0 and "done" in out, err
