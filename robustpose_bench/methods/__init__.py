"""Training methods of the benchmark's papers, one module each, selected by a config's `method:`.

standard (HRNet / SimpleBaseline), advmix (Wang et al. 2021), asda (Bin et al. 2020),
stable_heatmap (Zhang et al. 2021), occlusion_aug (Pytel et al.); see docs/training.md.
"""
from __future__ import annotations

from robustpose_bench.methods.base import (
    METHODS,
    TrainingMethod,
    get_method,
    list_methods,
    register_method,
)

__all__ = ["METHODS", "TrainingMethod", "get_method", "list_methods", "register_method"]
