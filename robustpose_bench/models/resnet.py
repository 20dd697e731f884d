"""ResNet blocks and the SimpleBaseline pose network (ResNet + 3 deconvolutions + 1x1 conv).

Xiao et al., "Simple Baselines for Human Pose Estimation and Tracking" (ECCV 2018). Module
names follow the reference `pose_resnet.py` so its model-zoo state dicts load unchanged.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

BN_MOMENTUM = 0.1


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34, HRNet branches)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 bottleneck with a residual connection (ResNet-50+)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


Block = type[BasicBlock] | type[Bottleneck]


def make_res_layer(block: Block, inplanes: int, planes: int, blocks: int,
                   stride: int = 1) -> tuple[nn.Sequential, int]:
    """A ResNet stage: `blocks` blocks, the first one strided (with a 1x1 projection
    `downsample.0`/`downsample.1` when the shape changes). Returns (stage, output channels)."""
    downsample = None
    out_planes = planes * block.expansion
    if stride != 1 or inplanes != out_planes:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, out_planes, kernel_size=1, stride=stride, bias=False),
            nn.BatchNorm2d(out_planes, momentum=BN_MOMENTUM),
        )
    layers = [block(inplanes, planes, stride, downsample)]
    layers += [block(out_planes, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers), out_planes


RESNET_SPECS: dict[int, tuple[Block, tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


def init_pose_weights(model: nn.Module, head_prefixes: Sequence[str]) -> None:
    """Initialisation used by every zoo model.

    Backbone convolutions: Kaiming normal (fan_out, ReLU), as for ImageNet training from
    scratch; head (deconvolutions, final layer): normal(0, 0.001) with zero bias, as in the
    HRNet reference; BatchNorm: weight 1, bias 0.
    """
    first = next(model.parameters(), None)
    if first is not None and first.is_meta:  # architecture only (parameter counting)
        return
    for name, m in model.named_modules():
        in_head = any(name == p or name.startswith(p + ".") for p in head_prefixes)
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            if in_head:
                nn.init.normal_(m.weight, std=0.001)
            else:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class PoseResNet(nn.Module):
    """SimpleBaseline: ResNet backbone (stride 32) + `len(deconv_filters)` stride-2
    deconvolutions (kernel 4, no bias, BN, ReLU) + a 1x1 conv to K heatmaps (stride 4).

    Input (B, 3, H, W) float, ImageNet-normalised RGB; output (B, K, H/4, W/4) heatmaps.
    Attribute names (`conv1`, `bn1`, `layer1..4`, `deconv_layers`, `final_layer`) are those
    of the reference `pose_resnet.py`.
    """

    head_prefixes = ("deconv_layers", "final_layer")

    def __init__(self, depth: int = 50, num_keypoints: int = 17,
                 deconv_filters: Sequence[int] = (256, 256, 256),
                 final_conv_kernel: int = 1, base_width: int = 64) -> None:
        super().__init__()
        if depth not in RESNET_SPECS:
            raise ValueError(f"ResNet depth {depth} not supported; choose one of {sorted(RESNET_SPECS)}")
        if final_conv_kernel not in (1, 3):
            raise ValueError(f"final_conv_kernel must be 1 or 3, got {final_conv_kernel}")
        block, layers = RESNET_SPECS[depth]
        self.depth = depth
        self.num_keypoints = num_keypoints
        self.conv1 = nn.Conv2d(3, base_width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_width, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        ch = base_width
        self.layer1, ch = make_res_layer(block, ch, base_width, layers[0])
        self.layer2, ch = make_res_layer(block, ch, base_width * 2, layers[1], stride=2)
        self.layer3, ch = make_res_layer(block, ch, base_width * 4, layers[2], stride=2)
        self.layer4, ch = make_res_layer(block, ch, base_width * 8, layers[3], stride=2)
        deconv: list[nn.Module] = []
        for planes in deconv_filters:
            deconv += [nn.ConvTranspose2d(ch, planes, kernel_size=4, stride=2, padding=1,
                                          output_padding=0, bias=False),
                       nn.BatchNorm2d(planes, momentum=BN_MOMENTUM),
                       nn.ReLU(inplace=True)]
            ch = planes
        self.deconv_layers = nn.Sequential(*deconv)
        self.final_layer = nn.Conv2d(ch, num_keypoints, kernel_size=final_conv_kernel, stride=1,
                                     padding=1 if final_conv_kernel == 3 else 0)
        self.stride = 32 // 2 ** len(deconv_filters)
        init_pose_weights(self, self.head_prefixes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone output (B, C, H/32, W/32)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.deconv_layers(self.forward_features(x)))
