"""Safe checkpoint loading and saving for the zoo: safetensors or `torch.load(weights_only=True)`,
strict key checking, foreign names (HRNet reference, MMPose) mapped by `keymaps`.

Rules (docs/adapters.md): pickled objects beyond tensors and plain containers are refused
unless the caller trusts the file; missing / unexpected keys and shape mismatches are errors
that list the keys; nothing is ever loaded non-strictly.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robustpose_bench.io import atomic_write_bytes, atomic_write_json, sha256_bytes
from robustpose_bench.models import keymaps

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "robustpose-checkpoint"
SCHEMA_VERSION = 1
WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")
_MAX_LISTED = 12


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model; the message names the file
    and the keys at fault."""


def _is_safetensors(path: Path) -> bool:
    if path.suffix == ".safetensors":
        return True
    with open(path, "rb") as fh:
        head = fh.read(9)
    # safetensors: 8-byte little-endian header length, then a JSON header.
    return len(head) == 9 and head[8:9] == b"{"


def _numpy_data_globals() -> list:
    """NumPy arrays and scalars (data, not code) allowed in weights-only loading: MMPose and
    many training scripts store them in checkpoint metadata (e.g. OKS sigmas)."""
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    allowed: list = [np.ndarray, np.dtype, core.multiarray._reconstruct, core.multiarray.scalar]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        allowed += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return allowed


def read_checkpoint(path: str | Path, trust: bool = False) -> Any:
    """The raw object stored in `path`.

    `.safetensors` -> dict of tensors (never runs code). Anything else goes through
    `torch.load(map_location="cpu", weights_only=True)`, which accepts tensors, plain
    containers and NumPy arrays / scalars only; a file that pickles other objects (classes,
    functions, whole modules) raises CheckpointError unless `trust=True` (CLI:
    --trust-checkpoint), in which case it is unpickled in full: only do that for files from a
    source you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if _is_safetensors(path):
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:  # safetensors raises its own error types
            raise CheckpointError(f"checkpoint {path}: not a valid safetensors file ({exc})") from exc
    try:
        with torch.serialization.safe_globals(_numpy_data_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" not in str(exc).lower() and "weights_only" not in str(exc):
            raise CheckpointError(f"checkpoint {path}: cannot be read by torch.load ({exc})"
                                  ) from exc
        if not trust:
            found = re.search(r"GLOBAL ([\w.]+)", str(exc))
            detail = f" (first one: {found.group(1)})" if found else ""
            raise CheckpointError(
                f"checkpoint {path} contains pickled Python objects besides tensors{detail}; "
                "unpickling them can run "
                "arbitrary code. If you trust where the file comes from, pass "
                "--trust-checkpoint (trust=True); or re-save its state dict as safetensors."
            ) from None
        logger.warning("loading %s with full unpickling (trusted by the user)", path)
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # corrupt files raise anything from the unpickler
        raise CheckpointError(f"checkpoint {path}: cannot be read by torch.load "
                              f"({type(exc).__name__}: {exc})") from exc


def unwrap_state_dict(obj: Any, source: str = "<checkpoint>") -> dict[str, torch.Tensor]:
    """The state dict inside a checkpoint object: the object itself, its `state_dict` /
    `model` / `model_state_dict` entry (training checkpoints of MMPose, the HRNet reference and
    many others), or `module.state_dict()` for a pickled nn.Module (trusted files only)."""
    if isinstance(obj, nn.Module):
        return dict(obj.state_dict())
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source}: expected a state dict (mapping of names to tensors), "
                              f"found {type(obj).__name__}")
    for key in WRAPPER_KEYS:
        inner = obj.get(key)
        if isinstance(inner, nn.Module):
            return dict(inner.state_dict())
        if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor)
                                                         for v in inner.values()):
            return dict(inner)
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(
            f"{source}: no state dict found: entries {', '.join(map(repr, bad[:_MAX_LISTED]))} "
            f"are not tensors and none of {', '.join(WRAPPER_KEYS)} holds a state dict")
    if not obj:
        raise CheckpointError(f"{source}: the state dict is empty")
    return dict(obj)


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    return shown + (f", ... ({len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else "")


def check_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str,
                     fmt: str = keymaps.NATIVE, only: list[str] | None = None) -> dict[str, torch.Tensor]:
    """Verify that `state_dict` fits `model` exactly; returns it completed with the model's own
    `num_batches_tracked` buffers where the file has none (files from PyTorch < 0.4.1).

    only: restrict the check to these model keys (backbone loading); extra file keys are then
    allowed. Raises CheckpointError listing missing keys, unexpected keys and shape mismatches.
    """
    own = model.state_dict()
    wanted = list(own) if only is None else only
    missing = [k for k in wanted if k not in state_dict and not k.endswith("num_batches_tracked")]
    unexpected = [] if only is not None else [k for k in state_dict if k not in own]
    mismatched = [f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
                  for k in wanted if k in state_dict and state_dict[k].shape != own[k].shape]
    if missing or unexpected or mismatched:
        name = getattr(model, "zoo_name", type(model).__name__)
        parts = [f"checkpoint {source} does not fit model {name} (key naming: {fmt})"]
        if missing:
            parts.append(f"{len(missing)} missing key(s): {_listed(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_listed(unexpected)}")
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatch(es): {_listed(mismatched)}")
            if any(m.startswith("final_layer.") for m in mismatched):
                parts.append("a final_layer mismatch usually means a different number of "
                             "keypoints (pass num_keypoints=...)")
        raise CheckpointError("; ".join(parts))
    out = dict(state_dict)
    for k in wanted:
        if k not in out:  # only num_batches_tracked can be absent here
            out[k] = own[k]
    return out


def load_checkpoint(model: nn.Module, path: str | Path, trust: bool = False,
                    fmt: str = "auto") -> dict:
    """Load a full pose checkpoint into `model`, strictly.

    Accepts our safetensors files, the HRNet reference repository's model-zoo files
    (`pose_resnet_50_256x192.pth`, `pose_hrnet_w32_256x192.pth`, `module.`-prefixed training
    states) and MMPose checkpoints of the same architectures (`backbone.*`, `head.*` /
    `keypoint_head.*`). fmt: `auto` or one of keymaps.FORMATS. Returns {"path", "format",
    "num_tensors", "config"} (config: the JSON sidecar of our own files, else None).
    """
    path = Path(path)
    raw = read_checkpoint(path, trust=trust)
    state = unwrap_state_dict(raw, str(path))
    try:
        state, detected = keymaps.to_native(state, fmt)
    except ValueError as exc:
        raise CheckpointError(f"checkpoint {path}: {exc}") from None
    state = check_state_dict(model, state, str(path), detected)
    model.load_state_dict(state, strict=True)
    logger.info("loaded %d tensors from %s (%s names)", len(state), path, detected)
    return {"path": str(path), "format": detected, "num_tensors": len(state),
            "config": read_config(path)}


def backbone_keys(model: nn.Module) -> list[str]:
    """State-dict keys of `model` outside its head (`model.head_prefixes`)."""
    heads = tuple(getattr(model, "head_prefixes", ()))
    return [k for k in model.state_dict() if k.split(".", 1)[0] not in heads]


def load_pretrained_backbone(model: nn.Module, path: str | Path, trust: bool = False) -> dict:
    """Initialise the backbone of a zoo model from a user-supplied ImageNet checkpoint.

    The file may be a torchvision-style ResNet (`conv1`, `bn1`, `layer1..4`, `fc`) or an
    HRNet-Image-Classification model (same stem/stage names as ours, plus classifier modules),
    optionally under `module.` or `backbone.`. Every backbone tensor of the model must be
    present with the right shape (error otherwise); file keys outside the backbone (the
    classifier) are ignored and counted in the log. Nothing is downloaded.
    """
    path = Path(path)
    state = unwrap_state_dict(read_checkpoint(path, trust=trust), str(path))
    state, fmt = keymaps.to_native(state)
    wanted = backbone_keys(model)
    checked = check_state_dict(model, state, str(path), fmt, only=wanted)
    merged = dict(model.state_dict())
    merged.update({k: checked[k] for k in wanted})
    model.load_state_dict(merged, strict=True)
    ignored = len([k for k in state if k not in set(wanted)])
    logger.info("backbone initialised from %s: %d tensors loaded, %d file keys ignored "
                "(classifier / unused branches)", path, len(wanted), ignored)
    return {"path": str(path), "format": fmt, "num_tensors": len(wanted), "ignored": ignored}


def sidecar_path(path: str | Path) -> Path:
    """The JSON config next to a checkpoint: `model.safetensors` -> `model.json`."""
    return Path(path).with_suffix(".json")


def read_config(path: str | Path) -> dict | None:
    """The JSON sidecar of a checkpoint written by `save_checkpoint`, or None."""
    side = sidecar_path(path)
    if side == Path(path) or not side.is_file():
        return None
    try:
        return json.loads(side.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint config {side}: invalid JSON ({exc})") from None


def save_checkpoint(model: nn.Module, path: str | Path, config: dict | None = None) -> Path:
    """Write `model`'s state dict as safetensors at `path` and a JSON sidecar (`.json`), both
    atomically. The sidecar holds `config` plus model name, keypoints, input size, parameter
    count and the SHA-256 of the weights file; the same JSON is stored in the safetensors
    metadata under "robustpose". Returns the weights path."""
    from safetensors.torch import save

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"{path}: save_checkpoint writes safetensors; use a .safetensors name")
    cfg = dict(config or {})
    meta = {
        "format": CHECKPOINT_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "model": getattr(model, "zoo_name", type(model).__name__),
        "num_keypoints": getattr(model, "num_keypoints", None),
        "input_size": list(getattr(model, "default_input_size", ()) or []) or None,
        "params": sum(p.numel() for p in model.parameters()),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    for k, v in meta.items():
        cfg.setdefault(k, v)
    try:
        text = json.dumps(cfg, sort_keys=True)
    except TypeError as exc:
        raise ValueError(f"{path}: checkpoint config is not JSON-serialisable ({exc})") from None
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    data = save(tensors, metadata={"robustpose": text})
    atomic_write_bytes(path, data)
    cfg["sha256"] = sha256_bytes(data)
    atomic_write_json(sidecar_path(path), cfg)
    return path
