"""Vectorised re-implementation of pycocotools' keypoint COCOeval (evaluate, accumulate,
summarize for iouType 'keypoints'), bit-for-bit equal to it on the same inputs.

Every floating-point expression is evaluated in the same order and dtype as pycocotools
(`computeOks`, `evaluateImg`, `accumulate`, `summarize`), so OKS values, matches, precision and
recall are identical, not merely close; tests/metrics compare it with pycocotools, xtcocotools
and faster-coco-eval. The greedy matching runs in numba; everything with rounding in numpy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

# pycocotools Params.setKpParams
IOU_THRS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
REC_THRS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
MAX_DETS = 20
AREA_RNG = np.array([[0 ** 2, 1e5 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]], dtype=np.float64)
AREA_LBL = ("all", "medium", "large")
_PAIR_CHUNK = 1 << 21  # OKS elements (pairs x K) per numpy block


@dataclass
class NativeGT:
    """Ground truth as arrays, annotations grouped by image (file order inside an image).

    img_start (I+1,) offsets into the annotation arrays for the I sorted image ids;
    keypoints (G, K, 3) float64; area (G,) float64 (the OKS / area-range area after the
    use_area choice); bbox (G, 4); ignore (G,) bool (crowd or no labelled keypoint);
    crowd (G,) bool; num_vis (G,) int64 (labelled keypoints, v > 0).
    """

    image_ids: np.ndarray
    img_start: np.ndarray
    keypoints: np.ndarray
    area: np.ndarray
    bbox: np.ndarray
    ignore: np.ndarray
    crowd: np.ndarray
    num_vis: np.ndarray
    sigmas: np.ndarray


@numba.njit(cache=True, nogil=True)
def _oks_exponents(gkp, gbox, garea, dkp, g_idx, d_idx, variances, out):  # pragma: no cover
    """pycocotools computeOks exponents for pairs (g_idx[p], d_idx[p]), operation by
    operation (IEEE-exact, no fast-math): out[p] holds e of the GT's labelled keypoints in
    keypoint order (all K of them, with the box distance, for a GT without labels)."""
    eps = np.spacing(1.0)
    k = gkp.shape[1]
    for p in range(len(g_idx)):
        g = g_idx[p]
        d = d_idx[p]
        s = garea[g] + eps
        c = 0
        labelled = False
        for j in range(k):
            if gkp[g, j, 2] > 0:
                labelled = True
                break
        if labelled:
            for j in range(k):
                if gkp[g, j, 2] > 0:
                    dx = dkp[d, j, 0] - gkp[g, j, 0]
                    dy = dkp[d, j, 1] - gkp[g, j, 1]
                    out[p, c] = (dx * dx + dy * dy) / variances[j] / s / 2
                    c += 1
        else:
            x0 = gbox[g, 0] - gbox[g, 2]
            x1 = gbox[g, 0] + gbox[g, 2] * 2
            y0 = gbox[g, 1] - gbox[g, 3]
            y1 = gbox[g, 1] + gbox[g, 3] * 2
            for j in range(k):
                xd = dkp[d, j, 0]
                yd = dkp[d, j, 1]
                dx = max(0.0, x0 - xd) + max(0.0, xd - x1)
                dy = max(0.0, y0 - yd) + max(0.0, yd - y1)
                out[p, j] = (dx * dx + dy * dy) / variances[j] / s / 2


def _oks_pairs(gt: NativeGT, g_idx: np.ndarray, dt_kp: np.ndarray, d_idx: np.ndarray
               ) -> np.ndarray:
    """pycocotools computeOks for the pairs (d_idx[p], g_idx[p]); returns (P,) float64.

    Exponents in numba, exp and the sum in numpy on rows holding exactly the terms
    pycocotools sums, so each value is bit-identical to `np.sum(np.exp(-e)) / e.shape[0]`."""
    out = np.empty(len(g_idx), dtype=np.float64)
    if len(g_idx) == 0:
        return out
    variances = (gt.sigmas * 2) ** 2
    k = len(gt.sigmas)
    nvis = gt.num_vis[g_idx]
    nterm = np.where(nvis > 0, nvis, k)
    for kv in np.unique(nterm):
        sel = np.flatnonzero(nterm == kv)
        step = max(1, _PAIR_CHUNK // int(kv))
        for s in range(0, len(sel), step):
            part = sel[s:s + step]
            e = np.empty((len(part), int(kv)))
            _oks_exponents(gt.keypoints, gt.bbox, gt.area, dt_kp, g_idx[part], d_idx[part],
                           variances, e)
            np.negative(e, out=e)
            np.exp(e, out=e)
            out[part] = np.sum(e, axis=1) / e.shape[1]
    return out


@numba.njit(cache=True, nogil=True)
def _match(gt_start, dt_start, oks_start, oks, g_ignore, g_crowd, g_area, d_area, area_rng,
           thrs, pos, matched, dt_ig, npig):  # pragma: no cover - compiled
    """pycocotools evaluateImg for every image and area range (maxDet already applied).

    matched / dt_ig: (A, T, D) bool outputs, detection j of the image-major list stored at
    column pos[j] (its rank in accumulate's global score order); npig: (A,) int64 output
    (non-ignored GT count).
    oks[oks_start[i] + d * G_i + g] is the OKS of the image's d-th detection (score order)
    and g-th annotation (file order).
    """
    n_img = len(gt_start) - 1
    n_area = area_rng.shape[0]
    n_thr = len(thrs)
    for a in range(n_area):
        lo = area_rng[a, 0]
        hi = area_rng[a, 1]
        for i in range(n_img):
            g0 = gt_start[i]
            ng = gt_start[i + 1] - g0
            d0 = dt_start[i]
            nd = dt_start[i + 1] - d0
            # gt sorted by _ignore (stable): regular ones first, ignored last
            gorder = np.empty(ng, np.int64)
            gig = np.empty(ng, np.bool_)
            c = 0
            for pass_ig in range(2):
                for j in range(ng):
                    ar = g_area[g0 + j]
                    ig = g_ignore[g0 + j] or ar < lo or ar > hi
                    if ig == (pass_ig == 1):
                        gorder[c] = j
                        gig[c] = ig
                        c += 1
            for j in range(ng):
                if not gig[j]:
                    npig[a] += 1
            if ng > 0 and nd > 0:
                base = oks_start[i]
                for t in range(n_thr):
                    gtm = np.zeros(ng, np.bool_)
                    for d in range(nd):
                        iou = min(thrs[t], 1 - 1e-10)
                        m = -1
                        for jj in range(ng):
                            g = gorder[jj]
                            if gtm[jj] and not g_crowd[g0 + g]:
                                continue
                            if m > -1 and not gig[m] and gig[jj]:
                                break
                            v = oks[base + d * ng + g]
                            if v < iou:
                                continue
                            iou = v
                            m = jj
                        if m == -1:
                            continue
                        dt_ig[a, t, pos[d0 + d]] = gig[m]
                        matched[a, t, pos[d0 + d]] = True
                        gtm[m] = True
            for d in range(nd):
                ar = d_area[d0 + d]
                if ar < lo or ar > hi:
                    for t in range(n_thr):
                        if not matched[a, t, pos[d0 + d]]:
                            dt_ig[a, t, pos[d0 + d]] = True


@numba.njit(cache=True, nogil=True)
def _accumulate(matched, dt_ig, npig, rec_thrs, precision, recall):  # pragma: no cover
    """pycocotools accumulate() for one category and maxDet, detections already in global
    score order: precision (T, R, A) and recall (T, A) outputs (left at -1 where npig = 0).

    Same arithmetic as the reference: rc = tp / npig, pr = tp / (fp + tp + eps), precision
    made monotone from the right, sampled at the first rc >= each recall threshold."""
    n_area, n_thr, nd = matched.shape
    eps = np.spacing(1.0)
    rc = np.empty(nd)
    pr = np.empty(nd)
    for a in range(n_area):
        if npig[a] == 0:
            continue
        for t in range(n_thr):
            tp = 0.0
            fp = 0.0
            for d in range(nd):
                if not dt_ig[a, t, d]:
                    if matched[a, t, d]:
                        tp += 1.0
                    else:
                        fp += 1.0
                rc[d] = tp / npig[a]
                pr[d] = tp / (fp + tp + eps)
            recall[t, a] = rc[nd - 1] if nd else 0.0
            for d in range(nd - 1, 0, -1):
                if pr[d] > pr[d - 1]:
                    pr[d - 1] = pr[d]
            for r in range(len(rec_thrs)):
                # searchsorted(rc, thr, side='left'): first d with rc[d] >= thr
                lo = 0
                hi = nd
                while lo < hi:
                    mid = (lo + hi) // 2
                    if rc[mid] < rec_thrs[r]:
                        lo = mid + 1
                    else:
                        hi = mid
                precision[t, r, a] = pr[lo] if lo < nd else 0.0


def evaluate(gt: NativeGT, img_idx: np.ndarray, keypoints: np.ndarray, scores: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval keypoints evaluate + accumulate.

    img_idx (D,) index into gt.image_ids; keypoints (D, K, 3) float64; scores (D,) float64
    (detection ids are 1..D in this order, as loadRes assigns them).
    Returns precision (T, R, 1, A, 1) and recall (T, 1, A, 1) exactly as pycocotools.
    """
    n_img = len(gt.image_ids)
    d_total = len(scores)
    # per image: score descending, stable (mergesort of -score), then maxDets
    order = np.lexsort((-scores, img_idx))
    counts = np.bincount(img_idx, minlength=n_img)
    start_all = np.zeros(n_img + 1, np.int64)
    np.cumsum(counts, out=start_all[1:])
    rank = np.arange(d_total) - start_all[img_idx[order]]
    order = order[rank < MAX_DETS]
    d_img = img_idx[order]
    d_score = scores[order]
    # loadRes: area of the keypoint extent (all K points)
    x = keypoints[order, :, 0]
    y = keypoints[order, :, 1]
    d_area = (x.max(1) - x.min(1)) * (y.max(1) - y.min(1)) if len(order) else np.zeros(0)
    nd = np.bincount(d_img, minlength=n_img)
    dt_start = np.zeros(n_img + 1, np.int64)
    np.cumsum(nd, out=dt_start[1:])
    ng = np.diff(gt.img_start)
    npairs = nd * ng
    oks_start = np.zeros(n_img + 1, np.int64)
    np.cumsum(npairs, out=oks_start[1:])
    p_total = int(oks_start[-1])
    pair_img = np.repeat(np.arange(n_img), npairs)
    within = np.arange(p_total) - oks_start[pair_img]
    ngp = np.maximum(ng[pair_img], 1)
    d_idx = dt_start[pair_img] + within // ngp
    g_idx = gt.img_start[pair_img] + within % ngp
    oks = _oks_pairs(gt, g_idx, keypoints, order[d_idx])

    # accumulate's order: all images' kept detections by score, stable
    inds = np.argsort(-d_score, kind='mergesort')
    pos = np.empty(len(inds), np.int64)
    pos[inds] = np.arange(len(inds))
    n_thr, n_rec, n_area = len(IOU_THRS), len(REC_THRS), len(AREA_RNG)
    dn = len(d_score)
    matched = np.zeros((n_area, n_thr, dn), np.bool_)
    dt_ig = np.zeros((n_area, n_thr, dn), np.bool_)
    npig = np.zeros(n_area, np.int64)
    _match(gt.img_start.astype(np.int64), dt_start, oks_start, oks, gt.ignore, gt.crowd,
           gt.area, d_area, AREA_RNG, IOU_THRS, pos, matched, dt_ig, npig)
    prec = -np.ones((n_thr, n_rec, n_area))
    rec = -np.ones((n_thr, n_area))
    _accumulate(matched, dt_ig, npig, REC_THRS, prec, rec)
    return prec[:, :, None, :, None].copy(), rec[:, None, :, None].copy()


def summarize(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """pycocotools summarize() for keypoints: the 10 stats (AP, AP50, AP75, APM, APL, AR, AR50,
    AR75, ARM, ARL), -1 where undefined."""

    def one(ap: bool, iou_thr: float | None = None, area: str = "all") -> float:
        aind = [i for i, lbl in enumerate(AREA_LBL) if lbl == area]
        mind = [0]
        if ap:
            s = precision
            if iou_thr is not None:
                s = s[np.where(iou_thr == IOU_THRS)[0]]
            s = s[:, :, :, aind, mind]
        else:
            s = recall
            if iou_thr is not None:
                s = s[np.where(iou_thr == IOU_THRS)[0]]
            s = s[:, :, aind, mind]
        return -1.0 if len(s[s > -1]) == 0 else float(np.mean(s[s > -1]))

    return np.array([
        one(True), one(True, .5), one(True, .75), one(True, area="medium"),
        one(True, area="large"), one(False), one(False, .5), one(False, .75),
        one(False, area="medium"), one(False, area="large")])
