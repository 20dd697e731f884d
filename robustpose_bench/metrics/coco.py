"""COCO / OCHuman keypoint AP (OKS): AP, AP50, AP75, APM, APL, AR, AR50, AR75, ARM, ARL.

The API (`KeypointEvaluator`, `evaluate_keypoints`) over the ground truth / results layer
(`coco_gt`) and the exchangeable AP engines (`coco_backends`: `native`, `pycocotools`,
`xtcocotools`, `faster-coco-eval`, identical numbers). Follows the COCO keypoint evaluation
(pycocotools COCOeval, iouType 'keypoints') with xtcocotools' `use_area` option (PROTOCOL.md
section 2); docs/metrics.md.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

# the ground truth / results layer and the backends, re-exported: this module is the API
from robustpose_bench.metrics.coco_backends import (  # noqa: F401
    BACKENDS,
    Backend,
    BackendFn,
    get_backend,
    list_backends,
    register_backend,
)
from robustpose_bench.metrics.coco_gt import (  # noqa: F401
    NAN_POLICIES,
    NO_AREA_FACTOR,
    KeypointGT,
    KeypointResults,
    check_arrays,
    check_results,
    load_gt,
)

METRIC_KEYS = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")


# --------------------------------------------------------------------------- API
def stats_to_dict(stats: np.ndarray) -> dict[str, float]:
    return {k: float(v) for k, v in zip(METRIC_KEYS, stats, strict=True)}


class KeypointEvaluator:
    """Keypoint AP against one ground truth, for many result sets (conditions).

    >>> ev = KeypointEvaluator("person_keypoints_val2017.json")      # doctest: +SKIP
    >>> ev.evaluate("results.json")["AP"]                              # doctest: +SKIP
    """

    def __init__(self, gt: str | Path | Mapping | KeypointGT, sigmas: Sequence[float] | None = None,
                 use_area: bool | None = None, backend: str = "auto", nan_policy: str = "error"):
        """gt: as `load_gt`, or a prepared KeypointGT (its sigmas / use_area apply unless
        given here, in which case it is re-normalised from its source). use_area None = True
        for a new ground truth."""
        if use_area is None:
            use_area = gt.use_area if isinstance(gt, KeypointGT) else True
        self.gt = load_gt(gt, sigmas, use_area)
        self.backend = get_backend(backend)
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
        self.nan_policy = nan_policy

    def evaluate(self, results: str | Path | Sequence[Mapping] | KeypointResults) -> dict[str, float]:
        """AP/AR (fractions 0..1, -1 where undefined) of COCO keypoint results."""
        res = check_results(results, self.gt, self.nan_policy)
        return stats_to_dict(self.backend.run(self.gt, res))

    def evaluate_arrays(self, image_ids: np.ndarray, keypoints: np.ndarray, scores: np.ndarray
                        ) -> dict[str, float]:
        """Same for arrays: image_ids (D,), keypoints (D, K, 3) image pixels, scores (D,)."""
        res = check_arrays(image_ids, keypoints, scores, self.gt, self.nan_policy)
        return stats_to_dict(self.backend.run(self.gt, res))


def evaluate_keypoints(gt: str | Path | Mapping | KeypointGT,
                       results: str | Path | Sequence[Mapping] | KeypointResults,
                       sigmas: Sequence[float] | None = None, use_area: bool = True,
                       backend: str = "auto", nan_policy: str = "error") -> dict[str, float]:
    """COCO keypoint AP of `results` against `gt`.

    gt: COCO keypoint json path / dict / COCO object. results: COCO results json path or list
    of {image_id, category_id, keypoints [x, y, c] * K (image pixels), score}. sigmas: (K,)
    OKS sigmas (default COCO's). use_area: xtcocotools semantics (False: area := 0.53*w*h of
    the GT box, also for the M/L area ranges). backend: native / faster-coco-eval /
    xtcocotools / pycocotools / auto (all identical). nan_policy: "error" (default) or "drop".

    Returns {AP, AP50, AP75, APM, APL, AR, AR50, AR75, ARM, ARL} as fractions in [0, 1]; -1
    where undefined (no ground truth person in that area range), as pycocotools.
    """
    return KeypointEvaluator(gt, sigmas, use_area, backend, nan_policy).evaluate(results)


def dumps_results(results: Sequence[Mapping]) -> str:
    """COCO results json text (floats at full precision)."""
    return json.dumps(list(results))
