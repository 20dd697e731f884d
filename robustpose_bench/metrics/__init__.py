"""Benchmark metrics: COCO / OCHuman keypoint AP, MPII PCKh, robustness aggregates (mPC, rPC)
and prediction stability (R, RUC), with one registry of the file-level scorers.

Follows PROTOCOL.md sections 2-3 (COCO OKS AP via pycocotools semantics, MPII PCKh, mPC/rPC,
stable-heatmap stability metrics). Heavy modules are imported only when a metric runs.

    >>> from robustpose_bench.metrics import list_metrics
    >>> list_metrics()
    ['ap', 'pckh']
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Metric:
    """A file-level scorer: `score(ann, results, **options) -> dict` of numbers.

    primary: the key of the headline number in the returned dict ("AP", "PCKh"); all values
    are fractions in [0, 1] (-1 or None where undefined, see the scorer's docstring)."""

    name: str
    primary: str
    description: str
    score: Callable[..., dict]
    higher_is_better: bool = True


METRICS: dict[str, Metric] = {}


def register_metric(name: str, primary: str, description: str, higher_is_better: bool = True
                    ) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
    """Decorator registering a scorer `fn(ann, results, **options) -> dict` under `name`."""

    def deco(fn: Callable[..., dict]) -> Callable[..., dict]:
        if name in METRICS:
            raise ValueError(f"metric {name!r} is already registered")
        METRICS[name] = Metric(name, primary, description, fn, higher_is_better)
        return fn

    return deco


def list_metrics() -> list[str]:
    return sorted(METRICS)


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(list_metrics())}") from None


@register_metric("ap", "AP", "COCO / OCHuman keypoint AP (OKS), AP50, AP75, APM, APL and AR*")
def score_ap(ann: str | Path | dict, results: str | Path | list, sigmas: Any = None,
             use_area: bool = True, backend: str = "auto", nan_policy: str = "error") -> dict:
    """`robustpose_bench.metrics.coco.evaluate_keypoints` (fractions, -1 if undefined)."""
    from robustpose_bench.metrics.coco import evaluate_keypoints

    return evaluate_keypoints(ann, results, sigmas=sigmas, use_area=use_area, backend=backend,
                              nan_policy=nan_policy)


@register_metric("pckh", "PCKh", "MPII PCKh@0.5 and PCKh@0.1 per joint group and mean")
def score_pckh(ann: str | Path, results: str | Path, gt_mat: str | Path | None = None) -> dict:
    """`robustpose_bench.metrics.pckh.mpii_score` (fractions, None if undefined)."""
    from robustpose_bench.metrics.pckh import mpii_score

    return mpii_score(ann, results, gt_mat)


__all__ = ["METRICS", "Metric", "get_metric", "list_metrics", "register_metric", "score_ap",
           "score_pckh"]
