"""R(T, T^mp), the stability curve, RUC (pixels and person-normalised), D_n and D_(1)(2),
against values computed by hand."""
from __future__ import annotations

import numpy as np
import pytest

from robustpose_bench.metrics.stability import (
    displacements,
    heatmap_peak_stats,
    person_scale,
    ruc,
    stability,
    stability_metrics,
)


@pytest.fixture
def pair():
    """2 samples x 2 keypoints; perturbed copy moves them by 0, 5 (3-4-5), 1.5 and 10 px."""
    clean = np.array([[[10.0, 10.0], [20.0, 20.0]], [[0.0, 0.0], [50.0, 50.0]]])
    pert = clean.copy()
    pert[0, 1] += (3, 4)
    pert[1, 0] += (1.5, 0)
    pert[1, 1] += (0, 10)
    return clean, pert


def test_r_and_curve(pair):
    clean, pert = pair
    assert displacements(clean, pert).tolist() == [[[0.0, 5.0], [1.5, 10.0]]]
    r = stability(clean, pert, scale=np.array([10.0, 20.0]), p_max=5)
    assert r["R"] == 0 + 25 + 2.25 + 100 and r["R_mean"] == 127.25 / 4
    # stable at P = 1..5 px: {0}, {0, 1.5}, {0, 1.5}, {0, 1.5}, {0, 5, 1.5}
    assert r["curve"] == [0.25, 0.5, 0.5, 0.5, 0.75]
    # trapezoid over P = 1..5 divided by 4
    assert r["RUC"] == pytest.approx((0.25 / 2 + 0.5 + 0.5 + 0.5 + 0.75 / 2) / 4)
    # normalised: 0, 0.5, 0.075, 0.5 of the person scale; R_norm = 0 + .25 + .005625 + .25
    assert r["R_norm"] == pytest.approx(0.505625)
    # thresholds 1..5 % of the scale: only the unmoved keypoint is within 5 %
    assert r["curve_norm"] == [0.25, 0.25, 0.25, 0.25, 0.25]
    assert r["RUC_norm"] == pytest.approx(0.25)
    assert r["num_terms"] == 4 and "px" in r["units"]["R"]


def test_valid_mask_copies_and_per_sample(pair):
    clean, pert = pair
    valid = np.array([[True, False], [True, True]])
    r = stability(clean, pert, valid=valid, p_max=2)
    assert r["R"] == 0 + 2.25 + 100 and r["curve"] == [1 / 3, 2 / 3]
    two = np.stack([pert, clean])  # second copy identical to clean
    r2 = stability(clean, two, p_max=2)
    assert r2["R"] == 127.25 and r2["num_copies"] == 2 and r2["curve"] == [5 / 8, 6 / 8]
    # per sample: the largest displacement of each pair: 5 and 10
    r3 = stability(clean, pert, p_max=10, per="sample")
    assert r3["curve"][4] == 0.5 and r3["curve"][9] == 1.0 and r3["curve"][3] == 0.0


def test_ruc_and_scale():
    assert ruc([1.0]) == 1.0 and ruc([0.0, 1.0]) == 0.5 and ruc([1, 1, 1]) == 1.0
    assert person_scale(np.array([[0, 0, 4, 9], [1, 1, 10, 10]])).tolist() == [6.0, 10.0]


def test_stability_metrics_wrapper(pair):
    clean, pert = pair
    out = stability_metrics(clean, pert, boxes=np.array([[0, 0, 10, 10], [0, 0, 40, 10]]))
    assert out["R"] == 127.25 and out["p_max"] == 30 and out["RUC_norm"] is not None
    empty = stability_metrics(np.zeros((0, 0, 3)), np.zeros((0, 0, 3)))
    assert empty["RUC"] is None and empty["R"] == 0.0
    with pytest.raises(ValueError, match="zero area"):
        stability_metrics(clean, pert, boxes=np.array([[0, 0, 0, 10], [0, 0, 4, 10]]))


def test_bad_input(pair):
    clean, pert = pair
    with pytest.raises(ValueError, match="same N, K"):
        stability(clean, pert[:1])
    bad = pert.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        stability(clean, bad)
    with pytest.raises(ValueError, match="scale"):
        stability(clean, pert, scale=np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="p_max"):
        stability(clean, pert, p_max=0)


def test_heatmap_peak_stats_hand_computed():
    h = np.zeros((1, 2, 4, 5))
    # heatmap 0: peak 1.0 at (x=2, y=1); then 0.8 at (3, 1); 0.5 at (2, 3); rest 0
    h[0, 0, 1, 2], h[0, 0, 1, 3], h[0, 0, 3, 2] = 1.0, 0.8, 0.5
    # heatmap 1: two equal maxima 0.9 at (0, 0) and (4, 3): raster order -> (0, 0) first
    h[0, 1, 0, 0], h[0, 1, 3, 4] = 0.9, 0.9
    out = heatmap_peak_stats(h, n=3)
    # map 0: (1^2 + 0) + (0 + 2^2) = 5; map 1: second = (4, 3) -> 16 + 9 = 25, third = the
    # first zero cell in raster order, (1, 0) -> 1; total 26; mean (5 + 26) / 2
    assert out["D_n"] == 15.5 and out["n"] == 3
    assert out["D_12"] == pytest.approx(((1.0 - 0.8) + 0.0) / 2)
    torch = pytest.importorskip("torch")
    assert heatmap_peak_stats(torch.from_numpy(h), n=3)["D_n"] == 15.5
    with pytest.raises(ValueError, match="n must be"):
        heatmap_peak_stats(h, n=1)


def test_heatmap_top_n_matches_full_sort():
    rng = np.random.default_rng(0)
    h = rng.random((3, 5, 16, 12))
    h[0, :2] = np.round(h[0, :2], 1)  # ties at the cut
    out = heatmap_peak_stats(h, n=10)
    flat = h.reshape(-1, 16 * 12)
    idx = np.argsort(-flat, axis=1, kind="stable")[:, :10]
    x, y = idx % 12, idx // 12
    ref = np.mean(((x[:, 1:] - x[:, :1]) ** 2 + (y[:, 1:] - y[:, :1]) ** 2).sum(1))
    assert out["D_n"] == pytest.approx(ref, rel=1e-12)
