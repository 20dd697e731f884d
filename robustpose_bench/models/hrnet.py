"""HRNet pose network: parallel high-to-low resolution branches with repeated multi-scale
fusion, heatmaps from the highest-resolution branch (Sun et al., CVPR 2019).

Module names follow the reference `pose_hrnet.py` (deep-high-resolution-net.pytorch), so its
model-zoo state dicts (`pose_hrnet_w32_256x192.pth`, ...) load unchanged.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from robustpose_bench.models.resnet import (
    BN_MOMENTUM,
    BasicBlock,
    Block,
    Bottleneck,
    init_pose_weights,
    make_res_layer,
)

BLOCKS: dict[str, Block] = {"BASIC": BasicBlock, "BOTTLENECK": Bottleneck}


@dataclass(frozen=True)
class StageSpec:
    """One HRNet stage: `num_modules` exchange modules of `len(num_channels)` branches, each
    branch `num_blocks[i]` blocks of type `block` ("BASIC" or "BOTTLENECK") with
    `num_channels[i]` (x expansion) channels."""

    num_modules: int
    block: str
    num_blocks: tuple[int, ...]
    num_channels: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.block not in BLOCKS:
            raise ValueError(f"unknown HRNet block {self.block!r}; choose BASIC or BOTTLENECK")
        if len(self.num_blocks) != len(self.num_channels):
            raise ValueError(f"HRNet stage: {len(self.num_blocks)} block counts for "
                             f"{len(self.num_channels)} branches")

    @property
    def num_branches(self) -> int:
        return len(self.num_channels)


@dataclass(frozen=True)
class HRNetSpec:
    """Stem width + the 4 stages. stage1 is the single-branch `layer1`."""

    stage1: StageSpec
    stage2: StageSpec
    stage3: StageSpec
    stage4: StageSpec
    stem_channels: int = 64


def hrnet_spec(width: int, blocks: int = 4, modules: tuple[int, int, int] = (1, 4, 3),
               stage1_blocks: int = 4, stage1_planes: int = 64,
               stem_channels: int = 64) -> HRNetSpec:
    """The standard HRNet-W`width` layout (W32: channels 32/64/128/256, 4 blocks per branch,
    1/4/3 modules in stages 2/3/4); the keyword arguments make the small variants."""
    w = width
    return HRNetSpec(
        stage1=StageSpec(1, "BOTTLENECK", (stage1_blocks,), (stage1_planes,)),
        stage2=StageSpec(modules[0], "BASIC", (blocks,) * 2, (w, 2 * w)),
        stage3=StageSpec(modules[1], "BASIC", (blocks,) * 3, (w, 2 * w, 4 * w)),
        stage4=StageSpec(modules[2], "BASIC", (blocks,) * 4, (w, 2 * w, 4 * w, 8 * w)),
        stem_channels=stem_channels,
    )


class HighResolutionModule(nn.Module):
    """One exchange unit: each branch runs its blocks, then every output resolution sums all
    branches in index order, as the reference (1x1 conv + nearest upsampling from lower
    resolutions, strided 3x3 convs from higher ones). With `multi_scale_output=False` only the highest resolution is produced.

    `branches.<i>.<j>` and `fuse_layers.<i>.<j>` match the reference names.
    """

    def __init__(self, block: Block, num_blocks: Sequence[int], in_channels: Sequence[int],
                 num_channels: Sequence[int], multi_scale_output: bool = True) -> None:
        super().__init__()
        self.num_branches = len(num_channels)
        self.multi_scale_output = multi_scale_output
        branches = []
        out_channels = []
        for i in range(self.num_branches):
            branch, ch = make_res_layer(block, in_channels[i], num_channels[i], num_blocks[i])
            branches.append(branch)
            out_channels.append(ch)
        self.branches = nn.ModuleList(branches)
        self.out_channels = out_channels
        self.fuse_layers = self._make_fuse_layers(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def _make_fuse_layers(self, ch: list[int]) -> nn.ModuleList | None:
        n = self.num_branches
        if n == 1:
            return None
        fuse_layers = []
        for i in range(n if self.multi_scale_output else 1):
            row: list[nn.Module | None] = []
            for j in range(n):
                if j > i:
                    row.append(nn.Sequential(
                        nn.Conv2d(ch[j], ch[i], 1, 1, 0, bias=False),
                        nn.BatchNorm2d(ch[i]),
                        nn.Upsample(scale_factor=2 ** (j - i), mode="nearest")))
                elif j == i:
                    row.append(None)
                else:
                    steps: list[nn.Module] = []
                    for k in range(i - j):
                        last = k == i - j - 1
                        out = ch[i] if last else ch[j]
                        layers: list[nn.Module] = [nn.Conv2d(ch[j], out, 3, 2, 1, bias=False),
                                                   nn.BatchNorm2d(out)]
                        if not last:
                            layers.append(nn.ReLU(inplace=True))
                        steps.append(nn.Sequential(*layers))
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(nn.ModuleList(row))
        return nn.ModuleList(fuse_layers)

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        x = [branch(xi) for branch, xi in zip(self.branches, x, strict=True)]
        if self.fuse_layers is None:
            return x
        out = []
        for i, row in enumerate(self.fuse_layers):
            # Sum in branch index order, as the reference: y = x[0] (or fuse(x[0])), then
            # + x[j] / fuse(x[j]) for j = 1.. . Float addition is not associative: starting
            # from the branch's own input instead changes heatmaps by ~5e-5.
            h, w = x[i].shape[-2:]
            y = self._fused(row, x, 0, h, w)
            for j in range(1, self.num_branches):
                y = y + self._fused(row, x, j, h, w)
            out.append(self.relu(y))
        return out

    @staticmethod
    def _fused(row: nn.ModuleList, x: list[torch.Tensor], j: int, h: int, w: int
               ) -> torch.Tensor:
        """Branch j's contribution to an output of size (h, w): x[j] itself on the diagonal,
        else its fuse layer. Upsampled odd-sized maps can be one cell larger: cropped (a
        no-op view for the usual even sizes)."""
        if row[j] is None:
            return x[j]
        return row[j](x[j])[..., :h, :w]


class PoseHighResolutionNet(nn.Module):
    """HRNet for top-down pose: stem (two stride-2 3x3 convs) -> layer1 (bottlenecks) ->
    transition1/stage2 -> transition2/stage3 -> transition3/stage4 -> 1x1 `final_layer` on the
    stride-4 branch.

    Input (B, 3, H, W) float, ImageNet-normalised RGB; output (B, K, H/4, W/4) heatmaps.
    """

    head_prefixes = ("final_layer",)

    def __init__(self, spec: HRNetSpec, num_keypoints: int = 17,
                 final_conv_kernel: int = 1) -> None:
        super().__init__()
        if final_conv_kernel not in (1, 3):
            raise ValueError(f"final_conv_kernel must be 1 or 3, got {final_conv_kernel}")
        self.spec = spec
        self.num_keypoints = num_keypoints
        stem = spec.stem_channels
        self.conv1 = nn.Conv2d(3, stem, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(stem, stem, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(stem, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        s1 = spec.stage1
        self.layer1, ch = make_res_layer(BLOCKS[s1.block], stem, s1.num_channels[0],
                                         s1.num_blocks[0])
        pre = [ch]
        self.transition1, self.stage2, pre = self._stage(pre, spec.stage2, True)
        self.transition2, self.stage3, pre = self._stage(pre, spec.stage3, True)
        self.transition3, self.stage4, pre = self._stage(pre, spec.stage4, False)
        self.final_layer = nn.Conv2d(pre[0], num_keypoints, kernel_size=final_conv_kernel,
                                     stride=1, padding=1 if final_conv_kernel == 3 else 0)
        self.stride = 4
        init_pose_weights(self, self.head_prefixes)

    @staticmethod
    def _transition(pre: list[int], cur: list[int]) -> nn.ModuleList:
        layers: list[nn.Module | None] = []
        for i, c in enumerate(cur):
            if i < len(pre):
                if c != pre[i]:
                    layers.append(nn.Sequential(nn.Conv2d(pre[i], c, 3, 1, 1, bias=False),
                                                nn.BatchNorm2d(c), nn.ReLU(inplace=True)))
                else:
                    layers.append(None)
            else:
                steps = []
                for j in range(i + 1 - len(pre)):
                    cin = pre[-1]
                    cout = c if j == i - len(pre) else cin
                    steps.append(nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1, bias=False),
                                               nn.BatchNorm2d(cout), nn.ReLU(inplace=True)))
                layers.append(nn.Sequential(*steps))
        return nn.ModuleList(layers)

    def _stage(self, pre: list[int], stage: StageSpec, multi_scale_output: bool
               ) -> tuple[nn.ModuleList, nn.Sequential, list[int]]:
        block = BLOCKS[stage.block]
        cur = [c * block.expansion for c in stage.num_channels]
        transition = self._transition(pre, cur)
        modules = []
        ch = cur
        for m in range(stage.num_modules):
            last = m == stage.num_modules - 1
            mod = HighResolutionModule(block, stage.num_blocks, ch, stage.num_channels,
                                       multi_scale_output or not last)
            modules.append(mod)
            ch = mod.out_channels
        return transition, nn.Sequential(*modules), list(ch)

    @staticmethod
    def _apply_transition(transition: nn.ModuleList, ys: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = []
        for i, t in enumerate(transition):
            if t is None:
                xs.append(ys[i])
            else:
                xs.append(t(ys[i] if i < len(ys) else ys[-1]))
        return xs

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Stage-4 outputs: a one-element list with the stride-4 feature map."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        ys = self.stage2(self._apply_transition(self.transition1, ys))
        ys = self.stage3(self._apply_transition(self.transition2, ys))
        return self.stage4(self._apply_transition(self.transition3, ys))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.forward_features(x)[0])
