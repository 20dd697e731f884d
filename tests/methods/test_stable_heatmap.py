"""Stable heatmap regression: RCC theorems 1 and 2, HDHR targets, the weighted cross-entropy,
the MST loss, the perturbation set and the inference head (PROTOCOL.md section 6)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from _train_helpers import first_batch

from robustpose_bench.methods.stable_heatmap import (
    PERTURBATIONS,
    StableHeatmapHead,
    decode_maps,
    hd_kernel_mass,
    mst_loss,
    perturb,
    rcc,
    weighted_cross_entropy,
    wrap_for_inference,
)
from robustpose_bench.train.targets import hdhr_target

W = 32


def gauss(kr: float, kc: float, sigma: float, n: int = W) -> torch.Tensor:
    """G(i, j) = exp(-((i - kr)^2 + (j - kc)^2) / (2 sigma^2)) on an n x n grid (paper eq. 2;
    i = row, j = column, 1-based like the paper)."""
    i = torch.arange(1, n + 1, dtype=torch.float64)[:, None]
    j = torch.arange(1, n + 1, dtype=torch.float64)[None, :]
    return torch.exp(-((i - kr) ** 2 + (j - kc) ** 2) / (2 * sigma ** 2))


def test_rcc_theorem_1_single_gaussian_is_returned_scaled_by_c1():
    kr, kc, s = 12.0, 20.0, 2.5
    g = gauss(kr, kc, s)
    i = torch.arange(1, W + 1, dtype=torch.float64)
    c1 = torch.exp(-((i - kc) ** 2 + (i - kr) ** 2) / (2 * s ** 2)).sum()
    torch.testing.assert_close(rcc(g, normalize=False), c1 * g)
    # Normalised by its maximum the output is the input Gaussian itself (peak 1).
    torch.testing.assert_close(rcc(g), g / g.max())


def test_rcc_theorem_2_two_peaks_are_weighted_by_c_n_and_c_ab():
    peaks = [(8.0, 10.0, 2.0), (22.0, 25.0, 3.0)]
    ht = sum(gauss(*p) for p in peaks)
    i = torch.arange(1, W + 1, dtype=torch.float64)
    l_idx = i[:, None]
    m_idx = i[None, :]
    expected = torch.zeros(W, W, dtype=torch.float64)
    c_n = []
    for a, (kra, kca, sa) in enumerate(peaks):
        for b, (krb, kcb, sb) in enumerate(peaks):
            # C_ab (eq. 5; C_n of eq. 6 when a == b) and G_ab (eq. 4).
            c = torch.exp(-(sb ** 2 * (i - kca) ** 2 + sa ** 2 * (i - krb) ** 2)
                          / (2 * sa ** 2 * sb ** 2)).sum()
            g = torch.exp(-(sb ** 2 * (l_idx - kra) ** 2 + sa ** 2 * (m_idx - kcb) ** 2)
                          / (2 * sa ** 2 * sb ** 2))
            if a == b:
                torch.testing.assert_close(g, gauss(kra, kca, sa))
                c_n.append(float(c))
            expected += c * g
    torch.testing.assert_close(rcc(ht, normalize=False), expected)
    # Far from each other the cross terms vanish: each peak is scaled by its own C_n, so the
    # narrower peak (smaller C_n) is attenuated relative to the wider one.
    out = rcc(ht)
    assert float(out[7, 9] / out[21, 24]) == pytest.approx(c_n[0] / c_n[1], rel=1e-3)
    assert c_n[0] < c_n[1] and float(out[7, 9] / out[21, 24]) < float(ht[7, 9] / ht[21, 24])


def test_rcc_pads_non_square_maps_and_batches():
    x = torch.rand(2, 3, 16, 12)
    out = rcc(x)
    assert out.shape == x.shape
    sq = torch.nn.functional.pad(x, (0, 4, 0, 0))
    ref = (sq @ sq)[..., :16, :12]
    torch.testing.assert_close(out, ref / ref.flatten(2).amax(-1)[..., None, None])
    assert torch.allclose(out.flatten(2).amax(-1), torch.ones(2, 3))


def test_hdhr_target_values():
    t, w = hdhr_target(np.array([[40.0, 24.0], [0.0, 0.0], [200.0, 10.0]]),
                       np.array([1.0, 0.0, 1.0]), (96, 128), (24, 32), alpha=0.7, t_hd=8)
    assert w.tolist() == [1.0, 0.0, 0.0]  # unlabelled, off the heatmap
    m = t[0]
    assert m[6, 10] == 1.0  # (40 / 4, 24 / 4) = (10, 6): column 10, row 6
    assert m[6, 11] == pytest.approx(0.7) and m[7, 11] == pytest.approx(0.7)  # chessboard d=1
    assert m[6 + 3, 10 - 3] == pytest.approx(0.7 ** 3)
    assert m[6 + 8, 10] == pytest.approx(0.7 ** 8)
    assert m[6 + 9, 10] == 0.0 and m[6, 10 + 9] == 0.0  # beyond T_hd = 8
    assert (t[1] == 0).all() and (t[2] == 0).all()
    # The multi-label map is the support: a (2 T + 1)^2 square clipped at the border.
    assert int((m > 0).sum()) == (6 + 9) * 17


def test_weighted_cross_entropy_is_minimal_at_the_hd_distribution():
    t, w = hdhr_target(np.array([[20.0, 20.0]]), np.array([1.0]), (48, 64), (12, 16), 0.7, 8)
    t = torch.from_numpy(t)[None]
    w = torch.from_numpy(w)[None]
    best = torch.log(t.clamp_min(1e-12) / t.sum())  # softmax(best) == t / sum(t)
    loss_best = weighted_cross_entropy(best, t, w)
    for noise in (0.1, 0.5):
        other = best + noise * torch.randn_like(best)
        assert weighted_cross_entropy(other, t, w) > loss_best
    flat = torch.zeros_like(best)
    assert weighted_cross_entropy(flat, t, w) > loss_best
    # Unlabelled joints contribute nothing.
    assert weighted_cross_entropy(flat, t, torch.zeros_like(w)) == 0


def test_mst_loss_zero_for_identical_outputs_and_weights_the_peak():
    r = torch.rand(2, 3, 8, 6)
    assert mst_loss(r, r.clone()) == 0
    r2 = r.clone()
    idx = r[0, 0].flatten().argmax()
    r2[0, 0].view(-1)[idx] -= 0.5
    # one cell changed by 0.5 at the clean argmax: 0.25 / (H W) + 0.25, averaged over 6 maps
    assert float(mst_loss(r, r2)) == pytest.approx((0.25 / 48 + 0.25) / 6)
    r3 = r.clone()
    other = (idx + 1) % 48
    r3[0, 0].view(-1)[other] -= 0.5
    assert float(mst_loss(r, r3)) == pytest.approx(0.25 / 48 / 6)


def test_perturbations_are_not_benchmark_corruptions():
    from robustpose_bench.corruptions import ALL_CORRUPTIONS

    assert not set(PERTURBATIONS) & set(ALL_CORRUPTIONS)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (20, 16, 3), dtype=np.uint8)
    for name in PERTURBATIONS:
        out = perturb(img, name, rng)
        assert out.shape == img.shape and out.dtype == np.uint8
        diff = np.abs(out.astype(int) - img.astype(int))
        assert 0 < diff.mean() < 30  # small, but a perturbation
    with pytest.raises(ValueError, match="unknown MST perturbation"):
        perturb(img, "gaussian_noise", rng)


def test_inference_head_keeps_the_rcc_argmax_and_reports_confidence():
    torch.manual_seed(0)
    z = torch.randn(1, 2, 16, 12) * 0.1
    z[0, 0, 5, 7] = 6.0
    model = torch.nn.Identity()
    head = StableHeatmapHead(model, use_rcc=True, temperature=0.1)
    out = head(z)
    n, _ = decode_maps(z, True, 0.1)
    assert out.shape == z.shape
    assert out[0, 0].flatten().argmax() == n[0, 0].flatten().argmax() == 5 * 12 + 7
    assert 0 <= float(out.amax()) <= 1
    assert out[0, 0].max() > out[0, 1].max()  # the peaked map is more confident
    assert hd_kernel_mass(0.7, 0) == 1.0
    assert isinstance(wrap_for_inference(model, {"head": "stable_heatmap"}), StableHeatmapHead)
    assert wrap_for_inference(model, {}) is model


def test_stable_step_logs_all_terms_and_exports_its_head(trainer_factory):
    tr = trainer_factory("stable_heatmap")
    batch = first_batch(tr)
    assert {"perturbed", "hd_target", "hd_weight"} <= set(batch)
    logs = tr.method.train_step(batch)
    assert {"loss_wce", "loss_mst", "loss"} <= set(logs)
    assert isinstance(tr.method.inference_model(tr.raw_model), StableHeatmapHead)
    assert tr.method.inference_config()["head"] == "stable_heatmap"
    tr_abl = trainer_factory("stable_heatmap", {"hdhr": False, "mst": False})
    logs = tr_abl.method.train_step(first_batch(tr_abl))
    assert set(logs) == {"loss_mse", "loss"}


@pytest.mark.parametrize("positive", ["sigmoid", "relu", "softplus", "none"])
def test_decode_maps_positivity_options(positive):
    z = torch.randn(2, 3, 16, 12)
    n, logits = decode_maps(z, True, 0.1, positive)
    assert n.shape == z.shape
    torch.testing.assert_close(n.flatten(2).amax(-1), torch.ones(2, 3))
    torch.testing.assert_close(logits, n / 0.1)
    with pytest.raises(ValueError, match="positive must be one of"):
        decode_maps(z, True, 0.1, "exp")
