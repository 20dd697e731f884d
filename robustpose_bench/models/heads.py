"""Inference heads: what evaluation runs on top of a trained network whose raw output is not a
heatmap that the standard decoder reads directly, selected by the checkpoint's JSON sidecar
(`inference.head`), one registry (`register_head` / `wrap_for_inference`).

Evaluation (adapters.loading) needs only this module, never the training code. The one head
today is stable heatmap regression's (Zhang et al. 2021, PROTOCOL.md section 6): the RCC
layer and a confidence that the standard argmax / quarter-offset / flip-test pipeline reads.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: factory(model, inference settings) -> the module evaluation runs.
HeadFactory = Callable[[nn.Module, Mapping[str, Any]], nn.Module]
HEADS: dict[str, HeadFactory] = {}


def register_head(name: str) -> Callable[[HeadFactory], HeadFactory]:
    """Decorator registering an inference-head factory under `name`."""

    def wrap(factory: HeadFactory) -> HeadFactory:
        if name in HEADS and HEADS[name] is not factory:
            raise ValueError(f"inference head {name!r} is registered twice")
        HEADS[name] = factory
        return factory

    return wrap


def wrap_for_inference(model: nn.Module, inference: Mapping[str, Any] | None) -> nn.Module:
    """The module evaluation should run for a checkpoint's `inference` settings: the head
    named by `inference["head"]` around `model`, or `model` itself when none is named.
    ValueError names an unknown head and lists the registered ones."""
    inference = dict(inference or {})
    name = inference.get("head")
    if not name:
        return model
    if name not in HEADS:
        raise ValueError(f"inference head {name!r} is unknown; registered: "
                         f"{', '.join(sorted(HEADS)) or '(none)'}")
    return HEADS[name](model, inference)


# ---- stable heatmap regression ---------------------------------------------------------------

EPS = 1e-6


# ---- RCC ------------------------------------------------------------------------------------------

def rcc(heatmaps: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Row-column correlation RCC(l, m) = sum_i HT(l, i) HT(i, m) (paper eq. 1, 7).

    heatmaps: (..., H, W). A non-square map is zero-padded at the bottom / right to S x S,
    S = max(H, W), multiplied with itself (matrix product: row l of HT with column m), and
    cropped back to H x W. normalize: divide each map by its maximum (Z of eq. 7; clamped to
    > 0), so a single Gaussian comes back unchanged (Theorem 1).
    """
    h, w = heatmaps.shape[-2:]
    s = max(h, w)
    x = heatmaps
    if h != w:
        x = F.pad(x, (0, s - w, 0, s - h))
    out = torch.matmul(x, x)[..., :h, :w]
    if normalize:
        z = out.flatten(-2).amax(dim=-1).clamp_min(EPS)
        out = out / z[..., None, None]
    return out


class RCC(nn.Module):
    """Module form of `rcc`."""

    def __init__(self, normalize: bool = True):
        super().__init__()
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rcc(x, self.normalize)


def hd_kernel_mass(alpha: float, t_hd: int) -> float:
    """Sum of an unclipped HDHR target: 1 + sum_{d=1..T} 8 d alpha^d."""
    return 1.0 + sum(8 * d * alpha ** d for d in range(1, t_hd + 1))


class StableHeatmapHead(nn.Module):
    """Wraps a trained network so that the standard argmax decoder reads its output.

    Output (B, K, H, W) = N * c, where N is the decoded map (normalised RCC of sigmoid(z), or
    the spatial softmax of z without RCC) whose argmax is the keypoint, and c in [0, 1] the
    keypoint confidence: the softmax probability at the peak divided by the peak probability
    of an ideal HDHR fit (1 / hd_kernel_mass). The argmax, the quarter-offset neighbours and
    the flip-test average are those of N; the maximum is c.
    """

    def __init__(self, model: nn.Module, use_rcc: bool = True, temperature: float = 0.1,
                 alpha: float = 0.7, t_hd: int = 8, positive: str = "sigmoid"):
        super().__init__()
        self.model = model
        self.use_rcc = use_rcc
        self.temperature = float(temperature)
        self.positive = positive
        self.peak_scale = hd_kernel_mass(alpha, t_hd)
        self.num_keypoints = getattr(model, "num_keypoints", None)
        self.zoo_name = getattr(model, "zoo_name", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model(x)
        if isinstance(z, (list, tuple)):
            z = z[-1]
        heat, logits = decode_maps(z.float(), self.use_rcc, self.temperature, self.positive)
        p = torch.softmax(logits.flatten(2), dim=-1)
        conf = (p.amax(dim=-1) * self.peak_scale).clamp(0.0, 1.0)
        return heat * conf[..., None, None]


POSITIVE = {"sigmoid": torch.sigmoid, "relu": torch.relu, "softplus": F.softplus,
            "none": lambda z: z}


def decode_maps(z: torch.Tensor, use_rcc: bool, temperature: float, positive: str = "sigmoid"
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """(decoded map N with max 1, softmax logits) from raw network outputs z.

    With RCC: N = RCC(positive(z)) normalised by its maximum, logits N / temperature.
    Without: N = softmax(z) / max, logits z. positive: sigmoid | relu | softplus | none.
    """
    if use_rcc:
        if positive not in POSITIVE:
            raise ValueError(f"positive must be one of {', '.join(POSITIVE)}, got {positive!r}")
        n = rcc(POSITIVE[positive](z))
        return n, n / temperature
    p = torch.softmax(z.flatten(2), dim=-1).view_as(z)
    n = p / p.flatten(2).amax(dim=-1).clamp_min(EPS)[..., None, None]
    return n, z


@register_head("stable_heatmap")
def stable_heatmap_head(model: nn.Module, inference: Mapping[str, Any]) -> nn.Module:
    """StableHeatmapHead from a checkpoint's settings (rcc, temperature, alpha, t_hd, positive)."""
    return StableHeatmapHead(model, bool(inference.get("rcc", True)),
                             float(inference.get("temperature", 0.1)),
                             float(inference.get("alpha", 0.7)), int(inference.get("t_hd", 8)),
                             str(inference.get("positive", "sigmoid")))


__all__ = ["EPS", "HEADS", "POSITIVE", "RCC", "StableHeatmapHead", "decode_maps",
           "hd_kernel_mass", "rcc", "register_head", "wrap_for_inference"]
