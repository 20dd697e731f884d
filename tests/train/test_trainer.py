"""The training loop: resume after a kill, checkpoints the evaluator can load, validation, the
CLI and a 2-process torchrun (gloo) run."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from _train_helpers import HEATMAP, INPUT, make_config, make_trainer, params_vector
from click.testing import CliRunner

from robustpose_bench.datasets.loading import load_dataset
from robustpose_bench.training import build_trainer


class Killed(RuntimeError):
    pass


@pytest.mark.parametrize("method,args", [("standard", {}),
                                         ("advmix", {"teacher": "init", "g_ngf": 4})])
def test_resume_after_a_kill_gives_the_same_weights(synthpose_val, tmp_path, method, args):
    train = {"epochs": 2, "max_steps_per_epoch": 3, "checkpoint_every_steps": 1}
    full = make_trainer(synthpose_val, tmp_path / "full", method, args, train=train)
    full.fit()
    ref = params_vector(full.raw_model)
    full.close()

    run = make_trainer(synthpose_val, tmp_path / "killed", method, args, train=train)
    step = run.method.train_step
    calls = {"n": 0}

    def dying_step(batch):
        calls["n"] += 1
        if calls["n"] == 5:  # epoch 2, second batch: the last save was after its first batch
            raise Killed
        return step(batch)

    run.method.train_step = dying_step
    with pytest.raises(Killed):
        run.fit()
    run.close()
    resumed = make_trainer(synthpose_val, tmp_path / "killed", method, args, train=train,
                           resume=True)
    assert (resumed.epoch, resumed.batch_in_epoch, resumed.global_step) == (1, 1, 4)
    resumed.fit()
    assert torch.equal(params_vector(resumed.raw_model), ref)
    if method == "advmix":
        assert torch.equal(params_vector(resumed.method.generator),
                           params_vector(full.method.generator))
    resumed.close()
    again = make_trainer(synthpose_val, tmp_path / "killed", method, args, train=train,
                         resume=True)
    assert again.fit()["epochs"] == 2  # already done: nothing to train
    again.close()


def test_resume_applies_a_changed_learning_rate_schedule(synthpose_val, tmp_path):
    """A run resumed with other `train.lr_steps` follows them (the scheduler state stores the
    old ones): here the first step moves from epoch 5 to epoch 1, already passed."""
    train = {"epochs": 2, "max_steps_per_epoch": 1, "lr": 1e-3, "lr_steps": [5]}
    tr = make_trainer(synthpose_val, tmp_path, train=train)
    tr.fit()
    assert tr.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    tr.close()
    train = {**train, "epochs": 3, "lr_steps": [1, 2]}
    again = make_trainer(synthpose_val, tmp_path, train=train, resume=True)
    assert again.epoch == 2
    assert again.optimizer.param_groups[0]["lr"] == pytest.approx(1e-5)  # two steps passed
    again.fit()
    assert [h["lr"] for h in again.history] == pytest.approx([1e-3, 1e-3, 1e-5])
    again.close()


def test_resume_refuses_a_different_model(synthpose_val, tmp_path):
    tr = make_trainer(synthpose_val, tmp_path, train={"epochs": 1, "max_steps_per_epoch": 1})
    tr.fit()
    tr.close()
    cfg = make_config(synthpose_val, train={"epochs": 1},
                      model={"input_size": [64, 64], "heatmap_size": [16, 16]})
    ds = load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])
    with pytest.raises(ValueError, match="`model` differs"):
        build_trainer(cfg, tmp_path, device="cpu", resume=True, train_dataset=ds)


@pytest.mark.parametrize("key", ["checkpoint", "pretrained"])
def test_a_missing_weight_file_is_named_before_any_data_is_made(tmp_path, key):
    """SynthPose generation takes minutes: a mistyped weight file is refused first."""
    from robustpose_bench.train.config import ConfigError, config_from_dict

    root = tmp_path / "synthpose"
    cfg = config_from_dict({"name": "t", "method": "standard", "data": {
        "dataset": "synthpose", "root": str(root), "train_ann": "annotations/synthpose_train.json",
        "train_images": "images/train", "synthpose": {"train_images": 4, "val_images": 0}},
        "model": {"name": "hrnet_w16_small", "input_size": list(INPUT),
                  "heatmap_size": list(HEATMAP), key: str(tmp_path / "nope.safetensors")}})
    with pytest.raises(ConfigError, match=rf"model.{key}: .*nope.safetensors does not exist"):
        build_trainer(cfg, tmp_path / "out", device="cpu")
    assert not root.exists()


def test_checkpoints_validation_and_the_evaluator_adapter(synthpose_val, tmp_path):
    from robustpose_bench.adapters.loading import load_adapter
    from robustpose_bench.datasets.meta import SYNTHPOSE
    from robustpose_bench.train.data import read_rgb

    cfg = make_config(synthpose_val, train={"epochs": 1, "max_steps_per_epoch": 2},
                      val={"every": 1, "max_images": 3})
    ds = load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])
    tr = build_trainer(cfg, tmp_path, device="cpu", resume=False, train_dataset=ds, val_dataset=ds)
    summary = tr.fit()
    tr.close()
    assert set(summary["last_val"]) >= {"AP", "AP50", "AR"}
    assert 0.0 <= summary["last_val"]["AP"] <= 100.0
    for name in ("last", "best"):
        assert (tmp_path / f"{name}.safetensors").is_file()
        side = json.loads((tmp_path / f"{name}.json").read_text())
        assert side["model"] == "hrnet_w16_small" and side["input_size"] == [48, 64]
        assert side["method"] == "standard" and side["dataset"] == "synthpose"
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert len(history) == 1 and "val" in history[0] and history[0]["steps"] == 2
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["model"]["name"] == "hrnet_w16_small"
    adapter = load_adapter(str(tmp_path / "last.safetensors"), meta=SYNTHPOSE, device="cpu")
    sample = ds.samples[0]
    boxes = np.array([p.bbox for p in sample.persons])
    pred = adapter.predict(read_rgb(ds.image_path(sample)), boxes)
    assert pred.shape == (len(boxes), 17, 3) and np.isfinite(pred).all()


def _write_config(synth: dict, path: Path, **train) -> Path:
    cfg = make_config(synth, train={"epochs": 1, "max_steps_per_epoch": 2, **train},
                      val={"every": 0, "max_images": 2}).to_dict()
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_cli_trains_and_reports_bad_overrides(synthpose_val, tmp_path):
    from robustpose_bench.cli.main import cli

    config = _write_config(synthpose_val, tmp_path / "cfg.yaml")
    runner = CliRunner()
    res = runner.invoke(cli, ["train", str(config), "--out", str(tmp_path / "out"),
                              "--set", "train.batch_size=2", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output[res.output.index("{"):])
    assert summary["epochs"] == 1 and summary["steps"] == 2
    assert (tmp_path / "out" / "summary.json").is_file()
    res = runner.invoke(cli, ["train", str(config), "--set", "train.bogus=1"])
    assert res.exit_code != 0 and "unknown key(s) bogus" in res.output
    res = runner.invoke(cli, ["train", str(config), "--set", "method=nope", "--out",
                              str(tmp_path / "o2")])
    assert res.exit_code != 0 and "unknown training method 'nope'" in res.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_torchrun_two_processes_gloo(synthpose_val, tmp_path):
    config = _write_config(synthpose_val, tmp_path / "cfg.yaml", batch_size=2)
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           "-m", "robustpose_bench.cli.train", str(config), "--out", str(out), "--device", "cpu",
           "--set", "method=advmix", "--set", "method_args={kd_alpha: 0.0, g_ngf: 4}"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 1 and summary["steps"] == 2
    assert (out / "last.safetensors").is_file() and (out / "last_state.pt").is_file()
    state = torch.load(out / "last_state.pt", weights_only=True)
    assert "generator" in state["method"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("method,args", [("standard", {}), ("advmix", {"teacher": "init", "g_ngf": 8}),
                                         ("stable_heatmap", {})])
def test_amp_steps_on_cuda(synthpose_val, tmp_path, method, args):
    cfg = make_config(synthpose_val, method, args, train={"epochs": 1, "max_steps_per_epoch": 2,
                                                          "amp": True})
    ds = load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])
    tr = build_trainer(cfg, tmp_path, device="cuda", resume=False, train_dataset=ds, val_dataset=ds)
    assert tr.precision.dtype == torch.float16 and tr.pose.scaler.is_enabled()
    summary = tr.fit()
    tr.close()
    assert summary["steps"] == 2
    assert np.isfinite(json.loads((tmp_path / "history.jsonl").read_text().splitlines()[0])["loss"])


def test_pretrained_backbone_and_init_checkpoint_are_loaded(synthpose_val, tmp_path):
    from safetensors.torch import save_file

    from robustpose_bench.models import create_model
    from robustpose_bench.models.checkpoint import backbone_keys, save_checkpoint

    torch.manual_seed(123)
    donor = create_model("hrnet_w16_small")
    keys = backbone_keys(donor)
    state = donor.state_dict()
    save_file({k: state[k].contiguous() for k in keys}, str(tmp_path / "imagenet.safetensors"))
    ds = load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])
    cfg = make_config(synthpose_val, model={"pretrained": str(tmp_path / "imagenet.safetensors")})
    tr = build_trainer(cfg, tmp_path / "a", device="cpu", resume=False, train_dataset=ds)
    own = tr.raw_model.state_dict()
    assert all(torch.equal(own[k], state[k]) for k in keys)
    heads = [k for k in own if k not in keys and own[k].is_floating_point()]
    assert heads and not all(torch.equal(own[k], state[k]) for k in heads)
    tr.close()
    save_checkpoint(donor, tmp_path / "full.safetensors", {"model": "hrnet_w16_small"})
    cfg = make_config(synthpose_val, model={"checkpoint": str(tmp_path / "full.safetensors")})
    tr = build_trainer(cfg, tmp_path / "b", device="cpu", resume=False, train_dataset=ds)
    assert torch.equal(params_vector(tr.raw_model), params_vector(donor))
    tr.close()


def test_learning_curves_read_and_draw_a_history(tmp_path):
    from robustpose_bench.train.curves import plot_history, read_history

    path = tmp_path / "history.jsonl"
    rows = [{"epoch": e, "lr": 1e-3 if e < 3 else 1e-4, "loss": 0.01 / e, "loss_g": -0.01 / e}
            for e in range(1, 5)]
    rows[1]["val"] = {"AP": 3.5}
    rows[3]["val"] = {"AP": 7.25}
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    history = read_history(path)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    out = plot_history(history, tmp_path / "c.png", "run")
    assert out.read_bytes()[:4] == b"\x89PNG"
    path.write_text('{"epoch": 1}\nnot json\n')
    with pytest.raises(ValueError, match="history.jsonl:2: not JSON"):
        read_history(path)
    with pytest.raises(ValueError, match="no epoch"):
        plot_history([], tmp_path / "d.png")
