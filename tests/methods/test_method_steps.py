"""Every training method: a step on a fixed batch changes the pose network and lowers its loss;
the registry and the method_args validation."""
from __future__ import annotations

import pytest
import torch
from _train_helpers import first_batch, params_vector

from robustpose_bench.methods import get_method, list_methods
from robustpose_bench.train.config import ConfigError
from robustpose_bench.train.losses import heatmap_mse

METHOD_CASES = [
    ("standard", {}),
    ("advmix", {"teacher": "init", "g_ngf": 8}),
    ("advmix", {"mix": "advmix_image", "kd_alpha": 0.0, "g_ngf": 8}),
    ("advmix", {"mix": "equalmix", "kd_alpha": 0.0}),
    ("advmix", {"mix": "dirichletmix", "kd_alpha": 0.0}),
    ("advmix", {"mix": "sequentialmix", "kd_alpha": 0.0}),
    ("asda", {"g_width": 8}),
    ("asda", {"adversarial": False}),
    ("stable_heatmap", {}),
    ("occlusion_aug", {"level": "keypoint", "modes": ["blur", "cutout"], "prob": 1.0}),
    ("occlusion_aug", {"level": "part", "modes": ["cutout"], "prob": 1.0, "remove_labels": True}),
    ("occlusion_aug", {"level": "partmix", "prob": 1.0}),
]


def test_registry_lists_every_method():
    assert list_methods() == ["advmix", "asda", "occlusion_aug", "stable_heatmap", "standard"]
    with pytest.raises(ConfigError, match="unknown training method 'nope'"):
        get_method("nope")


@pytest.mark.parametrize("method,args", METHOD_CASES,
                         ids=[f"{m}-{a.get('mix', a.get('level', ''))}" for m, a in METHOD_CASES])
def test_step_changes_weights_and_lowers_loss(trainer_factory, method, args):
    tr = trainer_factory(method, args, train={"lr": 3e-3})
    batch = first_batch(tr)
    before = params_vector(tr.raw_model)
    losses = []
    for _ in range(4):
        torch.manual_seed(0)
        losses.append(tr.method.train_step(batch)["loss"])
    after = params_vector(tr.raw_model)
    assert not torch.equal(before, after)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0], losses


def test_pose_loss_on_a_fixed_input_drops_after_one_step(trainer_factory):
    tr = trainer_factory("standard")
    batch = first_batch(tr)
    tr.raw_model.train()

    def loss() -> float:
        with torch.no_grad():
            out = tr.raw_model(batch["image"])
        return float(heatmap_mse(out, batch["target"], batch["target_weight"]))

    tr.method.train_step(batch)  # BN statistics settle on this batch
    l0 = loss()
    tr.method.train_step(batch)
    assert loss() < l0


def test_bad_method_args_name_the_key(trainer_factory):
    with pytest.raises(ConfigError, match="unknown key.*nonsense.*advmix"):
        trainer_factory("advmix", {"nonsense": 1})
    with pytest.raises(ConfigError, match="needs a teacher"):
        trainer_factory("advmix", {})
    with pytest.raises(ConfigError, match="mix must be one of"):
        trainer_factory("advmix", {"mix": "cutmix", "kd_alpha": 0.0})
    with pytest.raises(ConfigError, match="level must be one of"):
        trainer_factory("occlusion_aug", {"level": "everything"})


def test_a_method_is_built_from_its_args_alone_and_needs_setup():
    method = get_method("advmix")({"teacher": "init", "g_ngf": 8})
    assert method.args.g_ngf == 8
    with pytest.raises(RuntimeError, match="'advmix' used before setup"):
        method.train_step({})
