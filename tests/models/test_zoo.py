"""Model zoo: published parameter counts, output shapes, registry behaviour, and the module
names of the HRNet reference repository (pose_resnet.py / pose_hrnet.py)."""
from __future__ import annotations

import pytest
import torch

from robustpose_bench.models import (
    count_params,
    create_model,
    get_model_info,
    list_models,
    register_model,
)

# PROTOCOL.md section 3: published sizes at 17 joints, in millions.
PUBLISHED = {"sbl_r50": 34.0, "sbl_r101": 53.0, "sbl_r152": 68.6, "hrnet_w32": 28.5,
             "hrnet_w48": 63.6}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_parameter_counts(name):
    with torch.device("meta"):  # architecture only, no memory, fast
        model = get_model_info(name).factory(num_keypoints=17)
    millions = count_params(model) / 1e6
    assert abs(millions - PUBLISHED[name]) <= 0.05, (name, millions)
    assert get_model_info(name).published_params == PUBLISHED[name]


def test_registry_lists_and_filters():
    names = list_models()
    for required in ("sbl_r18", "sbl_r50", "sbl_r101", "sbl_r152", "hrnet_w32", "hrnet_w48",
                     "hrnet_w16_small", "sbl_r18_lite"):
        assert required in names
    assert list_models("hrnet*") == ["hrnet_w16_small", "hrnet_w32", "hrnet_w48"]
    assert list_models("nothing*") == []
    with pytest.raises(ValueError, match="unknown model 'resnet9000'.*sbl_r50"):
        create_model("resnet9000")
    with pytest.raises(ValueError, match="registered twice"):
        register_model(lambda num_keypoints=17: None, name="sbl_r50")
    with pytest.raises(ValueError, match="num_keypoints"):
        create_model("sbl_r18_lite", num_keypoints=0)


@pytest.mark.parametrize("name", ["sbl_r18", "sbl_r18_lite", "hrnet_w16_small"])
@pytest.mark.parametrize("k", [17, 16])
def test_small_models_output_stride_4(name, k):
    model = create_model(name, num_keypoints=k).eval()
    info = get_model_info(name)
    w, h = info.input_size
    assert (w, h) == (96, 128) == model.default_input_size
    with torch.no_grad():
        out = model(torch.randn(2, 3, h, w))
    assert out.shape == (2, k, h // 4, w // 4)
    assert model.zoo_name == name and model.num_keypoints == k


def test_hrnet_odd_feature_sizes_do_not_crash():
    # 100x76 gives odd feature maps (25x19 -> 13x10 -> ...): the fuse layers crop.
    model = create_model("hrnet_w16_small").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 100, 76)).shape == (1, 17, 25, 19)


def _shapes(name):
    with torch.device("meta"):
        model = get_model_info(name).factory(num_keypoints=17)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_sbl_names_match_reference_pose_resnet():
    sd = _shapes("sbl_r50")
    expected = {
        "conv1.weight": (64, 3, 7, 7), "bn1.running_mean": (64,),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1), "layer1.0.downsample.1.weight": (256,),
        "layer4.2.conv3.weight": (2048, 512, 1, 1), "layer4.2.bn3.num_batches_tracked": (),
        "deconv_layers.0.weight": (2048, 256, 4, 4), "deconv_layers.1.running_var": (256,),
        "deconv_layers.3.weight": (256, 256, 4, 4), "deconv_layers.6.weight": (256, 256, 4, 4),
        "final_layer.weight": (17, 256, 1, 1), "final_layer.bias": (17,),
    }
    for key, shape in expected.items():
        assert sd[key] == shape, key
    assert "deconv_layers.0.bias" not in sd  # DECONV_WITH_BIAS: false
    assert not any(k.startswith("fc.") for k in sd)


def test_hrnet_names_match_reference_pose_hrnet():
    sd = _shapes("hrnet_w32")
    expected = {
        "conv1.weight": (64, 3, 3, 3), "bn2.weight": (64,), "conv2.weight": (64, 64, 3, 3),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1), "layer1.3.conv3.weight": (256, 64, 1, 1),
        "transition1.0.0.weight": (32, 256, 3, 3), "transition1.0.1.running_mean": (32,),
        "transition1.1.0.0.weight": (64, 256, 3, 3),
        "stage2.0.branches.0.0.conv1.weight": (32, 32, 3, 3),
        "stage2.0.branches.1.3.bn2.weight": (64,),
        "stage2.0.fuse_layers.0.1.0.weight": (32, 64, 1, 1),
        "stage2.0.fuse_layers.1.0.0.0.weight": (64, 32, 3, 3),
        "transition2.2.0.0.weight": (128, 64, 3, 3),
        "stage3.3.fuse_layers.2.0.0.0.weight": (32, 32, 3, 3),
        "stage3.3.fuse_layers.2.0.1.0.weight": (128, 32, 3, 3),
        "transition3.3.0.0.weight": (256, 128, 3, 3),
        "stage4.0.fuse_layers.3.0.2.0.weight": (256, 32, 3, 3),
        "stage4.2.fuse_layers.0.3.0.weight": (32, 256, 1, 1),
        "stage4.2.fuse_layers.0.3.1.running_var": (32,),
        "final_layer.weight": (17, 32, 1, 1),
    }
    for key, shape in expected.items():
        assert sd[key] == shape, key
    # The last module of stage 4 only produces the highest resolution.
    assert not any(k.startswith("stage4.2.fuse_layers.1.") for k in sd)
    assert not any(k.startswith(("transition1.0.0.bias", "incre_modules", "classifier"))
                   for k in sd)


def test_instances_do_not_share_weights():
    a, b = create_model("sbl_r18_lite"), create_model("sbl_r18_lite")
    assert a.final_layer.weight.data_ptr() != b.final_layer.weight.data_ptr()
