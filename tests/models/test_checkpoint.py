"""Checkpoint safety and strictness: weights-only loading, trust for pickled code, wrappers,
missing / unexpected / mis-shaped keys, safetensors + JSON sidecar, ImageNet backbones."""
from __future__ import annotations

import collections
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, safe_open

from robustpose_bench.models import create_model
from robustpose_bench.models.checkpoint import (
    CheckpointError,
    backbone_keys,
    load_checkpoint,
    load_pretrained_backbone,
    read_checkpoint,
    save_checkpoint,
    sidecar_path,
)

NAME = "sbl_r18_lite"


@pytest.fixture()
def model():
    torch.manual_seed(0)
    return create_model(NAME)


class Payload:
    """An arbitrary class: pickling it stores a reference to code."""

    def __init__(self):
        self.x = 1


def test_pickled_objects_refused_without_trust(tmp_path, model):
    path = tmp_path / "pickled.pth"
    torch.save({"state_dict": model.state_dict(), "extra": Payload()}, path)
    with pytest.raises(CheckpointError, match=r"pickled Python objects.*Payload.*--trust-checkpoint"):
        load_checkpoint(model, path)
    fresh = create_model(NAME)
    assert load_checkpoint(fresh, path, trust=True)["num_tensors"] == len(model.state_dict())
    assert torch.equal(fresh.final_layer.weight, model.final_layer.weight)


def test_whole_pickled_module_needs_trust(tmp_path, model):
    path = tmp_path / "module.pth"
    torch.save(model, path)
    with pytest.raises(CheckpointError, match="trust"):
        read_checkpoint(path)
    fresh = create_model(NAME)
    load_checkpoint(fresh, path, trust=True)
    assert torch.equal(fresh.conv1.weight, model.conv1.weight)


def test_numpy_data_in_meta_is_allowed(tmp_path, model):
    # MMPose checkpoints keep NumPy arrays in their meta (dataset_meta sigmas): data, not code.
    path = tmp_path / "np.pth"
    meta = {"dataset_meta": {"sigmas": np.array([0.026, 0.025]), "names": np.array(["a", "b"])},
            "epoch": np.int64(210), "best": np.float64(0.7), "flag": np.bool_(True)}
    torch.save({"state_dict": model.state_dict(), "meta": meta}, path)
    raw = read_checkpoint(path)
    assert raw["meta"]["epoch"] == 210
    np.testing.assert_allclose(raw["meta"]["dataset_meta"]["sigmas"], [0.026, 0.025])
    load_checkpoint(create_model(NAME), path)
    torch.save({"state_dict": model.state_dict(), "fn": np.save}, tmp_path / "fn.pth")
    with pytest.raises(CheckpointError, match="numpy.*save"):
        load_checkpoint(create_model(NAME), tmp_path / "fn.pth")


@pytest.mark.parametrize("wrapper", ["state_dict", "model", "model_state_dict", None])
def test_wrappers(tmp_path, model, wrapper):
    sd = model.state_dict()
    obj = {wrapper: sd, "epoch": 3, "optimizer": {"lr": 1e-3}} if wrapper else collections.OrderedDict(sd)
    torch.save(obj, tmp_path / "w.pth")
    fresh = create_model(NAME)
    load_checkpoint(fresh, tmp_path / "w.pth")
    assert torch.equal(fresh.deconv_layers[0].weight, model.deconv_layers[0].weight)


def test_no_state_dict_found(tmp_path, model):
    torch.save({"epoch": 3, "weights": [1, 2]}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="no state dict found.*'epoch'"):
        load_checkpoint(model, tmp_path / "bad.pth")


def test_missing_unexpected_and_shapes_listed(tmp_path, model):
    sd = dict(model.state_dict())
    sd.pop("final_layer.bias")
    sd.pop("layer1.0.conv1.weight")
    sd["auxiliary.weight"] = torch.zeros(3)
    sd["deconv_layers.0.weight"] = torch.zeros(1, 2, 3)
    torch.save(sd, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(create_model(NAME), tmp_path / "broken.pth")
    msg = str(err.value)
    assert "broken.pth" in msg and "sbl_r18_lite" in msg
    assert "2 missing key(s): layer1.0.conv1.weight, final_layer.bias" in msg
    assert "1 unexpected key(s): auxiliary.weight" in msg
    assert "deconv_layers.0.weight: file (1, 2, 3) vs model (256, 128, 4, 4)" in msg


def test_wrong_keypoint_count_hint(tmp_path, model):
    torch.save(model.state_dict(), tmp_path / "k17.pth")
    with pytest.raises(CheckpointError, match="different number of keypoints"):
        load_checkpoint(create_model(NAME, num_keypoints=16), tmp_path / "k17.pth")


def test_old_files_without_num_batches_tracked(tmp_path, model):
    sd = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(sd, tmp_path / "old.pth")
    fresh = create_model(NAME)
    load_checkpoint(fresh, tmp_path / "old.pth")
    assert torch.equal(fresh.bn1.running_var, model.bn1.running_var)


def test_missing_file_and_garbage(tmp_path, model):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(model, tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth"):
        load_checkpoint(model, tmp_path / "junk.pth")
    (tmp_path / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{broken")
    with pytest.raises(CheckpointError, match="safetensors"):
        load_checkpoint(model, tmp_path / "junk.safetensors")


def test_save_checkpoint_safetensors_and_sidecar(tmp_path, model):
    path = save_checkpoint(model, tmp_path / "out" / "best.safetensors",
                           {"method": "advmix", "input_size": [96, 128]})
    side = sidecar_path(path)
    assert side.name == "best.json" and side.is_file()
    cfg = json.loads(side.read_text())
    assert cfg["model"] == NAME and cfg["method"] == "advmix" and cfg["num_keypoints"] == 17
    assert cfg["params"] == sum(p.numel() for p in model.parameters())
    assert len(cfg["sha256"]) == 64
    with safe_open(str(path), "pt") as fh:
        assert json.loads(fh.metadata()["robustpose"])["method"] == "advmix"
    assert set(load_file(str(path))) == set(model.state_dict())
    assert not list(path.parent.glob(".*.part"))  # atomic: no temp files left
    fresh = create_model(NAME)
    info = load_checkpoint(fresh, path)
    assert info["config"]["method"] == "advmix"
    for k, v in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v)
    with pytest.raises(ValueError, match="safetensors"):
        save_checkpoint(model, tmp_path / "x.pth", {})
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(model, tmp_path / "y.safetensors", {"bad": object()})


def test_create_model_with_checkpoint(tmp_path, model):
    path = save_checkpoint(model, tmp_path / "m.safetensors", {})
    again = create_model(NAME, checkpoint=path)
    assert torch.equal(again.final_layer.weight, model.final_layer.weight)


def _imagenet_resnet18_half(model):
    """A torchvision-style classification state dict for the backbone of `model`."""
    sd = {k: torch.randn_like(v) if v.is_floating_point() else v
          for k, v in model.state_dict().items() if k in set(backbone_keys(model))}
    sd["fc.weight"] = torch.randn(1000, 256)
    sd["fc.bias"] = torch.randn(1000)
    return sd


def test_pretrained_backbone(tmp_path, model):
    sd = _imagenet_resnet18_half(model)
    torch.save(sd, tmp_path / "imagenet.pth")
    head_before = model.final_layer.weight.clone()
    info = load_pretrained_backbone(model, tmp_path / "imagenet.pth")
    assert info["ignored"] == 2 and info["num_tensors"] == len(backbone_keys(model))
    assert torch.equal(model.layer3[1].conv2.weight, sd["layer3.1.conv2.weight"])
    assert torch.equal(model.final_layer.weight, head_before)
    built = create_model(NAME, pretrained_backbone=tmp_path / "imagenet.pth")
    assert torch.equal(built.conv1.weight, sd["conv1.weight"])
    del sd["layer4.1.bn2.weight"]
    torch.save(sd, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match="missing key.*layer4.1.bn2.weight"):
        load_pretrained_backbone(model, tmp_path / "partial.pth")
