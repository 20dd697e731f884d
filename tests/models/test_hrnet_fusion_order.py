"""HRNet exchange units sum the branches in index order, as the reference `pose_hrnet.py`
(y = x[0] or fuse(x[0]), then + x[j] / fuse(x[j]) for j = 1..): float addition is not
associative, so only that order gives the reference's heatmaps bit for bit (issue 15)."""
from __future__ import annotations

import torch

from robustpose_bench.models.hrnet import HighResolutionModule
from robustpose_bench.models.resnet import BasicBlock


def _module(branches: int) -> HighResolutionModule:
    torch.manual_seed(0)
    ch = [4 * 2 ** i for i in range(branches)]
    mod = HighResolutionModule(BasicBlock, [1] * branches, ch, ch)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in mod.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g))
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.randn(m.num_features, generator=g))
    return mod.eval()


def _inputs(branches: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    return [torch.randn(2, 4 * 2 ** i, 32 // 2 ** i, 24 // 2 ** i, generator=g)
            for i in range(branches)]


def _fused_by_hand(mod: HighResolutionModule, x: list[torch.Tensor], own_first: bool
                   ) -> list[torch.Tensor]:
    """The fused outputs summed in index order (reference) or starting from x[i] (the old
    order), written out from the module's own sub-layers."""
    xb = [branch(xi) for branch, xi in zip(mod.branches, x, strict=True)]
    outs = []
    for i, row in enumerate(mod.fuse_layers):
        terms = [xb[j] if j == i else row[j](xb[j]) for j in range(len(xb))]
        order = [i] + [j for j in range(len(xb)) if j != i] if own_first else range(len(xb))
        y = None
        for j in order:
            y = terms[j] if y is None else y + terms[j]
        outs.append(torch.relu(y))
    return outs


def test_fusion_sums_branches_in_index_order_bit_for_bit():
    for branches in (3, 4):
        mod, x = _module(branches), _inputs(branches)
        with torch.no_grad():
            ours = mod(x)
            index_order = _fused_by_hand(mod, x, own_first=False)
            own_first = _fused_by_hand(mod, x, own_first=True)
        assert len(ours) == branches
        for a, b in zip(ours, index_order, strict=True):
            assert torch.equal(a, b)
        # The two orders really differ (i >= 2 puts x[i] after two other terms), so the
        # check above can fail.
        assert any(not torch.equal(a, b) for a, b in zip(ours, own_first, strict=True))
        assert max((a - b).abs().max().item() for a, b in zip(ours, own_first, strict=True)) < 1e-4


def test_single_output_module_and_odd_sizes():
    mod = _module(3)
    mod.multi_scale_output = False
    mod.fuse_layers = mod.fuse_layers[:1]
    g = torch.Generator().manual_seed(3)
    # Odd sizes: the upsampled lower branches are one cell larger and get cropped.
    x = [torch.randn(1, 4, 15, 11, generator=g), torch.randn(1, 8, 8, 6, generator=g),
         torch.randn(1, 16, 4, 3, generator=g)]
    with torch.no_grad():
        out = mod(x)
    assert len(out) == 1 and out[0].shape == (1, 4, 15, 11)
