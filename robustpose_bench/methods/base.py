"""The interface every training method implements, and the registry that selects one by name.

A method changes what happens to a batch and which losses are summed (DESIGN.md); the
trainer owns data, model, optimiser, schedule, checkpoints, precision and DDP. A method is
built from its `method_args` alone and sees the run through the `TrainContext` handed to
`setup` (train/context.py), never through the Trainer.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any

import torch
from torch import nn

from robustpose_bench.train.config import ConfigError
from robustpose_bench.train.context import OptimSlot, TrainContext
from robustpose_bench.train.data import SampleTransform
from robustpose_bench.train.losses import heatmap_mse


def parse_args(cls: type, args: dict[str, Any] | None, method: str) -> Any:
    """Validate a `method_args` mapping into the method's argument dataclass."""
    args = dict(args or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(args) - set(fields))
    if unknown:
        raise ConfigError(f"method_args: unknown key(s) {', '.join(unknown)} for method "
                          f"{method!r}; valid: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    out = {}
    for key, value in args.items():
        tp = hints[key]
        if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
        elif tp is float and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"method_args.{key}: expected a number, got {value!r}") from None
        elif tp in (int, bool, str) and not isinstance(value, tp):
            raise ConfigError(f"method_args.{key}: expected {tp.__name__}, got {value!r}")
        out[key] = value
    try:
        return cls(**out)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"method_args for {method!r}: {exc}") from None


class TrainingMethod:
    """Base class: plain supervised top-down training hooks.

    Subclasses set `name`, an `Args` dataclass for their `method_args`, and override
    `train_step` (and optionally `sample_transform`, `setup`, `inference_model`,
    `inference_config`, `state_dict` / `load_state_dict` for their own modules).
    `self.ctx` is the TrainContext once `setup` ran.
    """

    name = "base"

    @dataclasses.dataclass
    class Args:
        pass

    def __init__(self, args: dict[str, Any] | None = None):
        self.args = parse_args(self.Args, args, self.name)
        self._ctx: TrainContext | None = None

    @property
    def ctx(self) -> TrainContext:
        if self._ctx is None:
            raise RuntimeError(f"training method {self.name!r} used before setup(ctx)")
        return self._ctx

    # ---- data side ----------------------------------------------------------------------
    def sample_transform(self) -> SampleTransform | None:
        """Per-sample hook run in the data workers on the uint8 crop (None: no hook)."""
        return None

    # ---- model side ---------------------------------------------------------------------
    def setup(self, ctx: TrainContext) -> None:
        """Bind the run's context; subclasses then build their extra modules / optimisers
        (call `super().setup(ctx)` first)."""
        self._ctx = ctx

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One optimisation step on a batch already on the device; returns scalar logs."""
        raise TypeError(f"training method {self.name!r} does not define train_step")

    def inference_model(self, model: nn.Module) -> nn.Module:
        """What validation / evaluation runs: a model mapping images to heatmaps that the
        standard argmax decoder reads (default: the model itself)."""
        return model

    def inference_config(self) -> dict[str, Any]:
        """Stored in the checkpoint's JSON config under `inference` (how to decode)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"method {self.name!r} has no state but the checkpoint has "
                             f"{sorted(state)}")


METHODS: dict[str, type[TrainingMethod]] = {}


def adversarial_generator_step(ctx: TrainContext, x: torch.Tensor, target: torch.Tensor,
                               target_weight: torch.Tensor, slot: OptimSlot, params: Any,
                               weight: float = 1.0) -> float:
    """One generator step of an adversarial augmentation (AdvMix, ASDA): the pose network D
    is frozen, the generator minimises L_G = -weight * MSE(D(x), target), so it receives the
    negated gradient of the pose loss through `x`. Returns L_G."""
    d = ctx.raw_model
    flags = [p.requires_grad for p in d.parameters()]
    for p in d.parameters():
        p.requires_grad_(False)
    try:
        with ctx.autocast():
            out = d(ctx.precision.images(x))
        loss_g = -heatmap_mse(out, target, target_weight) * weight
        ctx.optimize(loss_g, slot, params)
    finally:
        for p, f in zip(d.parameters(), flags, strict=True):
            p.requires_grad_(f)
    return float(loss_g.detach())


def register_method(cls: type[TrainingMethod]) -> type[TrainingMethod]:
    """Class decorator adding a training method to the registry under `cls.name`."""
    if cls.name in METHODS and METHODS[cls.name] is not cls:
        raise ValueError(f"training method {cls.name!r} is already registered")
    METHODS[cls.name] = cls
    return cls


def list_methods() -> list[str]:
    _load_builtin()
    return sorted(METHODS)


def get_method(name: str) -> type[TrainingMethod]:
    _load_builtin()
    try:
        return METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown training method {name!r}; available: "
                          f"{', '.join(sorted(METHODS))}") from None


def _load_builtin() -> None:
    # Importing the modules registers their methods.
    import importlib

    for mod in ("standard", "advmix", "asda", "stable_heatmap", "occlusion_aug"):
        importlib.import_module(f"robustpose_bench.methods.{mod}")
