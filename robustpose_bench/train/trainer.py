"""The top-down training loop shared by every method: data, optimiser, schedule, validation,
checkpoints, resume after a kill, mixed precision (train/precision.py) and DDP under torchrun.

Schedules follow HRNet / SimpleBaseline (Adam 1e-3, steps 170/200 of 210 or 90/120 of 140,
PROTOCOL.md section 3); a method decides what one step does. The Trainer takes a method
instance and hands it a `TrainContext` (train/context.py); it never imports the methods:
`robustpose_bench.training.train_from_config` resolves a config's `method:` through the registry
of robustpose_bench.methods and builds the Trainer.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import platform
import random
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from robustpose_bench import __version__
from robustpose_bench.datasets.types import Dataset
from robustpose_bench.io import atomic_write_bytes, atomic_write_text
from robustpose_bench.models.codec import get_codec
from robustpose_bench.train import distributed
from robustpose_bench.train.config import ConfigError, TrainConfig, dump_config, resolve_asset
from robustpose_bench.train.context import Method, OptimSlot, TrainContext
from robustpose_bench.train.data import (
    ResumableDistributedSampler,
    TopDownTrainDataset,
    worker_init,
)
from robustpose_bench.train.precision import resolve_precision

log = logging.getLogger(__name__)

STATE_FILE = "last_state.pt"
STATE_VERSION = 1


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def select_device(name: str | None, local_rank: int = 0) -> torch.device:
    """`cuda` / `cuda:N` / `cpu` / None (CUDA when available)."""
    if name in (None, "", "auto"):
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} requested but CUDA is not available")
        if dev.index is None:
            dev = torch.device(f"cuda:{local_rank}")
    return dev


def load_training_dataset(cfg: TrainConfig, split: str) -> Dataset | None:
    """The train or val Dataset of a config (generating SynthPose first when configured)."""
    from robustpose_bench.datasets.loading import load_dataset

    ann = cfg.resolve(cfg.data.train_ann if split == "train" else cfg.data.val_ann)
    images = cfg.resolve(cfg.data.train_images if split == "train" else cfg.data.val_images)
    if ann is None:
        if split == "train":
            raise ConfigError("data.train_ann is not set")
        return None
    gt_mat = cfg.resolve(cfg.data.val_gt_mat) if split == "val" else None
    return load_dataset(ann, images, dataset_name=cfg.data.dataset, gt_mat=gt_mat)


def ensure_synthpose(cfg: TrainConfig) -> None:
    """Generate the SynthPose train/val splits under data.root when `data.synthpose` is set
    and the annotation files do not exist yet."""
    gen = cfg.data.synthpose
    if gen is None:
        return
    if not cfg.data.root:
        raise ConfigError("data.synthpose needs data.root (where to generate SynthPose)")
    from robustpose_bench.datasets.synthpose import generate

    for split, n in (("train", gen.train_images), ("val", gen.val_images)):
        ann = cfg.resolve(cfg.data.train_ann if split == "train" else cfg.data.val_ann)
        if ann is None or ann.is_file() or n <= 0:
            continue
        seed = None if gen.seed is None else gen.seed + (0 if split == "train" else 1)
        log.info("generating SynthPose %s split (%d images, seed %s) in %s", split, n,
                 "default" if seed is None else seed, cfg.data.root)
        generate(cfg.data.root, split, n, seed=seed, jobs=gen.jobs)


class Trainer:
    """Trains `cfg.model` with a training method and writes checkpoints into `out_dir`.

    method: the method instance (`robustpose_bench.methods.get_method(cfg.method)(args)`, as
    `robustpose_bench.training.build_trainer` makes it); the trainer calls its `setup(ctx)` with a
    TrainContext, its per-sample hook and its `train_step` (train/context.py).

    Files in out_dir: config.yaml (what ran), last_state.pt (everything needed to resume:
    model, optimisers, schedulers, AMP scalers, method modules, RNG states, epoch / step),
    last.safetensors + last.json and best.safetensors + best.json (the exported model with
    its JSON config), history.jsonl (one line per epoch), train.log.

    model / train_dataset / val_dataset may be passed in (tests, notebooks); otherwise they
    are built from the config (zoo model, annotation files).
    """

    def __init__(self, cfg: TrainConfig, method: Method, out_dir: str | Path | None = None, *,
                 device: str | None = None, resume: bool = True, model: nn.Module | None = None,
                 train_dataset: Dataset | None = None, val_dataset: Dataset | None = None):
        self.cfg = cfg
        self.method = method
        self.out_dir = Path(out_dir) if out_dir is not None else Path("runs") / "train" / cfg.name
        self.dist = distributed.init_distributed(select_device(device).type)
        self.device = select_device(device, self.dist.local_rank)
        self.precision = resolve_precision(cfg.train.amp, cfg.train.amp_dtype,
                                           cfg.train.channels_last, self.device)
        self.codec = get_codec(cfg.data.encoding)
        if cfg.train.cpu_threads:
            torch.set_num_threads(int(cfg.train.cpu_threads))
        seed_everything(cfg.seed)
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._attach_log_file()

        # weight files are checked before the data (SynthPose generation takes minutes)
        for key, path in (("model.pretrained", cfg.resolve(cfg.model.pretrained)),
                          ("model.checkpoint", cfg.model.checkpoint
                           and resolve_asset(cfg.model.checkpoint))):
            if model is None and path and not Path(path).is_file():
                raise ConfigError(f"{key}: {path} does not exist")

        # ---- data ------------------------------------------------------------------------
        if train_dataset is None:
            if self.dist.is_main:
                ensure_synthpose(cfg)
            distributed.barrier(self.dist)
            train_dataset = load_training_dataset(cfg, "train")
            if val_dataset is None and cfg.data.val_ann:
                val_dataset = load_training_dataset(cfg, "val")
        self.train_data = train_dataset
        self.val_data = val_dataset
        self.meta = train_dataset.meta
        if self.meta.num_keypoints != cfg.model.num_keypoints:
            raise ConfigError(f"model.num_keypoints is {cfg.model.num_keypoints} but the training "
                              f"data ({self.meta.name}) has {self.meta.num_keypoints} keypoints")

        # ---- model -------------------------------------------------------------------------
        if model is None:
            from robustpose_bench.models import create_model

            pretrained = cfg.resolve(cfg.model.pretrained)
            init = resolve_asset(cfg.model.checkpoint) if cfg.model.checkpoint else None
            model = create_model(cfg.model.name, num_keypoints=cfg.model.num_keypoints,
                                 pretrained_backbone=pretrained, checkpoint=init,
                                 **cfg.model.kwargs)
        self.raw_model = self.precision.prepare(model.to(self.device))
        self._check_output_shape()
        self.model: nn.Module = self.wrap_ddp(self.raw_model)

        # ---- optimisation ------------------------------------------------------------------
        self.pose = OptimSlot(self.make_optimizer(self.raw_model.parameters()), None,
                              self.precision.make_scaler())
        self.pose.scheduler = self.make_scheduler(self.pose.optimizer)
        self.extra_optimizers: dict[str, OptimSlot] = {}
        self.epoch = 0
        self.batch_in_epoch = 0
        self.global_step = 0
        self.train_time = 0.0
        self.best_metric: float | None = None
        self.best_epoch: int | None = None
        self.history: list[dict[str, Any]] = []

        self.context = TrainContext(
            cfg, self.meta, train_dataset, self.device, self.model, self.raw_model, self.pose,
            self.precision, rank=self.dist.rank, wrap_ddp=self.wrap_ddp,
            make_scheduler=self.make_scheduler, register=self.add_optimizer)
        self.method.setup(self.context)
        transform = self.method.sample_transform()
        self.train_set = TopDownTrainDataset(
            train_dataset, cfg.input_size, cfg.heatmap_size, train=True,
            augment=cfg.data.augment, sigma=cfg.data.sigma, encoding=cfg.data.encoding,
            seed=cfg.seed, min_keypoints=cfg.data.min_keypoints, sample_transform=transform)
        self.sampler = ResumableDistributedSampler(
            self.train_set, cfg.train.batch_size, num_replicas=self.dist.world_size,
            rank=self.dist.rank, shuffle=True, seed=cfg.seed, drop_last=False)
        if resume:
            self.try_resume()

    # ---- construction helpers --------------------------------------------------------------
    def _attach_log_file(self) -> None:
        handler = logging.FileHandler(self.out_dir / "train.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.INFO)
        root = logging.getLogger("robustpose_bench")
        root.addHandler(handler)
        if root.level == logging.NOTSET or root.level > logging.INFO:
            root.setLevel(logging.INFO)
        self._log_handler = handler

    def _check_output_shape(self) -> None:
        w, h = self.cfg.input_size
        hw, hh = self.cfg.heatmap_size
        was_training = self.raw_model.training
        self.raw_model.eval()
        with torch.no_grad():
            out = self.raw_model(torch.zeros(1, 3, h, w, device=self.device))
        self.raw_model.train(was_training)
        want = (1, self.cfg.model.num_keypoints, hh, hw)
        if tuple(out.shape) != want:
            raise ConfigError(f"model {self.cfg.model.name} maps a {w}x{h} input to "
                              f"{tuple(out.shape)}, expected {want} (model.heatmap_size "
                              f"[{hw}, {hh}]); pick an input size the network supports")

    def wrap_ddp(self, module: nn.Module) -> nn.Module:
        """DistributedDataParallel around a trainable module when running under torchrun."""
        if not self.dist.enabled:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def make_optimizer(self, params: Iterable[nn.Parameter], lr: float | None = None
                       ) -> torch.optim.Optimizer:
        t = self.cfg.train
        lr = t.lr if lr is None else lr
        params = [p for p in params if p.requires_grad]
        if t.optimizer == "adam":
            return torch.optim.Adam(params, lr=lr, weight_decay=t.weight_decay)
        if t.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=lr, weight_decay=t.weight_decay)
        return torch.optim.SGD(params, lr=lr, momentum=t.momentum, weight_decay=t.weight_decay,
                               nesterov=False)

    def make_scheduler(self, optimizer: torch.optim.Optimizer):
        t = self.cfg.train
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(t.lr_steps),
                                                    gamma=t.lr_factor)

    def add_optimizer(self, name: str, slot: OptimSlot) -> None:
        """Register a method's extra optimiser: it is checkpointed, resumed, and its scheduler
        steps with the epochs."""
        if name in self.extra_optimizers or name == "model":
            raise ValueError(f"optimizer {name!r} registered twice")
        self.extra_optimizers[name] = slot

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The pose network's optimiser."""
        return self.pose.optimizer

    # ---- data loading ------------------------------------------------------------------------
    def make_loader(self) -> DataLoader:
        workers = self.cfg.data.workers
        return DataLoader(self.train_set, batch_size=self.cfg.train.batch_size,
                          sampler=self.sampler, num_workers=workers, drop_last=True,
                          pin_memory=self.device.type == "cuda", worker_init_fn=worker_init,
                          persistent_workers=False,
                          multiprocessing_context="fork" if workers > 0 and platform.system() == "Linux" else None)

    def steps_per_epoch(self) -> int:
        n = self.sampler.num_samples // self.cfg.train.batch_size
        cap = self.cfg.train.max_steps_per_epoch
        return min(n, cap) if cap else n

    def to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        """A collated batch on the training device (the image in the run's memory format)."""
        nb = self.device.type == "cuda"
        out = {k: (v.to(self.device, non_blocking=nb) if isinstance(v, torch.Tensor) else v)
               for k, v in batch.items()}
        if "image" in out:
            out["image"] = self.precision.images(out["image"])
        return out

    # ---- checkpoints -------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.out_dir / STATE_FILE

    def state_dict(self) -> dict[str, Any]:
        extra = {}
        for name, slot in self.extra_optimizers.items():
            extra[name] = {"optimizer": slot.optimizer.state_dict(),
                           "scheduler": _state_or_none(slot.scheduler),
                           "scaler": _state_or_none(slot.scaler)}
        rng = {"torch": torch.get_rng_state(),
               "numpy": json.dumps(np.random.get_state(legacy=False), default=_json_default),
               "python": json.dumps(random.getstate())}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "version": STATE_VERSION,
            "config": json.dumps(self.cfg.to_dict()),
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "global_step": self.global_step,
            "train_time": self.train_time,
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "history": json.dumps(self.history),
            "model": self.raw_model.state_dict(),
            "optimizer": self.pose.optimizer.state_dict(),
            "scheduler": self.pose.scheduler.state_dict(),
            "scaler": self.pose.scaler.state_dict(),
            "extra_optimizers": extra,
            "method": self.method.state_dict(),
            "rng": rng,
        }

    def save_state(self) -> None:
        if not self.dist.is_main:
            return
        buf = io.BytesIO()
        torch.save(self.state_dict(), buf)
        atomic_write_bytes(self.state_path, buf.getvalue())

    def try_resume(self) -> bool:
        """Load last_state.pt from out_dir when it exists; True when resumed."""
        if not self.state_path.is_file():
            return False
        try:
            state = torch.load(self.state_path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(f"cannot resume from {self.state_path}: {exc}; delete it or train "
                             f"with --no-resume into another folder") from exc
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"{self.state_path}: state version {state.get('version')} is not "
                             f"{STATE_VERSION}")
        saved = json.loads(state["config"])
        now = self.cfg.to_dict()
        for key in ("model", "method"):
            if saved.get(key) != now.get(key):
                raise ValueError(f"cannot resume from {self.state_path}: `{key}` differs from the "
                                 f"run that wrote it ({saved.get(key)} vs {now.get(key)}); use "
                                 f"--no-resume or another --out folder")
        if saved != now:
            log.warning("resuming %s with a changed config (model and method unchanged)",
                        self.state_path)
        self.raw_model.load_state_dict(state["model"], strict=True)
        self.pose.optimizer.load_state_dict(state["optimizer"])
        self.pose.scheduler.load_state_dict(state["scheduler"])
        self.pose.scaler.load_state_dict(state["scaler"])
        for name, slot in self.extra_optimizers.items():
            if name not in state["extra_optimizers"]:
                raise ValueError(f"{self.state_path}: no state for optimizer {name!r}")
            rec = state["extra_optimizers"][name]
            slot.optimizer.load_state_dict(rec["optimizer"])
            if slot.scheduler is not None and rec["scheduler"] is not None:
                slot.scheduler.load_state_dict(rec["scheduler"])
            if slot.scaler is not None and rec["scaler"] is not None:
                slot.scaler.load_state_dict(rec["scaler"])
        for slot in (self.pose, *self.extra_optimizers.values()):
            self._apply_schedule(slot.scheduler)
        self.method.load_state_dict(state["method"])
        self.epoch = int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.global_step = int(state["global_step"])
        self.train_time = float(state["train_time"])
        self.best_metric = state["best_metric"]
        self.best_epoch = state["best_epoch"]
        self.history = json.loads(state["history"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        np.random.set_state(_numpy_state(json.loads(rng["numpy"])))
        random.setstate(_python_state(json.loads(rng["python"])))
        if "cuda" in rng and torch.cuda.is_available():
            with contextlib.suppress(RuntimeError):
                torch.cuda.set_rng_state_all(rng["cuda"])
        log.info("resumed from %s at epoch %d, batch %d (step %d)", self.state_path, self.epoch,
                 self.batch_in_epoch, self.global_step)
        return True

    def _apply_schedule(self, scheduler: Any) -> None:
        """After loading a scheduler's state: use the config's learning-rate steps and factor
        (the state stores the ones of the run that wrote it) and set the learning rate they
        give at the resumed epoch, so a resumed run can shorten or move its schedule."""
        if not isinstance(scheduler, torch.optim.lr_scheduler.MultiStepLR):
            return
        t = self.cfg.train
        saved = sorted(scheduler.milestones.elements())
        if saved != list(t.lr_steps) or scheduler.gamma != t.lr_factor:
            log.warning("resuming with learning-rate steps %s x%g (the state has %s x%g)",
                        list(t.lr_steps), t.lr_factor, saved, scheduler.gamma)
        scheduler.milestones = Counter(t.lr_steps)
        scheduler.gamma = t.lr_factor
        done = sum(1 for m in t.lr_steps if m <= scheduler.last_epoch)
        for group, base in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, strict=True):
            group["lr"] = base * t.lr_factor ** done
        scheduler._last_lr = [g["lr"] for g in scheduler.optimizer.param_groups]

    def checkpoint_config(self, metrics: dict[str, float] | None = None) -> dict[str, Any]:
        """The JSON config stored next to an exported checkpoint."""
        cfg = self.cfg
        return {
            "name": cfg.name,
            "model": cfg.model.name,
            "num_keypoints": cfg.model.num_keypoints,
            "model_kwargs": cfg.model.kwargs,
            "input_size": list(cfg.input_size),
            "heatmap_size": list(cfg.heatmap_size),
            "method": cfg.method,
            "method_args": cfg.method_args,
            "inference": self.inference_config(),
            "encoding": self.codec.name,
            "sigma": cfg.data.sigma,
            "dataset": self.meta.name,
            "keypoint_names": list(self.meta.keypoint_names),
            "flip_pairs": [list(p) for p in self.meta.flip_pairs],
            "epoch": self.epoch,
            "global_step": self.global_step,
            "train_time_s": round(self.train_time, 1),
            "metrics": metrics or {},
            "train_config": cfg.to_dict(),
            "versions": {"robustpose_bench": __version__, "torch": torch.__version__,
                         "python": platform.python_version()},
        }

    def export(self, name: str, metrics: dict[str, float] | None = None) -> Path:
        """Write `<name>.safetensors` + `<name>.json` (rank 0 only)."""
        from robustpose_bench.models.checkpoint import save_checkpoint

        path = self.out_dir / f"{name}.safetensors"
        if self.dist.is_main:
            save_checkpoint(self.raw_model, path, self.checkpoint_config(metrics))
        return path

    # ---- validation --------------------------------------------------------------------------
    def inference_config(self) -> dict[str, Any]:
        """How the evaluator should run this model (the checkpoint's `inference` entry): the
        decoder matching the target encoding, then the method's own entries (which win)."""
        return {"decode": self.codec.decoder, **self.method.inference_config()}

    def validate(self) -> dict[str, float]:
        """Clean validation score (percent) of the current weights on the validation data."""
        from robustpose_bench.train.validate import validate_model

        if self.val_data is None:
            return {}
        model = self.method.inference_model(self.raw_model)
        was_training = self.raw_model.training
        model.eval()
        try:
            metrics = validate_model(model, self.val_data, self.cfg.input_size,
                                     device=self.device, flip_test=self.cfg.val.flip_test,
                                     decode=self.inference_config()["decode"],
                                     batch_size=self.cfg.val.batch_size,
                                     max_images=self.cfg.val.max_images,
                                     det_file=self.cfg.resolve(self.cfg.data.val_det))
        finally:
            self.raw_model.train(was_training)
        return metrics

    def _val_due(self, epoch_done: int) -> bool:
        every = self.cfg.val.every
        last = epoch_done == self.cfg.train.epochs
        return self.val_data is not None and (last or (every > 0 and epoch_done % every == 0))

    # ---- the loop ----------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train until `train.epochs`; returns a summary (epochs, time, best / last metrics)."""
        cfg = self.cfg
        if self.dist.is_main:
            atomic_write_text(self.out_dir / "config.yaml", dump_config(cfg))
        if self.epoch >= cfg.train.epochs:
            log.info("%s already trained for %d epochs; nothing to do", self.out_dir, self.epoch)
            return self.summary()
        log.info("training %s (%s, %s) on %s for %d epochs: %d instances, %d steps/epoch, "
                 "device %s%s, %d process(es)", cfg.name, cfg.model.name, cfg.method,
                 self.meta.name, cfg.train.epochs, len(self.train_set), self.steps_per_epoch(),
                 self.device, f" ({self.precision.name}"
                 f"{', channels_last' if self.precision.channels_last else ''})",
                 self.dist.world_size)
        self.raw_model.train()
        while self.epoch < cfg.train.epochs:
            self._train_epoch()
            metrics = {}
            if self._val_due(self.epoch):
                if self.dist.is_main:
                    metrics = self.validate()
                    log.info("epoch %d validation: %s", self.epoch,
                             ", ".join(f"{k} {v:.2f}" for k, v in metrics.items()))
                metrics = distributed.broadcast_object(metrics, self.dist)
                self.history[-1]["val"] = metrics
                key = _main_metric(metrics)
                if key is not None and (self.best_metric is None or metrics[key] > self.best_metric):
                    self.best_metric = float(metrics[key])
                    self.best_epoch = self.epoch
                    self.export("best", metrics)
            self.save_state()
            self.export("last", metrics or self._last_val())
            if self.dist.is_main:
                atomic_write_text(self.out_dir / "history.jsonl",
                                  "".join(json.dumps(h) + "\n" for h in self.history))
                self._plot_curves()
            distributed.barrier(self.dist)
        return self.summary()

    def _plot_curves(self) -> None:
        """curves.png beside history.jsonl; a drawing failure only logs (the run goes on)."""
        from robustpose_bench.train.curves import plot_history

        try:
            plot_history(self.history, self.out_dir / "curves.png",
                         f"{self.cfg.name} ({self.cfg.model.name}, {self.cfg.method})")
        except (OSError, ValueError, RuntimeError) as exc:
            log.warning("could not draw %s: %s", self.out_dir / "curves.png", exc)

    def _train_epoch(self) -> None:
        cfg = self.cfg
        steps = self.steps_per_epoch()
        self.sampler.set_epoch(self.epoch, self.batch_in_epoch)
        loader = self.make_loader()
        sums: dict[str, float] = {}
        count = 0
        t0 = time.time()
        t_log = t0
        if self.batch_in_epoch < steps:
            for batch in loader:
                if self.batch_in_epoch >= steps:
                    break
                self.context.step = self.global_step
                logs = self.method.train_step(self.to_device(batch))
                self.global_step += 1
                self.batch_in_epoch += 1
                count += 1
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                if not all(math.isfinite(float(v)) for v in logs.values()):
                    raise FloatingPointError(f"non-finite loss at epoch {self.epoch} step "
                                             f"{self.batch_in_epoch}: {logs}")
                if cfg.train.log_every and self.global_step % cfg.train.log_every == 0:
                    now = time.time()
                    log.info("epoch %d [%d/%d] %s lr %.2e (%.1f img/s)", self.epoch + 1,
                             self.batch_in_epoch, steps,
                             " ".join(f"{k} {v:.5f}" for k, v in logs.items()),
                             self.optimizer.param_groups[0]["lr"],
                             cfg.train.log_every * cfg.train.batch_size * self.dist.world_size
                             / max(now - t_log, 1e-9))
                    t_log = now
                if (cfg.train.checkpoint_every_steps
                        and self.global_step % cfg.train.checkpoint_every_steps == 0
                        and self.batch_in_epoch < steps):
                    self.train_time += time.time() - t0
                    t0 = time.time()
                    self.save_state()
        del loader
        elapsed = time.time() - t0
        self.train_time += elapsed
        lr = self.pose.optimizer.param_groups[0]["lr"]
        self.pose.scheduler.step()
        for slot in self.extra_optimizers.values():
            if slot.scheduler is not None:
                slot.scheduler.step()
        means = {k: distributed.all_reduce_mean(v / max(count, 1), self.dist, self.device)
                 for k, v in sorted(sums.items())}
        self.epoch += 1
        self.batch_in_epoch = 0
        self.history.append({"epoch": self.epoch, "lr": lr, "steps": count,
                             "seconds": round(elapsed, 2), **means})
        log.info("epoch %d done in %.1f s: %s", self.epoch, elapsed,
                 " ".join(f"{k} {v:.5f}" for k, v in means.items()))

    def _last_val(self) -> dict[str, float]:
        for h in reversed(self.history):
            if h.get("val"):
                return h["val"]
        return {}

    def summary(self) -> dict[str, Any]:
        return {"name": self.cfg.name, "method": self.cfg.method, "model": self.cfg.model.name,
                "epochs": self.epoch, "steps": self.global_step,
                "train_time_s": round(self.train_time, 1), "best_metric": self.best_metric,
                "best_epoch": self.best_epoch, "last_val": self._last_val(),
                "out_dir": str(self.out_dir)}

    def close(self) -> None:
        handler = getattr(self, "_log_handler", None)
        if handler is not None:
            logging.getLogger("robustpose_bench").removeHandler(handler)
            handler.close()
            self._log_handler = None


def _state_or_none(obj: Any) -> dict | None:
    return obj.state_dict() if obj is not None else None


def _main_metric(metrics: dict[str, float]) -> str | None:
    for key in ("AP", "PCKh", "PCK"):
        if key in metrics:
            return key
    return None


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.integer):
        return int(obj)
    raise TypeError(type(obj).__name__)


def _numpy_state(state: dict[str, Any]) -> dict[str, Any]:
    if isinstance(state.get("state"), dict) and isinstance(state["state"].get("key"), list):
        state["state"]["key"] = np.asarray(state["state"]["key"], dtype=np.uint32)
    return state


def _python_state(state: list) -> tuple:
    return (state[0], tuple(state[1]), state[2])
