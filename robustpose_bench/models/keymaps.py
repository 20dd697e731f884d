"""State-dict key names of foreign checkpoints and their mapping onto the zoo's names.

The zoo uses the names of the HRNet reference repository (`pose_resnet.py`, `pose_hrnet.py`):
its model-zoo files only need the DataParallel prefix `module.` removed. MMPose puts the same
modules under `backbone.` and the head under `keypoint_head.` (0.x) or `head.` (1.x).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

NATIVE = "native"            # our names == the HRNet reference repository's names
OFFICIAL = "hrnet_official"  # same names, saved through nn.DataParallel (`module.` prefix)
MMPOSE = "mmpose"            # backbone.* + keypoint_head.* (0.x) / head.* (1.x)
FORMATS = (NATIVE, OFFICIAL, MMPOSE)

MMPOSE_HEADS = ("keypoint_head.", "head.")
# Head modules of our networks that MMPose keeps in its head (HeatmapHead /
# TopdownHeatmapSimpleHead): everything else is backbone.
HEAD_MODULES = ("deconv_layers", "final_layer")

StateDict = Mapping[str, torch.Tensor]


def strip_prefix(state_dict: StateDict, prefix: str) -> dict[str, torch.Tensor]:
    """Remove `prefix` from every key when all keys carry it (else return a plain copy)."""
    keys = list(state_dict)
    if keys and all(k.startswith(prefix) for k in keys):
        return {k[len(prefix):]: v for k, v in state_dict.items()}
    return dict(state_dict)


def detect_format(keys: Sequence[str]) -> str:
    """Which naming a state dict uses: `mmpose`, `hrnet_official` (all keys `module.`-prefixed)
    or `native`."""
    keys = list(keys)
    if keys and all(k.startswith("module.") for k in keys):
        keys = [k[len("module."):] for k in keys]
        if not any(k.startswith("backbone.") for k in keys):
            return OFFICIAL
    if any(k.startswith("backbone.") for k in keys):
        return MMPOSE
    return NATIVE


def from_mmpose(state_dict: StateDict) -> dict[str, torch.Tensor]:
    """MMPose names -> zoo names: `backbone.X` -> `X`; `{keypoint_head,head}.deconv_layers.X` ->
    `deconv_layers.X`; `{keypoint_head,head}.final_layer.X` -> `final_layer.X`. Keys that fit
    none of these are kept unchanged, so the strict loader reports them as unexpected."""
    out: dict[str, torch.Tensor] = {}
    for key, value in strip_prefix(state_dict, "module.").items():
        new = key
        if key.startswith("backbone."):
            new = key[len("backbone."):]
        else:
            for head in MMPOSE_HEADS:
                rest = key[len(head):]
                if key.startswith(head) and rest.split(".", 1)[0] in HEAD_MODULES:
                    new = rest
                    break
        if new in out:
            raise ValueError(f"MMPose key mapping: two checkpoint keys map to {new!r}")
        out[new] = value
    return out


def to_mmpose(state_dict: StateDict, version: int = 1) -> dict[str, torch.Tensor]:
    """Zoo names -> MMPose names (1.x: `head.`, 0.x: `keypoint_head.`); the inverse of
    `from_mmpose`, used to test the mapping and to hand weights to MMPose."""
    if version not in (0, 1):
        raise ValueError(f"MMPose major version must be 0 or 1, got {version}")
    head = "head." if version == 1 else "keypoint_head."
    return {(head + k if k.split(".", 1)[0] in HEAD_MODULES else "backbone." + k): v
            for k, v in state_dict.items()}


def to_official(state_dict: StateDict, data_parallel: bool = True) -> dict[str, torch.Tensor]:
    """Zoo names -> the HRNet reference repository's file layout (`module.` prefix when the
    reference saved through nn.DataParallel, as its `final_state.pth` / `model_best.pth`)."""
    prefix = "module." if data_parallel else ""
    return {prefix + k: v for k, v in state_dict.items()}


def to_native(state_dict: StateDict, fmt: str = "auto") -> tuple[dict[str, torch.Tensor], str]:
    """Map a state dict of any known naming onto the zoo's names; returns (state dict, format)."""
    fmt = detect_format(list(state_dict)) if fmt == "auto" else fmt
    if fmt == MMPOSE:
        return from_mmpose(state_dict), fmt
    if fmt in (NATIVE, OFFICIAL):
        return strip_prefix(state_dict, "module."), fmt
    raise ValueError(f"unknown checkpoint naming {fmt!r}; choose auto or one of {', '.join(FORMATS)}")
