"""Inputs of the COCO keypoint evaluation: the ground truth normalised once (`load_gt` ->
`KeypointGT`) and result sets validated into arrays (`check_results` / `check_arrays` ->
`KeypointResults`), with one-line errors naming the file, record and field.

Follows pycocotools COCOeval (iouType 'keypoints') and xtcocotools' `use_area` rule
(PROTOCOL.md section 2); docs/metrics.md.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robustpose_bench.datasets.coco import validate_records
from robustpose_bench.datasets.errors import AnnotationError
from robustpose_bench.datasets.meta import COCO_SIGMAS, meta_from_category
from robustpose_bench.metrics import _cocoeval_native as native

log = logging.getLogger(__name__)

NAN_POLICIES = ("error", "drop")
# xtcocotools: without use_area, the OKS scale and the area buckets use 0.53 * w * h.
NO_AREA_FACTOR = 0.53


# --------------------------------------------------------------------------- ground truth
@dataclass
class KeypointGT:
    """Ground truth prepared once and scored many times (one per condition).

    coco: the normalised COCO dict handed to the official backends (only the keypoint
    category; annotation ids renumbered 1..G in file order; num_keypoints recomputed from the
    keypoints; `area` replaced by 0.53*w*h when use_area is False). arrays: the same content
    for the native backend. sigmas: (K,) OKS sigmas. name: where it came from (for messages).
    """

    coco: dict
    arrays: native.NativeGT
    sigmas: np.ndarray
    use_area: bool
    category_id: int
    name: str
    source: Mapping = field(default_factory=dict, repr=False)  # the input, for re-loading
    _image_index: dict[int, int] = field(default_factory=dict, repr=False)
    _backend_cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def num_keypoints(self) -> int:
        return len(self.sigmas)

    def image_index(self) -> dict[int, int]:
        """image id -> row in the sorted image id list."""
        if not self._image_index:
            self._image_index = {int(i): n for n, i in enumerate(self.arrays.image_ids)}
        return self._image_index


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _all_numbers(seq: Any) -> bool:
    if isinstance(seq, np.ndarray):
        return seq.dtype.kind in "iuf"
    return all(type(v) in (int, float) or isinstance(v, (np.integer, np.floating)) for v in seq)


def load_gt(gt: str | Path | Mapping | Any, sigmas: Sequence[float] | None = None,
            use_area: bool = True) -> KeypointGT:
    """Read and normalise keypoint ground truth.

    gt: a COCO keypoint json path, the loaded dict, or an object with a `.dataset` dict (a
    pycocotools COCO). The keypoint category is the first category that declares `keypoints`
    (the only category with id 1 if none does); annotations of other categories are ignored.
    sigmas: (K,) OKS sigmas; default the COCO ones (K must then be 17). use_area: False
    applies xtcocotools' rule area := 0.53 * w * h of the GT box for the OKS scale and the
    area ranges (data sets without segmentation areas, e.g. CrowdPose or boxes-only files).
    """
    if isinstance(gt, KeypointGT):
        same_sigmas = sigmas is None or np.array_equal(np.asarray(sigmas, float), gt.sigmas)
        if same_sigmas and use_area == gt.use_area:
            return gt
        return load_gt(gt.source, gt.sigmas if sigmas is None else sigmas, use_area)
    name = "<memory>"
    if isinstance(gt, (str, Path)):
        from robustpose_bench.datasets._jsonio import read_json

        name = str(gt)
        data = read_json(gt)
    elif isinstance(gt, Mapping):
        data = gt
    elif isinstance(getattr(gt, "dataset", None), Mapping):
        data = gt.dataset
    else:
        raise TypeError(f"ground truth must be a path, a COCO dict or a COCO object, got "
                        f"{type(gt).__name__}")
    if not isinstance(data, Mapping):
        raise AnnotationError(name, f"expected a COCO object at top level, got {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise AnnotationError(name, "missing list" if key not in data else "not a list",
                                  field=key)
    cats = [c for c in data["categories"] if isinstance(c, Mapping)]
    kcats = [c for c in cats if c.get("keypoints")]
    if kcats:
        cat = kcats[0]
    elif len(cats) == 1:
        cat = cats[0]
    else:
        raise AnnotationError(name, "no category declares `keypoints`", field="categories")
    cat_id = cat.get("id", 1)
    k_decl = len(cat.get("keypoints") or ())

    if not isinstance(cat_id, int) or isinstance(cat_id, bool):
        raise AnnotationError(name, f"expected an integer id, got {cat_id!r:.40}", "categories",
                              None, "id")
    anns_in = [(i, a) for i, a in enumerate(data["annotations"])
               if isinstance(a, Mapping) and a.get("category_id") == cat_id]
    k = None
    if sigmas is not None:
        k = len(sigmas)
    elif k_decl:
        k = k_decl
    elif anns_in and isinstance(anns_in[0][1].get("keypoints"), list):
        k = len(anns_in[0][1]["keypoints"]) // 3
    if k is None:
        k = 17
    if sigmas is None:
        known = None
        if k_decl:
            known = meta_from_category("gt", cat).sigmas  # COCO / CrowdPose names
        if known is not None and len(known) == k:
            sig = np.asarray(known, dtype=np.float64).copy()
        elif k == 17:
            if k_decl:
                log.warning("%s: unknown keypoint names, using the COCO OKS sigmas", name)
            sig = COCO_SIGMAS.copy()
        else:
            raise ValueError(f"{name}: {k} keypoints of an unknown layout and no OKS sigmas "
                             "given (the COCO sigmas are for 17 keypoints); pass sigmas")
    else:
        sig = np.asarray(sigmas, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(sig)) or np.any(sig <= 0):
            raise ValueError(f"OKS sigmas must be finite and positive, got {sig.tolist()}")
    if k_decl and k_decl != k:
        raise ValueError(f"{name}: the category declares {k_decl} keypoints but {k} OKS sigmas "
                         "were given")

    # the record rules of every ground-truth reader (generate's too): datasets.coco
    validate_records(data, name, k, cat_id)
    images = [{key: img[key] for key in ("id", "width", "height", "file_name") if key in img}
              for img in data["images"]]
    anns = []
    mismatch = None
    for new_id, (i, a) in enumerate(anns_in, start=1):
        iid, bbox = a["image_id"], a["bbox"]
        crowd = bool(a.get("iscrowd", 0))
        kps = a.get("keypoints") or [0] * (3 * k)  # a crowd region may have none
        nvis = sum(1 for v in kps[2::3] if v > 0)
        if "num_keypoints" in a and a["num_keypoints"] != nvis and mismatch is None:
            mismatch = (i, a["num_keypoints"], nvis)
        if use_area:
            if "area" not in a:
                raise AnnotationError(name, "missing field (use use_area=False / --no-use-area "
                                            "for files without areas)", "annotations", i, "area")
            area = a["area"]
        else:
            area = bbox[2] * bbox[3] * NO_AREA_FACTOR
        anns.append({"id": new_id, "image_id": int(iid), "category_id": cat_id,
                     "bbox": list(bbox), "area": area, "iscrowd": int(crowd),
                     "num_keypoints": nvis, "keypoints": list(kps)})
    if mismatch is not None:
        log.warning("%s: annotations[%d].num_keypoints is %s but %d keypoints are labelled; the "
                    "labelled count (v > 0) decides which persons are ignored (as xtcocotools)",
                    name, mismatch[0], mismatch[1], mismatch[2])
    coco = {"images": images, "annotations": anns,
            "categories": [{k2: v for k2, v in cat.items()} | {"id": cat_id}]}
    return KeypointGT(coco=coco, arrays=_native_gt(coco, sig), sigmas=sig, use_area=use_area,
                      category_id=cat_id, name=name, source=data)


def _native_gt(coco: dict, sigmas: np.ndarray) -> native.NativeGT:
    image_ids = np.unique(np.array([im["id"] for im in coco["images"]], dtype=np.int64))
    k = len(sigmas)
    anns = coco["annotations"]
    idx = {int(i): n for n, i in enumerate(image_ids)}
    img = np.array([idx[a["image_id"]] for a in anns], dtype=np.int64)
    order = np.argsort(img, kind="stable")
    kp = np.array([a["keypoints"] for a in anns], dtype=np.float64).reshape(-1, k, 3)[order]
    bbox = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)[order]
    area = np.array([a["area"] for a in anns], dtype=np.float64)[order]
    crowd = np.array([bool(a["iscrowd"]) for a in anns], dtype=bool)[order]
    nvis = (kp[:, :, 2] > 0).sum(1).astype(np.int64)
    start = np.zeros(len(image_ids) + 1, np.int64)
    np.cumsum(np.bincount(img, minlength=len(image_ids)), out=start[1:])
    return native.NativeGT(image_ids=image_ids, img_start=start, keypoints=kp, area=area,
                           bbox=bbox, ignore=crowd | (nvis == 0), crowd=crowd, num_vis=nvis,
                           sigmas=sigmas)


# --------------------------------------------------------------------------- results
@dataclass
class KeypointResults:
    """Validated results as arrays: image_ids (D,) int64, keypoints (D, K, 3) float64 (x, y
    image pixels, confidence), scores (D,) float64. Order = submission order."""

    image_ids: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def _read_results(results: str | Path | Sequence[Mapping]) -> tuple[list, str]:
    if isinstance(results, (str, Path)):
        from robustpose_bench.datasets._jsonio import read_json

        return read_json(results), str(results)
    return results, "<results>"


def check_results(results: str | Path | Sequence[Mapping] | KeypointResults, gt: KeypointGT,
                  nan_policy: str = "error") -> KeypointResults:
    """Validate COCO keypoint results (`image_id, category_id, keypoints, score` dicts).

    Raises AnnotationError (a ValueError) naming the first offending record and field for:
    a record that is not an object, an image id not in the ground truth, another category,
    a keypoint list whose length is not 3*K, non-numeric values, NaN/inf coordinates,
    confidences or scores (unless nan_policy="drop": such records are dropped with a warning),
    negative scores, and duplicate submissions (same image, category and keypoints as an
    earlier record). An empty list is valid (AP = 0) and logged as a warning.
    """
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
    if isinstance(results, KeypointResults):
        return check_arrays(results.image_ids, results.keypoints, results.scores, gt, nan_policy)
    data, src = _read_results(results)
    if not isinstance(data, (list, tuple)):
        raise AnnotationError(src, f"expected a json list of results, got {type(data).__name__}")
    if not data:
        log.warning("%s: the result list is empty: every score is 0 (no prediction was "
                    "submitted)", src)
    k = gt.num_keypoints
    n = len(data)
    ids = np.zeros(n, np.int64)
    scores = np.zeros(n, np.float64)
    kps = np.zeros((n, 3 * k), np.float64)
    known = gt.image_index()
    for i, r in enumerate(data):
        if not isinstance(r, Mapping):
            raise AnnotationError(src, f"expected an object, got {type(r).__name__}", "results", i)
        for key in ("image_id", "category_id", "keypoints", "score"):
            if key not in r:
                raise AnnotationError(src, "missing field", "results", i, key)
        iid = r["image_id"]
        if not isinstance(iid, (int, np.integer)) or isinstance(iid, bool):
            raise AnnotationError(src, f"expected an integer, got {iid!r:.40}", "results", i,
                                  "image_id")
        if int(iid) not in known:
            raise AnnotationError(src, f"image_id {iid} is not in the ground truth {gt.name}",
                                  "results", i, "image_id")
        if r["category_id"] != gt.category_id:
            raise AnnotationError(src, f"category_id {r['category_id']!r} is not the keypoint "
                                       f"category {gt.category_id}", "results", i, "category_id")
        kp = r["keypoints"]
        if not isinstance(kp, (list, tuple, np.ndarray)) or len(kp) != 3 * k:
            got = len(kp) if isinstance(kp, (list, tuple, np.ndarray)) else type(kp).__name__
            raise AnnotationError(src, f"expected 3*K = {3 * k} numbers (x, y, confidence per "
                                       f"keypoint), got {got}", "results", i, "keypoints")
        s = r["score"]
        if not _is_num(s):
            raise AnnotationError(src, f"expected a number, got {s!r:.40}", "results", i, "score")
        if not _all_numbers(kp):
            raise AnnotationError(src, "non-numeric value", "results", i, "keypoints")
        kps[i] = kp
        ids[i] = int(iid)
        scores[i] = s
    return check_arrays(ids, kps.reshape(n, k, 3), scores, gt, nan_policy, src)


def check_arrays(image_ids: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 gt: KeypointGT, nan_policy: str = "error", src: str = "<results>"
                 ) -> KeypointResults:
    """Validate array results: image_ids (D,), keypoints (D, K, 3) or (D, 3K), scores (D,).

    Same rules and messages as `check_results` (record index = row)."""
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
    k = gt.num_keypoints
    ids = np.asarray(image_ids)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise AnnotationError(src, f"image ids must be integers, got dtype {ids.dtype}",
                              "results", 0, "image_id")
    ids = ids.astype(np.int64).reshape(-1)
    d = len(ids)
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.size == 0:
        kp = kp.reshape(d, k, 3)
    if kp.ndim == 2 and kp.shape[1] == 3 * k:
        kp = kp.reshape(-1, k, 3)
    if kp.ndim != 3 or kp.shape[1:] != (k, 3) or len(kp) != d:
        raise AnnotationError(src, f"keypoints must be ({d}, {k}, 3), got {kp.shape}", "results",
                              0, "keypoints")
    sc = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(sc) != d:
        raise AnnotationError(src, f"{len(sc)} scores for {d} results", "results", 0, "score")
    idx = np.searchsorted(gt.arrays.image_ids, ids)
    bad = (idx >= len(gt.arrays.image_ids)) | (gt.arrays.image_ids[np.minimum(idx, max(len(gt.arrays.image_ids) - 1, 0))] != ids) \
        if len(gt.arrays.image_ids) else np.ones(d, bool)
    if d and bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise AnnotationError(src, f"image_id {ids[i]} is not in the ground truth {gt.name}",
                              "results", i, "image_id")
    finite_kp = np.isfinite(kp).all(axis=(1, 2))
    finite_s = np.isfinite(sc)
    nonfinite = ~(finite_kp & finite_s)
    if nonfinite.any():
        i = int(np.flatnonzero(nonfinite)[0])
        fld = "score" if finite_kp[i] else "keypoints"
        if nan_policy == "error":
            raise AnnotationError(src, "NaN or infinite value (nan_policy='error'; use 'drop' to "
                                       "drop such records)", "results", i, fld)
        log.warning("%s: dropping %d results with NaN/inf values (first: results[%d].%s)", src,
                    int(nonfinite.sum()), i, fld)
        keep = ~nonfinite
        ids, kp, sc, idx = ids[keep], kp[keep], sc[keep], idx[keep]
        rows = np.flatnonzero(keep)
    else:
        rows = np.arange(d)
    neg = sc < 0
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise AnnotationError(src, f"negative score {sc[i]}", "results", int(rows[i]), "score")
    dup = _first_duplicate(ids, kp)
    if dup is not None:
        i, j = dup
        raise AnnotationError(src, f"duplicate submission: same image_id {ids[i]} and keypoints "
                                   f"as results[{int(rows[j])}]", "results", int(rows[i]),
                              "keypoints")
    return KeypointResults(ids, kp, sc)


def _first_duplicate(ids: np.ndarray, kp: np.ndarray) -> tuple[int, int] | None:
    """(i, j): the first record i whose image id and keypoints (x, y, confidence) equal those
    of an earlier record j, or None. Rows are bucketed by a weighted sum of a few columns
    (identical rows give identical sums), then compared exactly."""
    n = len(ids)
    if n < 2:
        return None
    flat = kp.reshape(n, -1)
    # identical rows give identical sums; the exact comparison below settles collisions
    cols = np.unique(np.linspace(0, flat.shape[1] - 1, 8).astype(int))
    w = np.random.default_rng(12345).uniform(0.5, 1.5, len(cols) + 1)
    h = np.sum(np.column_stack([ids.astype(np.float64), flat[:, cols]]) * w, axis=1)
    order = np.argsort(h, kind="stable")
    hs = h[order]
    same = np.flatnonzero(hs[1:] == hs[:-1])
    best: tuple[int, int] | None = None
    if same.size == 0:
        return None
    # runs of equal hashes: compare every member with the earlier members of its run
    starts = same[np.r_[True, np.diff(same) > 1]]
    for st in starts:
        en = st + 1
        while en + 1 < n and hs[en + 1] == hs[st]:
            en += 1
        members = np.sort(order[st:en + 1])
        rows = np.ascontiguousarray(
            np.concatenate([ids[members, None].astype(np.float64), flat[members]], axis=1) + 0.0)
        view = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
        _, first, inverse = np.unique(view, return_index=True, return_inverse=True)
        earlier = first[inverse.reshape(-1)]
        dup = np.flatnonzero(earlier != np.arange(len(members)))
        if dup.size:
            cand = (int(members[dup[0]]), int(members[earlier[dup[0]]]))
            if best is None or cand[0] < best[0]:
                best = cand
    return best


