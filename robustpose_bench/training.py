"""The entry of training: resolve a config's method, build the Trainer, run it.

Layers (pyproject.toml): this module sits above `methods` (the plugins: what one step does),
which sit above `train` (the framework: data, loop, checkpoints, precision, the TrainContext a
method sees). The trainer never imports a method; only this composition step does.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from robustpose_bench.io import atomic_write_json
from robustpose_bench.methods import get_method
from robustpose_bench.train import distributed
from robustpose_bench.train.config import TrainConfig
from robustpose_bench.train.context import Method
from robustpose_bench.train.trainer import Trainer


def make_method(cfg: TrainConfig) -> Method:
    """The training method of a config: `cfg.method` looked up in the registry of
    robustpose_bench.methods, its `method_args` validated (ConfigError naming the key)."""
    return get_method(cfg.method)(cfg.method_args)


def build_trainer(cfg: TrainConfig, out_dir: str | Path | None = None, **kwargs: Any) -> Trainer:
    """A Trainer for `cfg` with the method its `method:` names (keyword arguments as Trainer)."""
    return Trainer(cfg, make_method(cfg), out_dir, **kwargs)


def train_from_config(cfg: TrainConfig, out_dir: str | Path | None = None, *,
                      device: str | None = None, resume: bool = True) -> dict[str, Any]:
    """Resolve the method, build a Trainer and run it; writes `summary.json` into the output
    folder."""
    trainer = build_trainer(cfg, out_dir, device=device, resume=resume)
    try:
        summary = trainer.fit()
        if trainer.dist.is_main:
            atomic_write_json(trainer.out_dir / "summary.json", summary)
        return summary
    finally:
        trainer.close()
        distributed.cleanup(trainer.dist)
