"""Helpers for the trainer and method tests: a tiny pose network, configs and trainers on the
session's SynthPose fixture (tests/conftest.py), and one fixed batch."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from robustpose_bench.datasets.loading import load_dataset
from robustpose_bench.train.config import config_from_dict
from robustpose_bench.train.trainer import Trainer
from robustpose_bench.training import build_trainer

INPUT = (48, 64)  # width, height
HEATMAP = (12, 16)


class TinyPose(nn.Module):
    """(B, 3, H, W) -> (B, K, H/4, W/4): two stride-2 conv blocks and a 1x1 head (with BN, so
    train / eval behaviour matters like in the real zoo)."""

    def __init__(self, num_keypoints: int = 17, width: int = 16):
        super().__init__()
        self.num_keypoints = num_keypoints
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, 1, 1), nn.ReLU())
        self.head = nn.Conv2d(width, num_keypoints, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def make_config(synth: dict, method: str = "standard", method_args: dict | None = None,
                **sections) -> object:
    """A small CPU config on the synthpose_val fixture (used as train and val data)."""
    data = {"dataset": "synthpose", "train_ann": str(synth["ann_file"]),
            "train_images": str(synth["image_root"]), "val_ann": str(synth["ann_file"]),
            "val_images": str(synth["image_root"]), "masks": str(synth["mask_root"]),
            "workers": 0}
    cfg = {"name": f"test_{method}", "method": method, "method_args": method_args or {},
           "seed": 3,
           "model": {"name": "hrnet_w16_small", "input_size": list(INPUT),
                     "heatmap_size": list(HEATMAP)},
           "data": data,
           "train": {"epochs": 2, "batch_size": 4, "lr": 1e-3, "lr_steps": [1],
                     "max_steps_per_epoch": 2, "log_every": 0, "cpu_threads": 1},
           "val": {"every": 0, "max_images": 2, "batch_size": 8}}
    for key, value in sections.items():
        cfg.setdefault(key, {})
        if isinstance(value, dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    return config_from_dict(cfg)


def make_trainer(synth: dict, out: Path, method: str = "standard",
                 method_args: dict | None = None, model: nn.Module | None = None,
                 resume: bool = False, **sections) -> Trainer:
    cfg = make_config(synth, method, method_args, **sections)
    ds = load_dataset(synth["ann_file"], synth["image_root"], dataset_name="synthpose")
    torch.manual_seed(0)
    model = model if model is not None else TinyPose()
    return build_trainer(cfg, out, device="cpu", resume=resume, model=model, train_dataset=ds,
                   val_dataset=ds)


def first_batch(trainer: Trainer) -> dict:
    trainer.sampler.set_epoch(0)
    return trainer.to_device(next(iter(trainer.make_loader())))


def params_vector(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in module.parameters()])


@pytest.fixture
def trainer_factory(synthpose_val, tmp_path):
    made = []

    def factory(method: str = "standard", method_args: dict | None = None, **kw) -> Trainer:
        tr = make_trainer(synthpose_val, tmp_path / f"run{len(made)}", method, method_args, **kw)
        made.append(tr)
        return tr

    yield factory
    for tr in made:
        tr.close()
