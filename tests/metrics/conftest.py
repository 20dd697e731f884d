"""Fixtures of the metric tests: small synthetic COCO-like sets and hand-built edge cases."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _metric_cases import EDGE_CASES  # noqa: E402

from robustpose_bench.metrics.synthetic import make_coco_gt, make_predictions  # noqa: E402


@pytest.fixture(params=sorted(EDGE_CASES))
def edge_case(request):
    """(name, gt dict, results list) of one hand-built edge case (deep copies)."""
    g, r = EDGE_CASES[request.param]
    return request.param, copy.deepcopy(g), copy.deepcopy(r)


@pytest.fixture(scope="session")
def synth_small():
    """A 250-image synthetic COCO-like set and its raw top-down predictions."""
    gt = make_coco_gt(num_images=250, seed=3)
    return gt, make_predictions(gt, seed=3)
