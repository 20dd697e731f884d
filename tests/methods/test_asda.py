"""ASDA: part pool from SynthPose part masks and from COCO person masks split by keypoints,
placement matrices, differentiable pasting and the STN generator (PROTOCOL.md section 5)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _train_helpers import first_batch

from robustpose_bench.datasets.loading import load_dataset
from robustpose_bench.methods.asda import STNGenerator, paste_parts, placement_theta
from robustpose_bench.methods.part_pool import (
    PART_TYPES,
    build_pool_from_dataset,
    build_pool_from_parsing,
    split_person_mask,
)


def test_pool_from_synthpose_masks(synthpose_val):
    ds = load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])
    pool = build_pool_from_dataset(ds, synthpose_val["mask_root"], min_area=16)
    counts = pool.counts()
    assert list(counts) == list(PART_TYPES)
    assert counts["torso"] > 0 and counts["left_arm"] > 0 and len(pool) > 20
    for parts in pool.parts:
        for p in parts:
            assert p.rgb.shape[:2] == p.alpha.shape and p.rgb.dtype == np.uint8
            assert 0.0 <= p.alpha.min() and p.alpha.max() <= 1.0 and p.alpha.max() > 0.5
            assert 0 < p.rel_size < 2
    frac = pool.fraction
    # whole arms are larger than their halves, relative to the body
    assert frac[list(PART_TYPES).index("left_arm")] > frac[list(PART_TYPES).index("left_lower_arm")]


def test_split_person_mask_by_keypoints():
    kp = np.zeros((17, 3))
    pts = {0: (50, 10), 1: (52, 8), 2: (48, 8), 3: (54, 10), 4: (46, 10), 5: (60, 25),
           6: (40, 25), 7: (70, 40), 8: (30, 40), 9: (75, 55), 10: (25, 55), 11: (56, 60),
           12: (44, 60), 13: (58, 80), 14: (42, 80), 15: (58, 98), 16: (42, 98)}
    for i, (x, y) in pts.items():
        kp[i] = (x, y, 2)
    mask = np.zeros((110, 100), dtype=bool)
    mask[2:105, 20:80] = True
    labels = split_person_mask(mask, kp)
    assert labels[~mask].max() == 0
    assert labels[10, 50] == 1  # head
    assert labels[40, 50] == 2  # inside the shoulder-hip quadrilateral: torso
    assert labels[33, 66] == 3 and labels[33, 34] == 5  # upper arms (left is image right here)
    assert labels[48, 73] == 4 and labels[48, 27] == 6
    assert labels[70, 57] == 7 and labels[90, 58] == 8 and labels[90, 42] == 10
    kp[[7, 9], 2] = 0  # no left elbow / wrist: their pixels go to other parts
    labels = split_person_mask(mask, kp)
    assert not np.isin(labels, (3, 4)).any()


def test_pool_from_a_parsing_dataset(tmp_path):
    import cv2

    (tmp_path / "img").mkdir()
    (tmp_path / "lab").mkdir()
    img = np.full((60, 40, 3), 200, np.uint8)
    lab = np.zeros((60, 40), np.uint8)
    lab[5:25, 10:30] = 2
    lab[30:55, 12:20] = 5
    cv2.imwrite(str(tmp_path / "img" / "a.jpg"), img)
    cv2.imwrite(str(tmp_path / "lab" / "a.png"), lab)
    pool = build_pool_from_parsing(tmp_path / "img", tmp_path / "lab",
                                   {"upper": [2], "leg": [5], "both": [2, 5]}, min_area=20)
    assert pool.counts() == {"upper": 1, "leg": 1, "both": 1}


def test_neutral_placement_is_the_identity_and_rotation_is_not_sheared():
    zero = torch.zeros(1)
    theta = placement_theta(zero, zero, zero, 64, 48)
    torch.testing.assert_close(theta, torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]]))
    # 90 degrees on a non-square canvas: a horizontal bar becomes a vertical bar of the same
    # pixel length.
    canvas = torch.zeros(1, 1, 3, 64, 48)
    alpha = torch.zeros(1, 1, 64, 48)
    alpha[0, 0, 31:33, 14:34] = 1.0  # 20 px wide, 2 px high, centred
    canvas[:, :, :, 31:33, 14:34] = 1.0
    out = paste_parts(torch.zeros(1, 3, 64, 48), canvas, alpha,
                      torch.tensor([[[math.pi / 2, 0.0, 0.0]]]))
    ys, xs = torch.nonzero(out[0, 0] > 0.5, as_tuple=True)
    assert 18 <= int(ys.max() - ys.min()) + 1 <= 22 and int(xs.max() - xs.min()) + 1 <= 4
    # a shift of tx = 0.5 moves it by a quarter of the width
    out = paste_parts(torch.zeros(1, 3, 64, 48), canvas, alpha,
                      torch.tensor([[[0.0, 0.5, 0.0]]]))
    ys, xs = torch.nonzero(out[0, 0] > 0.5, as_tuple=True)
    assert float(xs.float().mean()) == pytest.approx(23.5 + 12, abs=0.6)


def test_pasting_is_differentiable_wrt_the_generator():
    torch.manual_seed(0)
    gen = STNGenerator(num_types=3, width=4)
    with torch.no_grad():  # move away from the zero-initialised neutral head
        gen.fc.weight.normal_(0, 0.1)
    image = torch.randn(2, 3, 32, 24)
    parts = torch.rand(2, 1, 3, 32, 24)
    alpha = torch.zeros(2, 1, 32, 24)
    alpha[:, :, 8:24, 6:18] = 1.0
    params = gen(image)  # (B, T, 3)
    assert params.shape == (2, 3, 3)
    assert (params[..., 0].abs() <= math.pi / 2).all() and (params[..., 1:].abs() <= 1.2).all()
    chosen = params[:, [1]]  # every image pastes a part of type 1
    out = paste_parts(image, parts, alpha, chosen, torch.ones(2, 1))
    out.pow(2).mean().backward()
    assert gen.fc.weight.grad is not None and gen.fc.weight.grad.abs().sum() > 0
    assert gen.conv1.weight.grad.abs().sum() > 0


def test_stn_backbones_load_imagenet_resnet_weights(tmp_path):
    """The STN's ResNet has torchvision's names: an ImageNet file (here the backbone of the
    zoo's SimpleBaseline ResNet, which loads torchvision files, plus a 1000-class fc) loads
    into everything but the regression head."""
    from safetensors.torch import save_file

    from robustpose_bench.models import create_model
    from robustpose_bench.models.checkpoint import backbone_keys

    for depth, zoo in ((18, "sbl_r18"), (50, "sbl_r50")):
        donor = create_model(zoo)
        sd = {k: torch.randn_like(v) if v.is_floating_point() else v.clone()
              for k, v in donor.state_dict().items() if k in set(backbone_keys(donor))}
        sd["fc.weight"] = torch.randn(1000, 512 if depth == 18 else 2048)
        sd["fc.bias"] = torch.randn(1000)
        save_file(sd, str(tmp_path / f"r{depth}.safetensors"))
        gen = STNGenerator(num_types=14, backbone=f"resnet{depth}")
        info = gen.load_imagenet(str(tmp_path / f"r{depth}.safetensors"))
        assert info["ignored"] == 2  # the ImageNet classifier
        own = gen.state_dict()
        assert all(torch.equal(own[k], sd[k]) for k in sd if not k.startswith("fc."))
        assert gen.fc.weight.shape == (42, sd["fc.weight"].shape[1])
        assert not gen.fc.weight.any()  # still the neutral, zero-initialised head
    with pytest.raises(ValueError, match="g_pretrained .*needs g_width 64"):
        from robustpose_bench.methods.asda import ASDAArgs

        ASDAArgs(g_pretrained="x.pth", g_width=16)
    with pytest.raises(ValueError, match="STN backbone must be one of resnet18, resnet50"):
        STNGenerator(3, backbone="vgg16")


def test_parts_below_35x35_pixels_are_dropped():
    from robustpose_bench.methods.part_pool import MIN_PART_AREA, extract_parts

    image = np.full((200, 200, 3), 128, np.uint8)
    labels = np.zeros((200, 200), np.uint8)
    labels[10:44, 10:44] = 1     # head: 34 x 34 px, below the paper's 35^2
    labels[60:96, 60:96] = 2     # torso: 36 x 36 px
    parts = extract_parts(image, labels, 100.0, {"head": (1,), "torso": (2,)})
    assert MIN_PART_AREA == 35 * 35
    assert [p.type_index for p in parts] == [1]


def test_parts_of_one_image_have_different_types(trainer_factory):
    tr = trainer_factory("asda", {"g_width": 4, "num_parts": 3, "min_part_area": 16})
    batch = first_batch(tr)
    assert (batch["asda_active"] == 1).all()
    for types in batch["asda_type"].tolist():
        assert len(set(types)) == 3


def test_zero_initialised_generator_starts_neutral():
    gen = STNGenerator(num_types=14, width=4)
    out = gen(torch.randn(3, 3, 32, 24))
    assert out.shape == (3, 14, 3) and torch.equal(out, torch.zeros_like(out))


def test_asda_batch_fields_and_inactive_parts(trainer_factory):
    tr = trainer_factory("asda", {"g_width": 4, "num_parts": 2, "min_part_area": 16})
    batch = first_batch(tr)
    b = batch["image"].shape[0]
    assert batch["asda_parts"].shape == (b, 2, 3, *batch["image"].shape[-2:])
    assert batch["asda_active"].sum() == 2 * b
    x = tr.method.augment(batch, tr.method.placement(batch))
    assert not torch.equal(x, batch["image"])
    batch["asda_active"].zero_()
    torch.testing.assert_close(tr.method.augment(batch, tr.method.placement(batch)), batch["image"])
