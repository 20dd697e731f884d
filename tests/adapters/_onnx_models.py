"""Small torch SimCC and RTMO-style networks exported to ONNX for the adapter tests (random
weights; nothing downloaded)."""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn


class TinySimCC(nn.Module):
    """(B, 3, h, w) -> simcc_x (B, K, w * ratio), simcc_y (B, K, h * ratio), as RTMPose."""

    def __init__(self, k: int = 17, size: tuple[int, int] = (48, 64), ratio: float = 2.0):
        super().__init__()
        w, h = size
        self.k, self.wx, self.wy = k, int(w * ratio), int(h * ratio)
        self.conv = nn.Conv2d(3, 4, 3, stride=4, padding=1)
        feat = 4 * ((h + 3) // 4) * ((w + 3) // 4)
        self.fx = nn.Linear(feat, k * self.wx)
        self.fy = nn.Linear(feat, k * self.wy)
        with torch.no_grad():  # spread the logits, so argmax ties cannot happen
            self.fx.weight.mul_(20.0)
            self.fy.weight.mul_(20.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = torch.relu(self.conv(x)).flatten(1)
        return (self.fx(f).view(-1, self.k, self.wx), self.fy(f).view(-1, self.k, self.wy))


class TinyRTMO(nn.Module):
    """(1, 3, H, W) -> dets (1, N, 5), keypoints (1, N, K, 3): fixed person boxes (two of
    them near-duplicates, one below the score threshold) plus small image-dependent shifts,
    keypoints spread inside each box."""

    def __init__(self, k: int = 17, size: int = 64):
        super().__init__()
        s = float(size)
        boxes = torch.tensor([[0.05, 0.05, 0.40, 0.60], [0.50, 0.10, 0.95, 0.90],
                              [0.06, 0.05, 0.40, 0.61], [0.10, 0.65, 0.30, 0.95],
                              [0.55, 0.15, 0.90, 0.85]]) * s
        self.register_buffer("boxes", boxes)
        self.register_buffer("scores", torch.tensor([0.9, 0.8, 0.85, 0.05, 0.7]))
        g = torch.linspace(0.1, 0.9, k)
        self.register_buffer("grid", torch.stack([g, g.flip(0)], dim=-1))  # (K, 2)
        self.k = k

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shift = x.mean(dim=(1, 2, 3)).view(1, 1, 1) * 0.01  # image-dependent, < 2.6 px
        boxes = self.boxes.unsqueeze(0) + shift
        dets = torch.cat([boxes, self.scores.view(1, -1, 1)], dim=-1)
        wh = (boxes[..., 2:] - boxes[..., :2]).unsqueeze(2)
        xy = boxes[..., :2].unsqueeze(2) + self.grid.view(1, 1, self.k, 2) * wh
        conf = torch.sigmoid(xy.sum(-1, keepdim=True) / 50.0)
        return dets, torch.cat([xy, conf], dim=-1)


def export(model: nn.Module, path: Path, shape: tuple[int, ...], names: list[str],
           dynamic_batch: bool = True) -> Path:
    buf = io.BytesIO()
    axes = {"input": {0: "batch"}, **{n: {0: "batch"} for n in names}} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(*shape),), buf, input_names=["input"],
                          output_names=names, dynamic_axes=axes, opset_version=17, dynamo=False)
    path.write_bytes(buf.getvalue())
    return path
