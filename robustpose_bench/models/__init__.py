"""Model zoo: one registry of heatmap pose networks written in this package (SimpleBaseline
ResNet-18/50/101/152, HRNet-W32/W48 and small CPU variants), PROTOCOL.md section 3 sizes.

Every model maps (B, 3, H, W) float ImageNet-normalised RGB to (B, K, H/4, W/4) heatmaps.
Add a model with one decorated factory function; `create_model(name)` builds it.
"""
from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

logger = logging.getLogger(__name__)

# ImageNet mean / std of RGB values in [0, 1]; the input normalisation of every zoo model.
NORMALIZE_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
NORMALIZE_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelInfo:
    """Registry entry of one zoo model.

    input_size: default model input (width, height) in pixels. heatmap_stride: input pixels
    per heatmap cell. published_params: parameter count of the paper at 17 keypoints (None
    for the project's own small variants). method-agnostic: the same network serves every
    training method (standard, AdvMix, ASDA, ...).
    """

    name: str
    factory: Callable[..., nn.Module]
    family: str
    backbone: str
    input_size: tuple[int, int] = (192, 256)
    heatmap_stride: int = 4
    published_params: float | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)


_MODELS: dict[str, ModelInfo] = {}


def register_model(func: Callable[..., nn.Module] | None = None, *, name: str | None = None,
                   family: str = "", backbone: str = "", input_size: tuple[int, int] = (192, 256),
                   published_params: float | None = None, description: str = ""):
    """Register a factory `f(num_keypoints=17, **kw) -> nn.Module` under its function name.

    Use bare (`@register_model`) or with metadata (`@register_model(family="hrnet", ...)`).
    """

    def wrap(f: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or f.__name__
        if key in _MODELS:
            raise ValueError(f"model {key!r} is registered twice")
        summary = " ".join((f.__doc__ or "").strip().split("\n\n")[0].split())
        _MODELS[key] = ModelInfo(key, f, family, backbone, tuple(input_size), 4, published_params,
                                 description or summary)
        return f

    return wrap(func) if func is not None else wrap


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style pattern (`hrnet*`), sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatchcase(n, pattern))


def get_model_info(name: str) -> ModelInfo:
    """The registry entry of `name`; ValueError listing the zoo for an unknown name."""
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; the zoo has: {', '.join(list_models())}") from None


def create_model(name: str, num_keypoints: int = 17, pretrained_backbone: str | Path | None = None,
                 checkpoint: str | Path | None = None, trust_checkpoint: bool = False,
                 **kwargs) -> nn.Module:
    """Build zoo model `name` with `num_keypoints` heatmaps.

    pretrained_backbone: a user-supplied ImageNet checkpoint of the backbone (torchvision-style
    ResNet or HRNet-Image-Classification names; nothing is downloaded). checkpoint: a full pose
    checkpoint (ours, the HRNet reference repository's or MMPose's) loaded with
    `checkpoint.load_checkpoint` (strict; pickled code refused unless `trust_checkpoint`).
    Extra keyword arguments go to the factory. The model gets attributes `zoo_name` and
    `default_input_size` ((width, height)).
    """
    info = get_model_info(name)
    if num_keypoints < 1:
        raise ValueError(f"num_keypoints must be >= 1, got {num_keypoints}")
    model = info.factory(num_keypoints=num_keypoints, **kwargs)
    model.zoo_name = name
    model.default_input_size = info.input_size
    if pretrained_backbone is not None:
        from robustpose_bench.models.checkpoint import load_pretrained_backbone

        load_pretrained_backbone(model, pretrained_backbone, trust=trust_checkpoint)
    if checkpoint is not None:
        from robustpose_bench.models.checkpoint import load_checkpoint

        load_checkpoint(model, checkpoint, trust=trust_checkpoint)
    return model


def count_params(model: nn.Module) -> int:
    """Number of trainable and frozen parameters (buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


# Importing the families registers their models.
from robustpose_bench.models import zoo as _zoo  # noqa: E402,F401

__all__ = ["NORMALIZE_MEAN", "NORMALIZE_STD", "ModelInfo", "count_params", "create_model",
           "get_model_info", "list_models", "register_model"]
