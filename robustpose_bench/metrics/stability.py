"""Prediction-stability metrics: R(T, T^mp), the stability curve, RUC, and the heatmap
statistics D_n and D_(1)(2).

Follows the stable-heatmap-regression paper (eq. 10-12, sec. 4.3; PROTOCOL.md section 2).
The paper leaves units open; here displacements are in image pixels (0-based, x first) and,
separately, normalised by the person scale sqrt(box area). See docs/metrics.md.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robustpose_bench.names import EXTRA_CORRUPTIONS

P_MAX = 30  # the paper's accuracy curves use thresholds up to 30 px

#: Named perturbation sets T^mp for R(T, T^mp) and RUC (evaluate(stability=NAME),
#: `robustpose evaluate --stability --stability-corruptions NAME`); the summary records the
#: name. "extra" (default): the 4 held-out corruptions, none of which enters mPC.
#: "stable-heatmap": the paper's evaluation perturbations (sec. 4.1: trained on 10 of the 15
#: ImageNet-C-style perturbations, evaluated on gaussian blur, jpeg compression, saturate,
#: spatter, speckle noise); jpeg_compression is also a benchmark corruption.
PERTURBATION_SETS: dict[str, tuple[str, ...]] = {
    "extra": tuple(EXTRA_CORRUPTIONS),
    "stable-heatmap": ("gaussian_blur", "jpeg_compression", "saturate", "spatter",
                       "speckle_noise"),
}
DEFAULT_PERTURBATION_SET = "extra"


def person_scale(boxes: np.ndarray) -> np.ndarray:
    """Person scale sqrt(w * h) in pixels from (N, 4) xywh boxes -> (N,)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.sqrt(np.maximum(b[:, 2], 0.0) * np.maximum(b[:, 3], 0.0))


def displacements(clean: np.ndarray, perturbed: np.ndarray) -> np.ndarray:
    """Euclidean distance between paired predictions.

    clean (N, K, 2+) image pixels; perturbed (N, K, 2+) or (M, N, K, 2+) (M perturbed copies
    of each sample, e.g. severities) -> (M, N, K) pixels (M = 1 for a single copy).
    """
    c = np.asarray(clean, dtype=np.float64)[..., :2]
    p = np.asarray(perturbed, dtype=np.float64)[..., :2]
    if p.ndim == c.ndim:
        p = p[None]
    if c.ndim != 3 or p.ndim != 4 or p.shape[1:] != c.shape:
        raise ValueError(f"clean must be (N, K, 2) and perturbed (N, K, 2) or (M, N, K, 2) of "
                         f"the same N, K; got {c.shape} and {p.shape}")
    if not (np.isfinite(c).all() and np.isfinite(p).all()):
        raise ValueError("predictions contain NaN or infinite coordinates")
    return np.sqrt(((p - c[None]) ** 2).sum(axis=-1))


def stability_curve(dist: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Fraction of displacements <= each threshold (`dist` already masked to what counts)."""
    d = np.sort(np.asarray(dist, dtype=np.float64).ravel())
    if d.size == 0:
        return np.full(len(thresholds), np.nan)
    return np.searchsorted(d, np.asarray(thresholds, dtype=np.float64), side="right") / d.size


def ruc(curve: np.ndarray, p_max: int | None = None) -> float:
    """Robustness Under Curve: the area under the stability curve over P = 1..Pmax by the
    trapezoidal rule, normalised by its width (Pmax - 1) to [0, 1] (like the AUC of PCK);
    the single value for Pmax = 1."""
    c = np.asarray(curve, dtype=np.float64)
    if c.size == 0 or np.isnan(c).any():
        return float("nan")
    if c.size == 1:
        return float(c[0])
    return float(np.sum((c[1:] + c[:-1]) / 2.0) / (c.size - 1))


def stability(clean: np.ndarray, perturbed: np.ndarray, valid: np.ndarray | None = None,
              scale: np.ndarray | None = None, p_max: int = P_MAX, per: str = "keypoint") -> dict:
    """R(T, T^mp) (eq. 10), stability curve and RUC of paired predictions.

    clean (N, K, 2+) predictions on the clean images; perturbed (N, K, 2+) or (M, N, K, 2+)
    on M perturbed copies (image pixels, same persons in the same order). valid (N, K) bool:
    the keypoints that count (e.g. annotated ones; default all). scale (N,): person scale in
    pixels (`person_scale` of the person box) for the normalised numbers; without it those
    are None. per: "keypoint" (default) counts each (x, x', keypoint) displacement once on the
    curve; "sample" counts each (x, x') pair once by its largest keypoint displacement.

    Returns {
      "R": eq. 10, sum over samples, copies and valid keypoints of the squared displacement
           [px^2], "R_mean": R / number of summed terms [px^2],
      "R_norm", "R_norm_mean": the same with displacements / scale [unitless],
      "curve": fraction stable at P = 1..p_max px, "RUC": its normalised area [0, 1],
      "curve_norm": fraction stable at P = 1..p_max percent of the person scale,
      "RUC_norm", "p_max", "per", "num_terms", "units": {...}}.
    """
    if per not in ("keypoint", "sample"):
        raise ValueError(f"per must be 'keypoint' or 'sample', got {per!r}")
    if not isinstance(p_max, (int, np.integer)) or p_max < 1:
        raise ValueError(f"p_max must be a positive integer, got {p_max!r}")
    d = displacements(clean, perturbed)  # (M, N, K)
    m, n, k = d.shape
    v = np.ones((n, k), bool) if valid is None else np.asarray(valid, bool)
    if v.shape != (n, k):
        raise ValueError(f"valid must be ({n}, {k}), got {v.shape}")
    vv = np.broadcast_to(v, d.shape)
    thr = np.arange(1, p_max + 1, dtype=np.float64)
    out: dict = {"p_max": int(p_max), "per": per, "num_samples": int(n), "num_copies": int(m)}
    sq = d[vv] ** 2
    out["R"] = float(sq.sum())
    out["num_terms"] = int(sq.size)
    out["R_mean"] = float(sq.mean()) if sq.size else None

    def curve_of(dist: np.ndarray) -> np.ndarray:
        if per == "keypoint":
            return stability_curve(dist[vv], thr if dist is d else thr / 100.0)
        masked = np.where(vv, dist, -np.inf).max(axis=2)  # (M, N) largest displacement
        has = v.any(axis=1)
        return stability_curve(masked[:, has], thr if dist is d else thr / 100.0)

    c = curve_of(d)
    out["curve"] = [float(x) for x in c]
    out["RUC"] = ruc(c)
    if scale is not None:
        s = np.asarray(scale, dtype=np.float64).reshape(-1)
        if s.shape != (n,):
            raise ValueError(f"scale must be ({n},), got {s.shape}")
        if not (np.isfinite(s).all() and (s > 0).all()):
            i = int(np.flatnonzero(~(np.isfinite(s) & (s > 0)))[0])
            raise ValueError(f"scale[{i}] = {s[i]} is not a positive finite person scale")
        dn = d / s[None, :, None]
        sqn = dn[vv] ** 2
        out["R_norm"] = float(sqn.sum())
        out["R_norm_mean"] = float(sqn.mean()) if sqn.size else None
        cn = curve_of(dn)
        out["curve_norm"] = [float(x) for x in cn]
        out["RUC_norm"] = ruc(cn)
    else:
        out.update(R_norm=None, R_norm_mean=None, curve_norm=None, RUC_norm=None)
    out["units"] = {
        "R": "px^2 (image pixels), sum", "R_mean": "px^2 per term",
        "R_norm": "(displacement / sqrt(box area))^2, sum", "R_norm_mean": "per term",
        "curve": "fraction with displacement <= P px, P = 1..p_max",
        "curve_norm": "fraction with displacement <= P % of sqrt(box area), P = 1..p_max",
        "RUC": "normalised area under curve, 0..1", "RUC_norm": "normalised area, 0..1",
    }
    return out


# --------------------------------------------------------------------------- heatmaps
def _top_n(h: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(M, H*W) -> the n largest values (M, n) descending and their flat indices; ties go to
    the lower raster index (row-major: y, then x)."""
    m, c = h.shape
    n = min(n, c)
    if n == c:
        idx = np.argsort(-h, axis=1, kind="stable")
    else:
        part = np.argpartition(-h, n - 1, axis=1)[:, :n]
        pv = np.take_along_axis(h, part, axis=1)
        idx = np.take_along_axis(part, np.lexsort((part, -pv), axis=1), axis=1)
        # rows where values equal to the n-th largest also lie outside the partition:
        # argpartition chose among them arbitrarily, so sort those rows fully
        ties = (h >= pv.min(axis=1, keepdims=True)).sum(axis=1) > n
        if ties.any():
            idx[ties] = np.argsort(-h[ties], axis=1, kind="stable")[:, :n]
    return np.take_along_axis(h, idx, axis=1), idx


def heatmap_peak_stats(heatmaps: np.ndarray, n: int = 64, chunk: int = 4096) -> dict:
    """D_n (eq. 11) and D_(1)(2) (eq. 12) of predicted heatmaps.

    heatmaps: (N, K, H, W) (or (M, H, W)) array-like (numpy or a CPU torch tensor).
    D_n = mean over heatmaps of sum_{i=2..n} ||Pos(r^(i)) - Pos(r^(1))||^2, with r^(i) the
    i-th largest value and Pos its (x, y) cell, in heatmap cells^2 (lower = more
    concentrated). D_(1)(2) = mean over heatmaps of r^(1) - r^(2) (heatmap value units;
    higher = more distinct peak). Ties are ordered by raster index.
    """
    h = np.asarray(heatmaps, dtype=np.float64)
    if h.ndim < 3:
        raise ValueError(f"heatmaps must be (..., H, W), got {h.shape}")
    hh, ww = h.shape[-2:]
    flat = h.reshape(-1, hh * ww)
    if flat.shape[0] == 0 or hh * ww < 2:
        raise ValueError(f"need at least one heatmap of two or more cells, got {h.shape}")
    if not np.isfinite(flat).all():
        raise ValueError("heatmaps contain NaN or infinite values")
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    dn_sum = 0.0
    d12_sum = 0.0
    for s in range(0, flat.shape[0], chunk):
        vals, idx = _top_n(flat[s:s + chunk], n)
        x = (idx % ww).astype(np.float64)
        y = (idx // ww).astype(np.float64)
        dn_sum += float((((x[:, 1:] - x[:, :1]) ** 2) + ((y[:, 1:] - y[:, :1]) ** 2)).sum())
        d12_sum += float((vals[:, 0] - vals[:, 1]).sum())
    m = flat.shape[0]
    return {"D_n": dn_sum / m, "n": int(min(n, hh * ww)), "D_12": d12_sum / m,
            "num_heatmaps": int(m),
            "units": {"D_n": "heatmap cells^2", "D_12": "heatmap value"}}


def stability_metrics(clean: np.ndarray, perturbed: np.ndarray, boxes: np.ndarray | None = None,
                      valid: np.ndarray | None = None, p_max: int = P_MAX) -> dict:
    """`stability` for paired top-down predictions of the same boxes, JSON-ready.

    clean / perturbed (N, K, 2+) image pixels; boxes (N, 4) xywh of the person boxes (their
    sqrt(w * h) is the person scale of the normalised numbers). Undefined values (no pairs)
    are None instead of NaN.
    """
    c = np.asarray(clean, dtype=np.float64)
    p = np.asarray(perturbed, dtype=np.float64)
    if c.size == 0 or p.size == 0:
        return {"R": 0.0, "R_mean": None, "R_norm": None, "R_norm_mean": None, "curve": None,
                "RUC": None, "curve_norm": None, "RUC_norm": None, "p_max": int(p_max),
                "per": "keypoint", "num_terms": 0, "num_samples": 0, "num_copies": 0}
    scale = None
    if boxes is not None:
        scale = person_scale(boxes)
        if not (scale > 0).all():
            raise ValueError(f"box {int(np.flatnonzero(~(scale > 0))[0])} has zero area")
    out = stability(c, p, valid=valid, scale=scale, p_max=p_max)
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in out.items()}
