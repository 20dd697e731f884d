"""What a training method sees of the trainer, and what the trainer expects of a method.

The trainer (`train/trainer.py`) owns data, model, optimisers, schedule, checkpoints,
precision and DDP; a method (`robustpose_bench.methods`) decides what one step does. The two
meet here: the trainer hands the method a `TrainContext` (the run's config and data, the pose
network, its optimiser and a few step helpers) instead of itself, and calls the method
through the `Method` protocol. Neither imports the other.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from robustpose_bench.datasets.meta import DatasetMeta
from robustpose_bench.datasets.types import Dataset
from robustpose_bench.train.config import TrainConfig
from robustpose_bench.train.data import SampleTransform
from robustpose_bench.train.precision import Precision


@dataclass
class OptimSlot:
    """One optimiser with its learning-rate scheduler (stepped per epoch) and GradScaler; the
    trainer checkpoints and resumes every registered slot."""

    optimizer: torch.optim.Optimizer
    scheduler: Any = None
    scaler: torch.amp.GradScaler | None = None


def step_seed(*parts: int) -> int:
    """A 64-bit seed from integers (seed, rank, step, salt)."""
    return int(np.random.SeedSequence([int(p) % (2 ** 63) for p in parts]).generate_state(1)[0])


class TrainContext:
    """The trainer as a method sees it.

    cfg: the run's config (read it, do not change it). meta / train_data: the training data
    set. device. model: the pose network to call in a training step (DDP-wrapped under
    torchrun); raw_model: the same network unwrapped (freezing, copies, checkpoints). pose:
    the pose network's OptimSlot. precision: autocast / memory format of the run. step: the
    global step of the batch being trained (set by the trainer).
    """

    def __init__(self, cfg: TrainConfig, meta: DatasetMeta, train_data: Dataset,
                 device: torch.device, model: nn.Module, raw_model: nn.Module, pose: OptimSlot,
                 precision: Precision, *, rank: int = 0,
                 wrap_ddp: Callable[[nn.Module], nn.Module] = lambda m: m,
                 make_scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
                 register: Callable[[str, OptimSlot], None] | None = None):
        self.cfg = cfg
        self.meta = meta
        self.train_data = train_data
        self.device = device
        self.model = model
        self.raw_model = raw_model
        self.pose = pose
        self.precision = precision
        self.rank = int(rank)
        self.step = 0
        self._wrap_ddp = wrap_ddp
        self._make_scheduler = make_scheduler
        self._register = register

    # ---- building -----------------------------------------------------------------------
    def wrap_ddp(self, module: nn.Module) -> nn.Module:
        """DistributedDataParallel around a trainable module under torchrun (else itself)."""
        return self._wrap_ddp(module)

    def add_optimizer(self, name: str, optimizer: torch.optim.Optimizer) -> OptimSlot:
        """Register a method's own optimiser (e.g. a generator's): it follows the run's
        learning-rate steps, gets its own GradScaler, and is checkpointed and resumed."""
        sched = self._make_scheduler(optimizer) if self._make_scheduler is not None else None
        slot = OptimSlot(optimizer, sched, self.precision.make_scaler())
        if self._register is not None:
            self._register(name, slot)
        return slot

    # ---- one step -----------------------------------------------------------------------
    def autocast(self):
        """The run's autocast context (float16 on CUDA / bfloat16 / a no-op for float32)."""
        return self.precision.autocast()

    def optimize(self, loss: torch.Tensor, slot: OptimSlot, params: Iterable[nn.Parameter]
                 ) -> None:
        """zero_grad, (scaled) backward, optional gradient clipping (`train.grad_clip`), step."""
        optimizer, scaler = slot.optimizer, slot.scaler
        clip = self.cfg.train.grad_clip
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None and scaler.is_enabled():
            scaler.scale(loss).backward()
            if clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(list(params), clip)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(list(params), clip)
            optimizer.step()

    def step_generator(self, salt: int = 0) -> torch.Generator:
        """A CPU torch.Generator seeded by (seed, rank, step, salt): method randomness that a
        resumed run repeats exactly."""
        g = torch.Generator()
        g.manual_seed(step_seed(self.cfg.seed, self.rank, self.step, salt))
        return g

    def step_rng(self, salt: int = 0) -> np.random.Generator:
        """NumPy counterpart of `step_generator`."""
        return np.random.default_rng([self.cfg.seed, self.rank, self.step, salt])


class Method(Protocol):
    """What the trainer calls on a training method (robustpose_bench.methods.TrainingMethod)."""

    name: str

    def setup(self, ctx: TrainContext) -> None: ...

    def sample_transform(self) -> SampleTransform | None: ...

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]: ...

    def inference_model(self, model: nn.Module) -> nn.Module: ...

    def inference_config(self) -> dict[str, Any]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


__all__ = ["Method", "OptimSlot", "TrainContext", "step_seed"]
