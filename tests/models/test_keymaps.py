"""Foreign checkpoint names: state dicts generated from our own modules under the HRNet
reference layout (`module.` prefix) and MMPose 0.x / 1.x naming load back exactly."""
from __future__ import annotations

import pytest
import torch

from robustpose_bench.models import create_model, get_model_info, keymaps
from robustpose_bench.models.checkpoint import load_checkpoint


def _randomised(name: str, seed: int = 0):
    torch.manual_seed(seed)
    model = create_model(name)
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if key.endswith("running_var"):
                t.copy_(torch.rand_like(t) + 0.5)
            elif t.is_floating_point():
                t.copy_(torch.randn_like(t))
            else:
                t.fill_(7)
    return model


def _assert_equal_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.mark.parametrize("name", ["sbl_r18_lite", "hrnet_w16_small"])
@pytest.mark.parametrize("naming", ["official_dp", "official_plain", "mmpose0", "mmpose1"])
def test_foreign_state_dict_round_trip(tmp_path, name, naming):
    src = _randomised(name)
    sd = src.state_dict()
    foreign = {
        "official_dp": lambda: keymaps.to_official(sd, data_parallel=True),
        "official_plain": lambda: keymaps.to_official(sd, data_parallel=False),
        "mmpose0": lambda: {"meta": {"epoch": 210}, "state_dict": keymaps.to_mmpose(sd, 0)},
        "mmpose1": lambda: {"meta": {"mmpose_version": "1.3.1"},
                            "state_dict": keymaps.to_mmpose(sd, 1)},
    }[naming]()
    path = tmp_path / "foreign.pth"
    torch.save(foreign, path)
    dst = create_model(name)
    info = load_checkpoint(dst, path)
    expected = {"official_dp": "hrnet_official", "official_plain": "native",
                "mmpose0": "mmpose", "mmpose1": "mmpose"}[naming]
    assert info["format"] == expected
    _assert_equal_state(src, dst)
    with torch.no_grad():
        x = torch.randn(1, 3, 64, 48)
        assert torch.equal(src.eval()(x), dst.eval()(x))


def test_mmpose_names_are_the_real_ones():
    with torch.device("meta"):
        sbl = get_model_info("sbl_r50").factory()
        hr = get_model_info("hrnet_w32").factory()
    m1 = keymaps.to_mmpose(sbl.state_dict(), 1)
    for key in ("backbone.conv1.weight", "backbone.bn1.running_mean",
                "backbone.layer1.0.downsample.0.weight", "backbone.layer4.2.bn3.weight",
                "head.deconv_layers.0.weight", "head.deconv_layers.7.running_var",
                "head.final_layer.weight", "head.final_layer.bias"):
        assert key in m1, key
    m0 = keymaps.to_mmpose(hr.state_dict(), 0)
    for key in ("backbone.conv2.weight", "backbone.bn2.weight", "backbone.transition1.1.0.0.weight",
                "backbone.stage2.0.fuse_layers.0.1.0.weight",
                "backbone.stage4.2.branches.3.3.conv2.weight", "keypoint_head.final_layer.weight"):
        assert key in m0, key
    assert keymaps.from_mmpose(m0).keys() == hr.state_dict().keys()
    assert keymaps.detect_format(list(m0)) == "mmpose"
    assert keymaps.detect_format(["module." + k for k in m0]) == "mmpose"
    assert keymaps.detect_format(["module.conv1.weight"]) == "hrnet_official"


def test_unknown_mmpose_head_keys_are_reported(tmp_path):
    model = create_model("hrnet_w16_small")
    sd = keymaps.to_mmpose(model.state_dict(), 1)
    sd["head.conv_layers.0.weight"] = torch.zeros(1)
    torch.save({"state_dict": sd}, tmp_path / "x.pth")
    with pytest.raises(ValueError, match=r"1 unexpected key\(s\): head\.conv_layers\.0\.weight"):
        load_checkpoint(model, tmp_path / "x.pth")


def test_forced_format(tmp_path):
    model = create_model("sbl_r18_lite")
    torch.save(keymaps.to_mmpose(model.state_dict()), tmp_path / "m.pth")
    assert load_checkpoint(model, tmp_path / "m.pth", fmt="mmpose")["format"] == "mmpose"
    with pytest.raises(ValueError, match="unknown checkpoint naming 'caffe'"):
        load_checkpoint(model, tmp_path / "m.pth", fmt="caffe")
    with pytest.raises(ValueError, match="missing key"):
        load_checkpoint(model, tmp_path / "m.pth", fmt="native")
