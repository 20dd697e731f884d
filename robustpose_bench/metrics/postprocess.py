"""Top-down post-processing before COCO AP: rescoring and OKS-NMS, vectorised over all images.

Follows the HRNet / SimpleBaseline reference (PROTOCOL.md section 3; HRNet lib/dataset/coco.py
`evaluate` and lib/nms/nms.py `oks_nms` / `oks_iou`), with identical results: the same
keep-lists, in the same order, with bit-identical scores and OKS values.
"""
from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from robustpose_bench.datasets.meta import COCO_SIGMAS

VIS_THR = 0.2  # HRNet TEST.IN_VIS_THRE
OKS_THR = 0.9  # HRNet TEST.OKS_THRE
_CHUNK = 1 << 21  # OKS elements (pairs x K) per numpy block


def _check(keypoints: np.ndarray, name: str = "keypoints") -> np.ndarray:
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[2] != 3:
        raise ValueError(f"{name} must be (N, K, 3) (x, y, confidence), got {kp.shape}")
    if not np.isfinite(kp).all():
        i = int(np.flatnonzero(~np.isfinite(kp).all(axis=(1, 2)))[0])
        raise ValueError(f"{name}[{i}] has a NaN or infinite value")
    return kp


def _vector(x: np.ndarray | Sequence[float], n: int, name: str) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64).reshape(-1)
    if len(v) != n:
        raise ValueError(f"{name}: {len(v)} values for {n} detections")
    if not np.isfinite(v).all():
        raise ValueError(f"{name}[{int(np.flatnonzero(~np.isfinite(v))[0])}] is NaN or infinite")
    return v


def areas_from_scales(scales: np.ndarray) -> np.ndarray:
    """HRNet's OKS-NMS area: (scale * 200).prod() per detection; scales (N, 2) in units of
    200 px (the padded, 1.25-enlarged top-down box) -> (N,) square image pixels."""
    s = np.asarray(scales, dtype=np.float64).reshape(-1, 2)
    return np.prod(s * 200, axis=1)


def rescore(keypoints: np.ndarray, box_scores: np.ndarray, vis_thr: float = VIS_THR) -> np.ndarray:
    """HRNet rescoring: box score x mean of the keypoint confidences above `vis_thr`
    (0 when none is above). keypoints (N, K, 3); box_scores (N,) -> (N,) float64.

    The confidences are summed joint by joint in keypoint order, as the reference loop does,
    so the scores are bit-identical to it."""
    kp = _check(keypoints)
    bs = _vector(box_scores, len(kp), "box_scores")
    conf = kp[:, :, 2]
    valid = conf > vis_thr
    acc = np.zeros(len(kp))
    for j in range(kp.shape[1]):
        acc = acc + np.where(valid[:, j], conf[:, j], 0.0)
    cnt = valid.sum(axis=1)
    mean = np.where(cnt > 0, acc / np.maximum(cnt, 1), 0.0)
    return mean * bs


@numba.njit(cache=True, nogil=True)
def _pair_e(x, y, areas, gi, di, variances, out):  # pragma: no cover - compiled
    """The OKS exponents e (P, K) of HRNet's oks_iou, operation by operation:
    (dx**2 + dy**2) / vars / ((a_g + a_d) / 2 + eps) / 2 with dx = x_d - x_g."""
    eps = np.spacing(1.0)
    for p in range(len(gi)):
        g = gi[p]
        d = di[p]
        s = (areas[g] + areas[d]) / 2 + eps
        for k in range(x.shape[1]):
            dx = x[d, k] - x[g, k]
            dy = y[d, k] - y[g, k]
            out[p, k] = (dx * dx + dy * dy) / variances[k] / s / 2


@numba.njit(cache=True, nogil=True)
def _far_apart(ext, areas, gi, di, c, max_var, out):  # pragma: no cover - compiled
    """out[p] = True when pair p's OKS is provably below exp(-c): the keypoint extents
    ext = (xmin, xmax, ymin, ymax) of the two detections are so far apart that every
    keypoint's exponent e_k >= gap^2 / max(var) / (2 s) exceeds c."""
    eps = np.spacing(1.0)
    for p in range(len(gi)):
        g = gi[p]
        d = di[p]
        gx = max(0.0, ext[d, 0] - ext[g, 1], ext[g, 0] - ext[d, 1])
        gy = max(0.0, ext[d, 2] - ext[g, 3], ext[g, 2] - ext[d, 3])
        s = (areas[g] + areas[d]) / 2 + eps
        out[p] = gx * gx + gy * gy > c * max_var * 2 * s


def _pair_oks(kp: np.ndarray, areas: np.ndarray, gi: np.ndarray, di: np.ndarray,
              variances: np.ndarray, thr: float) -> np.ndarray:
    """HRNet oks_iou(g, d) for pairs (gi[p], di[p]): g = the kept detection.

    The exponent is computed in numba (IEEE-exact, no fast-math), exp and the sum in numpy,
    so every value equals the reference's `np.sum(np.exp(-e)) / K` bit for bit. Pairs whose
    OKS is provably <= thr (with a wide margin) are not computed and get 0: the greedy only
    asks `oks <= thr`, and the reference answers yes for them too."""
    out = np.zeros(len(gi))
    k = kp.shape[1]
    x = np.ascontiguousarray(kp[:, :, 0])
    y = np.ascontiguousarray(kp[:, :, 1])
    if 0.0 < thr < 1.0 and len(gi):
        ext = np.stack([x.min(1), x.max(1), y.min(1), y.max(1)], axis=1)
        far = np.empty(len(gi), np.bool_)
        # exp(-c) = thr ** 1.01 < thr, a margin far above any rounding error
        _far_apart(ext, areas, gi, di, -np.log(thr) * 1.01, float(variances.max()), far)
        need = np.flatnonzero(~far)
    else:
        need = np.arange(len(gi))
    step = max(1, _CHUNK // k)
    e = np.empty((min(step, len(need)), k))
    for s in range(0, len(need), step):
        sel = need[s:s + step]
        blk = e[:len(sel)]
        _pair_e(x, y, areas, gi[sel], di[sel], variances, blk)
        np.negative(blk, out=blk)
        np.exp(blk, out=blk)
        out[sel] = np.sum(blk, axis=1) / k
    return out


@numba.njit(cache=True, nogil=True)
def _greedy(order, img_start, pair_start, oks, thr, keep_out):  # pragma: no cover - compiled
    """Greedy OKS-NMS per image over `order` (descending score per image).

    oks[pair_start[i] + tri(p, q)] = OKS(order[p], order[q]) for p < q in image i.
    Writes kept detection indices to keep_out in output order; returns their count.
    """
    nk = 0
    for i in range(len(img_start) - 1):
        s = img_start[i]
        n = img_start[i + 1] - s
        base = pair_start[i]
        alive = np.ones(n, np.bool_)
        for p in range(n):
            if not alive[p]:
                continue
            keep_out[nk] = order[s + p]
            nk += 1
            row = base + p * n - (p * (p + 1)) // 2 - p - 1
            for q in range(p + 1, n):
                if alive[q] and not (oks[row + q] <= thr):
                    alive[q] = False
    return nk


def oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray, image_ids: np.ndarray,
            thr: float = OKS_THR, sigmas: np.ndarray | Sequence[float] | None = None) -> np.ndarray:
    """OKS-NMS of every image at once (HRNet `oks_nms` per image, `in_vis_thre` unused).

    keypoints (N, K, 3) image pixels; scores (N,) (already rescored); areas (N,) square pixels
    (see `areas_from_scales`); image_ids (N,) int. A detection is suppressed when its OKS with
    a kept, higher-ranked one of the same image is > thr. Per image the ranking is the
    reference's `scores.argsort()[::-1]` (so ties break exactly as there).

    Returns kept indices into the inputs: images in order of first appearance, inside an
    image in keep order (descending score) - the order the reference writes results in.
    """
    kp = _check(keypoints)
    n = len(kp)
    sc = _vector(scores, n, "scores")
    ar = _vector(areas, n, "areas")
    ids = np.asarray(image_ids).reshape(-1)
    if len(ids) != n:
        raise ValueError(f"image_ids: {len(ids)} values for {n} detections")
    if n == 0:
        return np.zeros(0, np.int64)
    sig = COCO_SIGMAS if sigmas is None else np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if len(sig) != kp.shape[1]:
        raise ValueError(f"{len(sig)} OKS sigmas for {kp.shape[1]} keypoints")
    variances = (sig * 2) ** 2
    # group by image in order of first appearance (HRNet's defaultdict order)
    _, first, inv = np.unique(ids, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    appear = np.argsort(np.argsort(first, kind="stable"), kind="stable")[inv]
    # descending score inside each image; ties fixed below
    order = np.lexsort((-sc, appear))
    counts = np.bincount(appear)
    img_start = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=img_start[1:])
    s_sorted = sc[order]
    same = (appear[order][1:] == appear[order][:-1]) & (s_sorted[1:] == s_sorted[:-1])
    if same.any():
        for img in np.unique(appear[order][1:][same]):
            a, b = img_start[img], img_start[img + 1]
            members = np.sort(order[a:b])  # input order inside the image
            order[a:b] = members[sc[members].argsort()[::-1]]
    # all pairs p < q inside each image, in that order
    tri = counts * (counts - 1) // 2
    pair_start = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(tri, out=pair_start[1:])
    gi = np.empty(pair_start[-1], np.int64)
    di = np.empty(pair_start[-1], np.int64)
    for m in np.unique(counts[counts > 1]):
        imgs = np.flatnonzero(counts == m)
        p, q = np.triu_indices(m, 1)  # row-major: the layout _greedy reads
        pos = pair_start[imgs][:, None] + np.arange(len(p))[None, :]
        gi[pos] = order[img_start[imgs][:, None] + p[None, :]]
        di[pos] = order[img_start[imgs][:, None] + q[None, :]]
    oks = _pair_oks(kp, ar, gi, di, variances, float(thr))
    keep = np.empty(n, np.int64)
    nk = _greedy(order, img_start, pair_start, oks, float(thr), keep)
    return keep[:nk]


def rescore_and_nms(keypoints: np.ndarray, box_scores: np.ndarray, areas: np.ndarray,
                    image_ids: np.ndarray, sigmas: np.ndarray | Sequence[float] | None = None,
                    vis_thr: float = VIS_THR, oks_thr: float = OKS_THR, nms: bool = True
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The reference top-down post-processing: rescoring, then OKS-NMS per image.

    keypoints (N, K, 3): x, y image pixels (0-based), confidence; box_scores (N,) detector
    scores; areas (N,) (scale * 200).prod() of each box (`areas_from_scales`); image_ids (N,).
    Returns (keep, scores): keep (M,) indices into the inputs in the reference's output order
    (without NMS: images grouped in order of first appearance, input order inside an image);
    scores (N,) the rescored scores of all inputs.
    """
    sc = rescore(keypoints, box_scores, vis_thr)
    if nms:
        keep = oks_nms(keypoints, sc, areas, image_ids, oks_thr, sigmas)
    else:
        ids = np.asarray(image_ids).reshape(-1)
        _, first, inv = np.unique(ids, return_index=True, return_inverse=True)
        appear = np.argsort(np.argsort(first, kind="stable"), kind="stable")[inv.reshape(-1)]
        keep = np.argsort(appear, kind="stable")
    return keep, sc


def to_coco_results(image_ids: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                    category_id: int = 1) -> list[dict]:
    """COCO keypoint results dicts (the reference's results json) from arrays."""
    kp = np.asarray(keypoints, dtype=np.float64)
    flat = kp.reshape(len(kp), -1).tolist()
    return [{"image_id": int(i), "category_id": int(category_id), "keypoints": f, "score": float(s)}
            for i, f, s in zip(np.asarray(image_ids).tolist(), flat,
                                  np.asarray(scores).tolist(), strict=True)]
