"""Training configuration: plain YAML files mapped onto dataclasses, with `--set key=value`.

Defaults follow the HRNet / SimpleBaseline reference schedules (PROTOCOL.md section 3); one
flat file per experiment, no inheritance, so the file says everything that runs.
"""
from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from robustpose_bench.models.codec import CODECS

#: `train.amp_dtype` values (train/precision.py).
AMP_DTYPES = ("auto", "float16", "bfloat16")


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the file and the key."""


@dataclass
class SynthGenConfig:
    """Generate SynthPose into `data.root` when the annotation files are missing.

    seed: null uses the SynthPose defaults (train 1, val 0: the val split is then the one
    `robustpose synth` and the demo write); an integer s gives train s and val s + 1.
    """

    train_images: int = 1500
    val_images: int = 100
    seed: int | None = None
    jobs: int = 1


@dataclass
class ModelConfig:
    """The pose network (a model-zoo name) and its input / output geometry.

    input_size and heatmap_size are (width, height) in pixels / heatmap cells; heatmap_size
    defaults to input_size / 4. pretrained: an optional local file with ImageNet backbone
    weights (safetensors or a torch state dict); nothing is ever downloaded. checkpoint: a
    full pose checkpoint to start from (fine-tuning, e.g. AdvMix retraining a standard model).
    """

    name: str = "sbl_r50"
    num_keypoints: int = 17
    input_size: list[int] = field(default_factory=lambda: [192, 256])
    heatmap_size: list[int] | None = None
    pretrained: str | None = None
    checkpoint: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class AugmentParams:
    """The reference top-down augmentation (HRNet COCO defaults), `data.augment` of a config.

    rotation: degrees, sampled N(0, rotation) clipped to +-2 rotation and applied with
    probability rotation_prob (the reference's `ROT_FACTOR`; papers write it as "+-40 deg").
    scale_factor: s * clip(N(1, sf), 1 - sf, 1 + sf). half_body_prob: the half-body crop when
    more than half_body_min_joints joints are labelled. flip: horizontal flip with p 0.5.
    """

    flip: bool = True
    rotation: float = 40.0
    rotation_prob: float = 0.6
    scale_factor: float = 0.3
    half_body_prob: float = 0.3
    half_body_min_joints: int = 8


AUGMENT_KEYS = tuple(f.name for f in dataclasses.fields(AugmentParams))


@dataclass
class DataConfig:
    """Where the training / validation data live, the augmentation and the target encoding.

    Relative paths are resolved against `root` when given, else the working directory.
    val_det: a detection-results json for validation boxes; null uses the GT boxes.
    augment: the reference augmentation (AugmentParams). encoding: the heatmap codec of the
    targets (`models.codec`: msra = the HRNet reference, unbiased = DARK), sigma its Gaussian
    std in heatmap cells; the checkpoint records the matching decoder.
    masks: folder of per-person part label maps `<ann_id>.png` (SynthPose layout), used by
    ASDA's part pool; null when the data set has none.
    """

    dataset: str | None = None
    root: str | None = None
    train_ann: str = ""
    train_images: str = ""
    val_ann: str | None = None
    val_images: str | None = None
    val_det: str | None = None
    val_gt_mat: str | None = None
    masks: str | None = None
    synthpose: SynthGenConfig | None = None
    augment: AugmentParams = field(default_factory=AugmentParams)
    encoding: str = "msra"
    sigma: float = 2.0
    workers: int = 2
    min_keypoints: int = 1


@dataclass
class OptimConfig:
    """Optimiser and step schedule (epochs, per-process batch size, learning-rate steps).

    cpu_threads: torch intra-op threads on CPU (null: torch's default); 1 is much faster than
    2 on a shared, busy CPU. checkpoint_every_steps: also save last_state.pt mid-epoch.
    max_steps_per_epoch: cap (quick runs, tests).
    amp: mixed precision (`train/precision.py`); amp_dtype: auto (float16 on CUDA, bfloat16 on
    a CPU with native bf16 instructions, else float32), float16 (CUDA) or bfloat16 (forced,
    also on a CPU that emulates it). channels_last: NHWC weights and inputs (null: on with
    CPU bfloat16, off otherwise).
    """

    epochs: int = 140
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_steps: list[int] = field(default_factory=lambda: [90, 120])
    lr_factor: float = 0.1
    amp: bool = True
    amp_dtype: str = "auto"
    channels_last: bool | None = None
    grad_clip: float | None = None
    max_steps_per_epoch: int | None = None
    checkpoint_every_steps: int = 0
    log_every: int = 20
    cpu_threads: int | None = None


@dataclass
class ValConfig:
    """Validation during training: every `every` epochs (0: only at the end)."""

    every: int = 10
    flip_test: bool = True
    batch_size: int = 64
    max_images: int | None = None


@dataclass
class TrainConfig:
    """One training experiment."""

    name: str = "experiment"
    method: str = "standard"
    method_args: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: OptimConfig = field(default_factory=OptimConfig)
    val: ValConfig = field(default_factory=ValConfig)

    # ---- derived values -------------------------------------------------------------------
    @property
    def input_size(self) -> tuple[int, int]:
        w, h = self.model.input_size
        return int(w), int(h)

    @property
    def heatmap_size(self) -> tuple[int, int]:
        if self.model.heatmap_size is not None:
            w, h = self.model.heatmap_size
            return int(w), int(h)
        w, h = self.input_size
        return w // 4, h // 4

    def resolve(self, path: str | None) -> Path | None:
        """A data path relative to `data.root` (or the working directory)."""
        if path is None or path == "":
            return None
        p = Path(path).expanduser()
        if not p.is_absolute() and self.data.root:
            p = Path(self.data.root).expanduser() / p
        return p

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---- dict <-> dataclass ---------------------------------------------------------------------

def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _optional_inner(tp: Any) -> Any | None:
    """`X` for `X | None` / Optional[X], else None."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return None


def _coerce(value: Any, tp: Any, where: str) -> Any:
    if value is None:
        if _optional_inner(tp) is not None or tp is Any:
            return None
        raise ConfigError(f"{where}: may not be null")
    inner = _optional_inner(tp)
    if inner is not None:
        tp = inner
    if tp is Any:
        return value
    if _is_dataclass_type(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return _from_dict(tp, value, where)
    origin = typing.get_origin(tp)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads `5e-4` (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    return value


def _from_dict(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(sorted(names))}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    return cls(**kwargs)


def _check_moved_keys(data: dict[str, Any], source: str) -> None:
    """Configs written before the augmentation moved under `data.augment` get one clear error."""
    section = data.get("data")
    if not isinstance(section, dict):
        return
    moved = [k for k in AUGMENT_KEYS if k in section]
    if moved:
        raise ConfigError(f"{source}: data.{moved[0]}: the augmentation parameters moved to "
                          f"data.augment ({', '.join(f'data.augment.{k}' for k in moved)})")


def config_from_dict(data: dict[str, Any], source: str = "config") -> TrainConfig:
    """Validate a plain dict (e.g. parsed YAML) into a TrainConfig; unknown keys raise."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at top level, got {type(data).__name__}")
    _check_moved_keys(data, source)
    try:
        cfg = _from_dict(TrainConfig, data, "")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    validate_config(cfg, source)
    return cfg


def validate_config(cfg: TrainConfig, source: str = "config") -> None:
    """Range checks that the type coercion cannot express."""
    def bad(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{source}: {key}: {msg}")

    for key, size in (("model.input_size", cfg.model.input_size),
                      ("model.heatmap_size", cfg.model.heatmap_size)):
        if size is not None and (len(size) != 2 or min(size) <= 0):
            raise bad(key, f"expected [width, height] with positive values, got {size}")
    if cfg.model.num_keypoints <= 0:
        raise bad("model.num_keypoints", "must be positive")
    if cfg.train.epochs <= 0:
        raise bad("train.epochs", "must be positive")
    if cfg.train.batch_size <= 0:
        raise bad("train.batch_size", "must be positive")
    if cfg.train.lr <= 0:
        raise bad("train.lr", "must be positive")
    if cfg.train.optimizer not in ("adam", "adamw", "sgd"):
        raise bad("train.optimizer", f"expected adam, adamw or sgd, got {cfg.train.optimizer!r}")
    if sorted(cfg.train.lr_steps) != list(cfg.train.lr_steps):
        raise bad("train.lr_steps", f"must be increasing, got {cfg.train.lr_steps}")
    aug = cfg.data.augment
    for key in ("half_body_prob", "rotation_prob"):
        if not 0.0 <= getattr(aug, key) <= 1.0:
            raise bad(f"data.augment.{key}", "must be in [0, 1]")
    if not 0.0 <= aug.scale_factor < 1.0:
        raise bad("data.augment.scale_factor", "must be in [0, 1)")
    if aug.rotation < 0:
        raise bad("data.augment.rotation", "must be >= 0 (degrees)")
    if cfg.data.sigma <= 0:
        raise bad("data.sigma", "must be positive")
    if cfg.data.encoding not in CODECS:
        raise bad("data.encoding", f"expected one of {', '.join(CODECS)}, got "
                                   f"{cfg.data.encoding!r}")
    if cfg.train.amp_dtype not in AMP_DTYPES:
        raise bad("train.amp_dtype", f"expected one of {', '.join(AMP_DTYPES)}, got "
                                     f"{cfg.train.amp_dtype!r}")
    if cfg.data.workers < 0:
        raise bad("data.workers", "must be >= 0")
    if cfg.val.every < 0:
        raise bad("val.every", "must be >= 0")


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b.c=value` -> (['a', 'b', 'c'], YAML-parsed value)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r}: cannot parse the value: {exc}") from None
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `key=value` overrides to a raw config dict (a copy is returned).

    Keys are dotted paths (`train.lr=5e-4`, `method_args.alpha=0.2`); intermediate mappings
    are created only below `method_args` and `model.kwargs` (free-form), elsewhere a missing
    key is an error caught by the dataclass validation.
    """
    out = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            nxt = node.get(part)
            if nxt is None:
                nxt = {}
                node[part] = nxt
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {text!r}: {part} is not a mapping")
            node = nxt
        node[path[-1]] = value
    return out


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config, apply `key=value` overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at top level")
    data = apply_overrides(data, overrides or [])
    return config_from_dict(data, str(path))


def resolve_asset(path: str | Path) -> Path:
    """A path as given, or else relative to the folder holding the installed package, so that
    configs can name `robustpose_bench/assets/models/...` from any working directory."""
    import robustpose_bench

    p = Path(path).expanduser()
    if p.exists() or p.is_absolute():
        return p
    alt = Path(robustpose_bench.__file__).resolve().parent.parent / p
    return alt if alt.exists() else p


def dump_config(cfg: TrainConfig) -> str:
    """The config as YAML text (what was actually run)."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
