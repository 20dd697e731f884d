"""Config files: every shipped YAML validates, overrides, error messages, published schedules."""
from __future__ import annotations

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
    if cfg.name.startswith("coco_hrnet"):
        assert (cfg.data.rotation, cfg.data.scale_factor, cfg.data.half_body_prob) == (45, 0.35, 0.3)
    if cfg.name.startswith("coco_sbl"):
        assert (cfg.data.rotation, cfg.data.scale_factor) == (40, 0.3)


def test_overrides_and_yaml_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\nmodel: {name: sbl_r18}\n")
    cfg = load_config(path, ["train.lr=5e-4", "method_args.kd_alpha=0.2", "model.input_size=[96, 128]",
                             "data.flip=false", "method=advmix"])
    assert cfg.train.lr == 5e-4 and cfg.method_args == {"kd_alpha": 0.2}
    assert cfg.input_size == (96, 128) and cfg.heatmap_size == (24, 32)
    assert cfg.data.flip is False and cfg.method == "advmix"
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
    ({"data": {"flip": "yes"}}, "data.flip: expected true/false"),
])
def test_bad_values_name_the_key(data, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(data, "my.yaml")


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load_config("/nonexistent/x.yaml")
