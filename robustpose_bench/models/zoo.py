"""The registered zoo: SimpleBaseline ResNet and HRNet factories (PROTOCOL.md section 3
sizes) plus small CPU variants for SynthPose.

Published parameter counts at 17 keypoints: SBL-R50 34.0M, R101 53.0M, R152 68.6M,
HRNet-W32 28.5M, HRNet-W48 63.6M (tested in tests/models/test_zoo.py).
"""
from __future__ import annotations

from torch import nn

from robustpose_bench.models import register_model
from robustpose_bench.models.hrnet import PoseHighResolutionNet, hrnet_spec
from robustpose_bench.models.resnet import PoseResNet

CPU_INPUT = (96, 128)  # (width, height) of the SynthPose CPU models


@register_model(family="simplebaseline", backbone="resnet18", input_size=CPU_INPUT)
def sbl_r18(num_keypoints: int = 17, **kw) -> nn.Module:
    """SimpleBaseline ResNet-18, 3 deconvolutions of 256 channels (CPU-sized)."""
    return PoseResNet(18, num_keypoints, **kw)


@register_model(family="simplebaseline", backbone="resnet18-w32", input_size=CPU_INPUT)
def sbl_r18_lite(num_keypoints: int = 17, **kw) -> nn.Module:
    """SimpleBaseline on a half-width ResNet-18 (base 32), 3 deconvolutions of 128 channels."""
    kw.setdefault("deconv_filters", (128, 128, 128))
    kw.setdefault("base_width", 32)
    return PoseResNet(18, num_keypoints, **kw)


@register_model(family="simplebaseline", backbone="resnet50", published_params=34.0)
def sbl_r50(num_keypoints: int = 17, **kw) -> nn.Module:
    """SimpleBaseline ResNet-50 (Xiao et al. 2018), 3 deconvolutions of 256 channels."""
    return PoseResNet(50, num_keypoints, **kw)


@register_model(family="simplebaseline", backbone="resnet101", published_params=53.0)
def sbl_r101(num_keypoints: int = 17, **kw) -> nn.Module:
    """SimpleBaseline ResNet-101 (Xiao et al. 2018), 3 deconvolutions of 256 channels."""
    return PoseResNet(101, num_keypoints, **kw)


@register_model(family="simplebaseline", backbone="resnet152", published_params=68.6)
def sbl_r152(num_keypoints: int = 17, **kw) -> nn.Module:
    """SimpleBaseline ResNet-152 (Xiao et al. 2018), 3 deconvolutions of 256 channels."""
    return PoseResNet(152, num_keypoints, **kw)


@register_model(family="hrnet", backbone="hrnet_w32", published_params=28.5)
def hrnet_w32(num_keypoints: int = 17, **kw) -> nn.Module:
    """HRNet-W32 (Sun et al. 2019): branches of 32/64/128/256 channels."""
    return PoseHighResolutionNet(hrnet_spec(32), num_keypoints, **kw)


@register_model(family="hrnet", backbone="hrnet_w48", published_params=63.6)
def hrnet_w48(num_keypoints: int = 17, **kw) -> nn.Module:
    """HRNet-W48 (Sun et al. 2019): branches of 48/96/192/384 channels."""
    return PoseHighResolutionNet(hrnet_spec(48), num_keypoints, **kw)


@register_model(family="hrnet", backbone="hrnet_w16_small", input_size=CPU_INPUT)
def hrnet_w16_small(num_keypoints: int = 17, **kw) -> nn.Module:
    """Narrow HRNet (CPU-sized): stem 32, one bottleneck, branches 16/32/64/128 of 2 blocks,
    one module per stage."""
    spec = hrnet_spec(16, blocks=2, modules=(1, 1, 1), stage1_blocks=1, stage1_planes=16,
                      stem_channels=32)
    return PoseHighResolutionNet(spec, num_keypoints, **kw)
