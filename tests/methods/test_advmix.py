"""AdvMix pieces: the generator's negated gradient, mixing weights, U-Net levels, the AutoAugment
subset, GridMask and the visibility rules (PROTOCOL.md section 4)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from _train_helpers import first_batch, params_vector

from robustpose_bench.methods.advmix import (
    ADVMIX_POLICY,
    AUTOAUGMENT_OPS,
    AdvMixArgs,
    UNetGenerator,
    apply_op,
    autoaugment,
    gridmask,
    keypoints_under_mask,
    mix_images,
    subpolicies,
    unet_levels,
)
from robustpose_bench.train.config import ConfigError
from robustpose_bench.train.losses import heatmap_mse


@pytest.mark.parametrize("w,h,levels", [(192, 256, 6), (256, 256, 6), (288, 384, 5),
                                        (96, 128, 5), (48, 64, 4)])
def test_unet_levels_follow_the_supplement(w, h, levels):
    assert unet_levels(h, w) == levels
    g = UNetGenerator(9, 3, levels, ngf=4)
    out = g(torch.zeros(2, 9, h, w))
    assert out.shape == (2, 3, h, w)
    down = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(down) == levels and all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in down)
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in g.modules())
    assert any(isinstance(m, torch.nn.LeakyReLU) for m in g.up.modules())
    assert not any(isinstance(m, torch.nn.LeakyReLU) for m in g.down.modules())


def test_mixing_weights_sum_to_one_per_pixel(trainer_factory):
    tr = trainer_factory("advmix", {"kd_alpha": 0.0, "g_ngf": 8})
    batch = first_batch(tr)
    stack = tr.method.branch_stack(batch)
    assert stack.shape[1] == 3  # clean, AutoAugment, GridMask
    w = tr.method.mix_weights(stack)
    assert w.shape == (stack.shape[0], 3, *stack.shape[-2:])
    torch.testing.assert_close(w.sum(dim=1), torch.ones_like(w[:, 0]))
    assert (w >= 0).all()
    mix = mix_images(w, stack)
    manual = sum(w[:, k:k + 1] * stack[:, k] for k in range(3))
    torch.testing.assert_close(mix, manual)


@pytest.mark.parametrize("mode", ["advmix_image", "equalmix", "dirichletmix"])
def test_ablation_weights_are_per_image_and_normalised(trainer_factory, mode):
    tr = trainer_factory("advmix", {"mix": mode, "kd_alpha": 0.0, "g_ngf": 8})
    batch = first_batch(tr)
    w = tr.method.mix_weights(tr.method.branch_stack(batch))
    assert w.shape[-2:] == (1, 1)
    torch.testing.assert_close(w.sum(dim=1), torch.ones_like(w[:, 0]))
    if mode == "equalmix":
        torch.testing.assert_close(w, torch.full_like(w, 1 / 3))


def test_generator_gets_the_negated_gradient_and_raises_the_pose_loss(trainer_factory):
    tr = trainer_factory("advmix", {"kd_alpha": 0.0, "g_ngf": 8, "g_lr": 1e-2})
    m = tr.method
    batch = first_batch(tr)
    stack = m.branch_stack(batch)
    d = tr.raw_model
    tw = m.mixed_input(batch)[2]

    def pose_loss() -> torch.Tensor:
        x = mix_images(m.mix_weights(stack), stack)
        return heatmap_mse(d(x), batch["target"], tw)

    # Gradient of L_D* w.r.t. the generator; the G step must follow exactly its negative.
    m.generator.zero_grad()
    pose_loss().backward()
    grad_ld = [p.grad.clone() for p in m.generator.parameters()]
    d.zero_grad()
    x = m.mixed_input(batch)[0]
    d_before = params_vector(d)
    m.g_slot.optimizer.zero_grad()
    loss_g = -heatmap_mse(d(x), batch["target"], tw)
    loss_g.backward()
    for g_ld, p in zip(grad_ld, m.generator.parameters(), strict=True):
        torch.testing.assert_close(p.grad, -g_ld, rtol=1e-4, atol=1e-7)
    # A real G step leaves D untouched and makes D's loss on the new mix larger.
    with torch.no_grad():
        before = float(pose_loss())
    for _ in range(3):
        m.generator_step(m.mixed_input(batch)[0], batch["target"], tw)
    assert torch.equal(params_vector(d), d_before)
    assert all(p.requires_grad for p in d.parameters())
    with torch.no_grad():
        assert float(pose_loss()) > before


def test_kd_uses_the_frozen_teacher(trainer_factory):
    tr = trainer_factory("advmix", {"teacher": "init", "g_ngf": 8, "kd_student_input": "clean"})
    teacher_before = params_vector(tr.method.teacher)
    logs = tr.method.train_step(first_batch(tr))
    assert "loss_kd" in logs and logs["loss_kd"] >= 0
    assert torch.equal(params_vector(tr.method.teacher), teacher_before)
    assert not any(p.requires_grad for p in tr.method.teacher.parameters())


def test_autoaugment_subset_is_the_official_codes_whole_sub_policies():
    # The official ImageNetPolicy (AdvMix lib/dataset/advaug.py): 12 two-step sub-policies,
    # no contrast-type (autocontrast, contrast, color, brightness) or geometric step.
    policy = subpolicies()
    assert len(policy) == len(ADVMIX_POLICY) == 12
    assert all(len(sub) == 2 for sub in policy)
    ops = {op for sub in policy for op, _, _ in sub}
    assert ops == set(AUTOAUGMENT_OPS) == {"equalize", "posterize", "solarize", "invert",
                                           "sharpness"}
    assert policy.count((("equalize", 0.8, 8), ("equalize", 0.6, 3))) == 2  # repeats kept
    # Restricting the operations drops whole sub-policies, never single steps.
    no_sharp = subpolicies(("equalize", "posterize", "solarize", "invert"))
    assert len(no_sharp) == 11 and all(len(sub) == 2 for sub in no_sharp)
    with pytest.raises(ConfigError, match="autocontrast not in the AdvMix subset"):
        subpolicies(("equalize", "autocontrast"))
    with pytest.raises(ConfigError, match="no AdvMix sub-policy"):
        subpolicies(("invert",))
    with pytest.raises(ConfigError, match="autocontrast"):
        AdvMixArgs(autoaugment_ops=["autocontrast"], kd_alpha=0.0)


def test_autoaugment_applies_one_whole_sub_policy():
    img = np.random.default_rng(0).integers(0, 256, (16, 12, 3), dtype=np.uint8)
    rng = np.random.default_rng(1)
    both = [(("invert", 1.0, 0), ("invert", 1.0, 0))]
    np.testing.assert_array_equal(autoaugment(img, both, rng), img)  # inverted twice
    first = [(("invert", 1.0, 0), ("posterize", 0.0, 9))]
    np.testing.assert_array_equal(autoaugment(img, first, rng), 255 - img)


def test_autoaugment_ops_match_pil_semantics():
    from PIL import Image, ImageEnhance

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (16, 12, 3), dtype=np.uint8)
    np.testing.assert_array_equal(apply_op(img, "invert", 0, rng), 255 - img)
    np.testing.assert_array_equal(apply_op(img, "posterize", 9, rng), img & 0xF0)  # 4 bits
    sol = apply_op(img, "solarize", 5, rng)  # threshold linspace(256, 0, 10)[5] = 113.8
    np.testing.assert_array_equal(sol, np.where(img >= 113.77777777777779, 255 - img, img))
    # sharpness bin 7: factor 1 +- 0.7, the sign drawn from the rng (as the official code).
    pil = Image.fromarray(img)
    refs = [np.asarray(ImageEnhance.Sharpness(pil).enhance(f)) for f in (1.7, 0.3)]
    seen = set()
    for seed in range(20):
        out = apply_op(img, "sharpness", 7, np.random.default_rng(seed))
        match = [i for i, r in enumerate(refs) if np.array_equal(out, r)]
        assert len(match) == 1
        seen.add(match[0])
    assert seen == {0, 1}


def test_gridmask_geometry_and_hidden_keypoints():
    rng = np.random.default_rng(1)
    fractions = []
    for _ in range(200):
        m = gridmask(64, 48, rng)
        assert m.shape == (64, 48) and set(np.unique(m)) <= {0.0, 1.0}
        fractions.append(1 - m.mean())
    # ratio 0.5: the masked squares cover about (1 - 0.5)^2 = 25 % of the image.
    assert 0.15 < float(np.mean(fractions)) < 0.35
    m = np.ones((8, 8), dtype=np.float32)
    m[2:4, 2:4] = 0
    joints = np.array([[2.5, 3.9], [5.0, 5.0], [-3.0, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(keypoints_under_mask(m, joints), [True, False, False])


@pytest.mark.parametrize("rule", ["hard", "soft", "official"])
def test_gridmask_visibility_rules(trainer_factory, rule):
    tr = trainer_factory("advmix", {"kd_alpha": 0.0, "g_ngf": 8, "gridmask_visibility": rule,
                                    "grid_prob": 1.0})
    batch = first_batch(tr)
    hidden = batch["gridmask_hidden"]
    assert hidden.sum() > 0  # the fixture batch has joints under the mask
    _, weights, tw = tr.method.mixed_input(batch)
    base = batch["target_weight"]
    if rule == "official":
        torch.testing.assert_close(tw, base)
    elif rule == "hard":
        torch.testing.assert_close(tw, base * (1 - hidden))
    else:
        assert ((tw <= base) & (tw >= base * (1 - hidden))).all()
