"""Config files: every shipped YAML validates, overrides, error messages, published schedules."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import robustpose_bench
from robustpose_bench.methods import get_method
from robustpose_bench.methods.base import parse_args
from robustpose_bench.models import list_models
from robustpose_bench.train.config import (
    ConfigError,
    apply_overrides,
    config_from_dict,
    load_config,
    parse_override,
    resolve_asset,
)

CONFIGS = sorted((Path(robustpose_bench.__file__).parent / "configs").glob("*.yaml"))


def test_configs_are_shipped():
    names = {p.stem for p in CONFIGS}
    for model in ("sbl_r50", "sbl_r101", "sbl_r152", "hrnet_w32", "hrnet_w48"):
        for size in ("256x192", "384x288", "128x96"):
            assert f"coco_{model}_{size}" in names
        assert f"mpii_{model}_256x256" in names
    for m in ("standard", "advmix", "asda", "stable", "occaug"):
        assert f"synthpose_{m}" in names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_validates(path):
    cfg = load_config(path)
    assert cfg.name == path.stem
    assert cfg.model.name in list_models()
    w, h = cfg.input_size
    assert cfg.heatmap_size == (w // 4, h // 4)
    parse_args(get_method(cfg.method).Args, cfg.method_args, cfg.method)
    if cfg.data.dataset == "mpii":
        assert cfg.model.num_keypoints == 16 and cfg.input_size == (256, 256)
    if cfg.name.startswith(("coco_hrnet", "mpii_hrnet")):
        assert (cfg.train.epochs, cfg.train.lr_steps, cfg.train.lr) == (210, [170, 200], 1e-3)
    if cfg.name.startswith(("coco_sbl", "mpii_sbl")):
        assert (cfg.train.epochs, cfg.train.lr_steps, cfg.train.lr) == (140, [90, 120], 1e-3)
    if cfg.name == "coco_hrnet_w32_256x192_asda":  # the ASDA paper's COCO augmentation
        assert (cfg.data.augment.rotation, cfg.data.augment.scale_factor) == (40, 0.3)
        assert cfg.method_args["min_part_area"] == 35 ** 2
    elif cfg.name.startswith("coco_hrnet"):
        assert (cfg.data.augment.rotation, cfg.data.augment.scale_factor,
                cfg.data.augment.half_body_prob) == (45, 0.35, 0.3)
    if cfg.name.startswith("coco_sbl"):
        assert (cfg.data.augment.rotation, cfg.data.augment.scale_factor) == (40, 0.3)


BY_NAME = {p.stem: p for p in CONFIGS}
ADVMIX = [p for p in CONFIGS if load_config(p).method == "advmix"]


@pytest.mark.parametrize("path", ADVMIX, ids=[p.stem for p in ADVMIX])
def test_every_advmix_config_retrains_its_standard_parent(path):
    """Paper sec. 5.1 / official `train.sh --load_from_D`: AdvMix starts from the trained
    standard model of the same network, input size and data, on the same schedule."""
    cfg = load_config(path)
    base = cfg.name.removesuffix("_advmix")
    parent_path = BY_NAME.get(base) or BY_NAME.get(f"{base}_standard")
    assert parent_path is not None, f"{cfg.name}: no standard parent config"
    parent = load_config(parent_path)
    assert parent.method == "standard"
    assert (parent.model.name, parent.input_size, parent.data.dataset) == \
        (cfg.model.name, cfg.input_size, cfg.data.dataset)
    assert cfg.model.checkpoint, f"{cfg.name}: model.checkpoint unset (random init)"
    if cfg.data.dataset == "synthpose":
        # The shipped standard model, whose JSON records the parent config it was trained by.
        sidecar = json.loads(resolve_asset(cfg.model.checkpoint).with_suffix(".json").read_text())
        assert sidecar["name"] == parent.name and sidecar["method"] == "standard"
    else:
        assert cfg.model.checkpoint == f"runs/train/{parent.name}/best.safetensors"
        assert (cfg.train.epochs, cfg.train.lr_steps) == (parent.train.epochs,
                                                          parent.train.lr_steps)
    assert cfg.method_args["teacher"] == cfg.model.checkpoint  # the frozen KD teacher


def test_flat_augmentation_keys_get_a_clear_error():
    with pytest.raises(ConfigError, match=r"my.yaml: data.flip: the augmentation parameters "
                                          r"moved to data.augment \(data.augment.flip, "
                                          r"data.augment.rotation\)"):
        config_from_dict({"data": {"rotation": 30, "flip": True}}, "my.yaml")


def test_overrides_and_yaml_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\nmodel: {name: sbl_r18}\n")
    cfg = load_config(path, ["train.lr=5e-4", "method_args.kd_alpha=0.2", "model.input_size=[96, 128]",
                             "data.augment.flip=false", "method=advmix"])
    assert cfg.train.lr == 5e-4 and cfg.method_args == {"kd_alpha": 0.2}
    assert cfg.input_size == (96, 128) and cfg.heatmap_size == (24, 32)
    assert cfg.data.augment.flip is False and cfg.method == "advmix"
    assert parse_override("a.b=") == (["a", "b"], "")
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_override("train.lr")
    assert apply_overrides({"a": {"b": 1}}, ["a.c=2"]) == {"a": {"b": 1, "c": 2}}


@pytest.mark.parametrize("data,match", [
    ({"train": {"epochs": "ten"}}, "train.epochs: expected an integer"),
    ({"model": {"input_size": [96]}}, "model.input_size: expected \\[width, height\\]"),
    ({"trian": {}}, "unknown key\\(s\\) trian"),
    ({"train": {"optimizer": "lion"}}, "expected adam, adamw or sgd"),
    ({"train": {"lr_steps": [20, 10]}}, "must be increasing"),
    ({"data": {"augment": {"flip": "yes"}}}, "data.augment.flip: expected true/false"),
    ({"data": {"augment": {"scale_factor": 1.5}}}, "data.augment.scale_factor: must be in"),
    ({"data": {"augment": {"rotation_prob": 2}}}, "data.augment.rotation_prob: must be in"),
    ({"data": {"encoding": "udp"}}, "data.encoding: expected one of msra, unbiased, got 'udp'"),
    ({"train": {"amp_dtype": "fp8"}}, "train.amp_dtype: expected one of auto, float16, bfloat16"),
])
def test_bad_values_name_the_key(data, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(data, "my.yaml")


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load_config("/nonexistent/x.yaml")
