"""MPII PCKh (PCKh@0.5, PCKh@0.1) per joint group and overall, plus generic PCK normalised
by box size or torso for other data sets.

Follows the MPII evaluation as implemented by HRNet `lib/dataset/mpii.py` / MMPose
`MpiiPCKAccuracy` (PROTOCOL.md section 2), with the comparison `<=` (HRNet) and a true 0.1
threshold for PCKh@0.1 (HRNet reads 0.11 by mistake). See docs/metrics.md.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustpose_bench.datasets.errors import AnnotationError
from robustpose_bench.datasets.meta import MPII_KEYPOINTS, DatasetMeta

SC_BIAS = 0.6  # head size = 0.6 * head-box diagonal
NUM_JOINTS = 16
PELVIS, THORAX = 6, 7
EXCLUDED = (PELVIS, THORAX)  # not in the mean (HRNet / MMPose mask joints 6:8)
# Reported groups, as HRNet / MMPose: Head is the head-top joint alone; the others average
# the left and right PCKh of the joint (unweighted).
JOINT_GROUPS: dict[str, tuple[int, ...]] = {
    "head": (9,),
    "shoulder": (13, 12),
    "elbow": (14, 11),
    "wrist": (15, 10),
    "hip": (3, 2),
    "knee": (4, 1),
    "ankle": (5, 0),
}
THRESHOLDS = (0.5, 0.1)


@dataclass
class MPIIGroundTruth:
    """MPII evaluation ground truth, one row per person (record order of the files).

    joints (N, 16, 2) float64 0-based image pixels; visible (N, 16) bool (joint annotated:
    `1 - jnt_missing`); head_boxes (N, 4) float64 x1, y1, x2, y2 0-based image pixels;
    images: (N,) image file names when known (json), else None.
    """

    joints: np.ndarray
    visible: np.ndarray
    head_boxes: np.ndarray
    images: list[str] | None = None

    def __len__(self) -> int:
        return len(self.joints)


def head_sizes(head_boxes: np.ndarray, sc_bias: float = SC_BIAS) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 -> (N,) sc_bias * ||(x2, y2) - (x1, y1)|| (image pixels).

    Computed in the reference evaluator's 1-based frame (+1 on both corners), which makes
    it bit-identical to it for boxes read from the .mat file."""
    hb = np.asarray(head_boxes, dtype=np.float64).reshape(-1, 4) + 1.0
    d = np.stack([hb[:, 2] - hb[:, 0], hb[:, 3] - hb[:, 1]], axis=0)  # (2, N) as the reference
    return np.linalg.norm(d, axis=0) * sc_bias


def _correct(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, norm: np.ndarray,
             thresholds: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(T, N, K) bool correct & visible, and (N, K) normalised errors (0 where invisible)."""
    # (pred + 1) - (gt + 1): the reference compares 1-based predictions with 1-based GT.
    err = np.linalg.norm((pred + 1.0) - (gt + 1.0), axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = err / norm[:, None]
    scaled = scaled * visible
    return np.stack([(scaled <= t) & visible for t in thresholds]), scaled


def _as_fraction(num: np.ndarray, den: np.ndarray) -> list[float | None]:
    return [float(a) / float(b) if b > 0 else None for a, b in zip(num, den, strict=True)]


def pckh(pred: np.ndarray, gt: np.ndarray | MPIIGroundTruth, visible: np.ndarray | None = None,
         head_boxes: np.ndarray | None = None, thresholds: Sequence[float] = THRESHOLDS,
         sc_bias: float = SC_BIAS) -> dict:
    """MPII PCKh of predictions against ground truth, as fractions in [0, 1].

    pred: (N, 16, 2) or (N, 16, 3) 0-based image pixels, same person order as gt. gt: an
    MPIIGroundTruth, or (N, 16, 2) 0-based joints with `visible` (N, 16) and `head_boxes`
    (N, 4) x1, y1, x2, y2. A joint is correct when ||pred - gt|| / head_size <= threshold
    (HRNet's `<=`); head_size = sc_bias * head-box diagonal. Only annotated joints count.

    Returns {"PCKh": mean@0.5, "PCKh@0.1": mean@0.1, "per_group": {group: PCKh@0.5},
    "per_group@0.1": {...}, "per_joint": {name: PCKh@0.5}, "per_joint@0.1": {...},
    "joint_counts": {name: annotated count}, "thresholds": [...], "num_persons": N}.
    The mean is over all joints but pelvis and thorax, weighted by the annotated count of
    each joint; a group is the unweighted mean of its left and right joint (Head = head top).
    Values are None where no joint of that kind is annotated. Keys "PCKh@<t>" are added for
    any other threshold t.
    """
    if isinstance(gt, MPIIGroundTruth):
        joints, vis, heads = gt.joints, gt.visible, gt.head_boxes
    else:
        if visible is None or head_boxes is None:
            raise ValueError("pckh: give an MPIIGroundTruth or gt joints with visible and head_boxes")
        joints, vis, heads = gt, visible, head_boxes
    joints = np.asarray(joints, dtype=np.float64)
    n = len(joints)
    p = np.asarray(pred, dtype=np.float64)
    if p.ndim != 3 or p.shape[0] != n or p.shape[1] != NUM_JOINTS or p.shape[2] not in (2, 3):
        raise ValueError(f"predictions must be ({n}, 16, 2) for {n} ground-truth persons, got "
                         f"{p.shape}")
    if joints.shape != (n, NUM_JOINTS, 2):
        raise ValueError(f"ground-truth joints must be (N, 16, 2), got {joints.shape}")
    p = p[:, :, :2]
    bad = ~np.isfinite(p).all(axis=(1, 2))
    if bad.any():
        raise ValueError(f"predictions[{int(np.flatnonzero(bad)[0])}] has a NaN or infinite "
                         "coordinate")
    vis = np.asarray(vis, dtype=bool).reshape(n, NUM_JOINTS)
    hs = head_sizes(heads, sc_bias)
    if n and ((hs <= 0) | ~np.isfinite(hs))[vis.any(axis=1)].any():
        i = int(np.flatnonzero(((hs <= 0) | ~np.isfinite(hs)) & vis.any(axis=1))[0])
        raise ValueError(f"person {i}: degenerate head box {np.asarray(heads)[i].tolist()}")
    thresholds = [float(t) for t in thresholds]
    correct, _ = _correct(p, joints, vis, hs, thresholds)
    counts = vis.sum(axis=0)
    hits = correct.sum(axis=1)  # (T, K)
    mask = np.ones(NUM_JOINTS, bool)
    mask[list(EXCLUDED)] = False
    ratio = np.where(mask, counts, 0) / max(int(np.where(mask, counts, 0).sum()), 1)
    names = list(MPII_KEYPOINTS)
    out: dict = {"thresholds": thresholds, "num_persons": int(n)}
    for ti, t in enumerate(thresholds):
        per_joint = _as_fraction(hits[ti], counts)
        pj = np.array([v if v is not None else 0.0 for v in per_joint])
        mean = float(np.sum(pj * ratio)) if ratio.sum() > 0 else None
        groups = {}
        for g, idx in JOINT_GROUPS.items():
            vals = [per_joint[j] for j in idx]
            groups[g] = None if any(v is None for v in vals) else float(np.mean(vals))
        suffix = "" if t == 0.5 else f"@{t:g}"
        out["PCKh" + suffix] = mean
        out["per_group" + suffix] = groups
        out["per_joint" + suffix] = dict(zip(names, per_joint, strict=True))
    out["joint_counts"] = {nm: int(c) for nm, c in zip(names, counts, strict=True)}
    return out


# --------------------------------------------------------------------------- MPII files
def load_mpii_gt(ann: str | Path, gt_mat: str | Path | None = None) -> MPIIGroundTruth:
    """MPII evaluation ground truth from the `.mat` (gt_valid.mat / mpii_gt_val.mat layout:
    pos_gt_src (16, 2, N), jnt_missing (16, N), headboxes_src (2, 2, N)) or from an MPII json
    (mpii_val.json: list of {image, joints (16, 2), joints_vis (16)}) plus, for its head
    boxes, the `.mat` (`gt_mat`) or a per-record `headbox` [x1, y1, x2, y2].

    Both files are 1-based (MATLAB); everything is converted to 0-based on load. With a json
    and a .mat, joints and visibility come from the .mat (the reference evaluator's source)
    and the json gives the image names; the record counts must agree.
    """
    ann = Path(ann)
    if ann.suffix.lower() == ".mat":
        if gt_mat is not None:
            raise ValueError("give either a .mat ground truth or a json with gt_mat, not two .mat")
        return _from_mat(ann)
    from robustpose_bench.datasets._jsonio import read_json

    data = read_json(ann)
    if not isinstance(data, list):
        raise AnnotationError(ann, f"expected a json list of MPII records, got {type(data).__name__}")
    images, joints, vis, heads = [], [], [], []
    for i, rec in enumerate(data):
        if not isinstance(rec, Mapping):
            raise AnnotationError(ann, f"expected an object, got {type(rec).__name__}", "records", i)
        images.append(str(rec.get("image", "")))
        if gt_mat is None:
            joints.append(_field(rec, "joints", (NUM_JOINTS, 2), ann, i) - 1.0)
            vis.append(_field(rec, "joints_vis", (NUM_JOINTS,), ann, i) > 0)
            if "headbox" not in rec:
                raise AnnotationError(ann, "no head box: pass the evaluation .mat (gt_mat / "
                                           "--gt-mat) or add `headbox` to every record",
                                      "records", i, "headbox")
            heads.append(_field(rec, "headbox", (4,), ann, i) - 1.0)
    if gt_mat is not None:
        gt = _from_mat(Path(gt_mat))
        if len(gt) != len(data):
            raise AnnotationError(gt_mat, f"{len(gt)} persons for {len(data)} records in {ann.name}",
                                  field="pos_gt_src")
        gt.images = images
        return gt
    return MPIIGroundTruth(np.array(joints).reshape(-1, NUM_JOINTS, 2),
                           np.array(vis, dtype=bool).reshape(-1, NUM_JOINTS),
                           np.array(heads).reshape(-1, 4), images)


def _field(rec: Mapping, key: str, shape: tuple[int, ...], file: Path, i: int) -> np.ndarray:
    if key not in rec:
        raise AnnotationError(file, "missing field", "records", i, key)
    try:
        arr = np.asarray(rec[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise AnnotationError(file, "non-numeric values", "records", i, key) from None
    if arr.shape != shape:
        raise AnnotationError(file, f"expected shape {shape}, got {arr.shape}", "records", i, key)
    if not np.isfinite(arr).all():
        raise AnnotationError(file, "non-finite value", "records", i, key)
    return arr


def _from_mat(path: Path) -> MPIIGroundTruth:
    from robustpose_bench.datasets.mpii import load_gt_mat

    m = load_gt_mat(path)
    return MPIIGroundTruth(m["pos_gt"], ~m["missing"], m["headboxes"], None)


def load_mpii_predictions(path: str | Path, gt: MPIIGroundTruth | None = None) -> np.ndarray:
    """Predictions (N, 16, 2) 0-based image pixels from

    - a `.mat` with `preds` (N, 16, 2|3), 1-based MATLAB pixels as HRNet's pred.mat
      (converted: -1), or
    - a json list of {image, joints (16, 2)} (0-based image pixels, the project convention)
      in the order of the MPII annotation file; with `gt` images the names must match.
    """
    path = Path(path)
    if path.suffix.lower() == ".mat":
        from scipy.io import loadmat

        try:
            mat = loadmat(str(path))
        except Exception as exc:  # scipy raises several types for broken files
            raise AnnotationError(path, f"cannot read MATLAB file: {exc}") from None
        if "preds" not in mat:
            raise AnnotationError(path, "missing variable", field="preds")
        preds = np.asarray(mat["preds"], dtype=np.float64)
        if preds.ndim != 3 or preds.shape[1] != NUM_JOINTS or preds.shape[2] not in (2, 3):
            raise AnnotationError(path, f"expected shape (N, 16, 2), got {preds.shape}",
                                  field="preds")
        preds = preds[:, :, :2] - 1.0
        bad = ~np.isfinite(preds).all(axis=(1, 2))
        if bad.any():
            raise AnnotationError(path, "NaN or infinite value", "preds", int(np.flatnonzero(bad)[0]))
    else:
        from robustpose_bench.datasets._jsonio import read_json

        data = read_json(path)
        if not isinstance(data, list):
            raise AnnotationError(path, f"expected a json list of {{image, joints}}, got "
                                        f"{type(data).__name__}")
        out = []
        for i, rec in enumerate(data):
            if not isinstance(rec, Mapping):
                raise AnnotationError(path, f"expected an object, got {type(rec).__name__}",
                                      "results", i)
            try:
                arr = np.asarray(rec.get("joints"), dtype=np.float64)
            except (TypeError, ValueError):
                raise AnnotationError(path, "non-numeric values", "results", i, "joints") from None
            if arr.ndim != 2 or arr.shape[0] != NUM_JOINTS or arr.shape[1] not in (2, 3):
                raise AnnotationError(path, f"expected 16 x 2 numbers, got shape {arr.shape}",
                                      "results", i, "joints")
            if not np.isfinite(arr).all():
                raise AnnotationError(path, "NaN or infinite value", "results", i, "joints")
            if gt is not None and gt.images is not None and i < len(gt.images):
                if "image" in rec and str(rec["image"]) != gt.images[i]:
                    raise AnnotationError(path, f"image {rec['image']!r} but the annotation file "
                                                f"has {gt.images[i]!r} at this position",
                                          "results", i, "image")
            out.append(arr[:, :2])
        preds = np.array(out).reshape(-1, NUM_JOINTS, 2)
    if gt is not None and len(preds) != len(gt):
        raise AnnotationError(path, f"{len(preds)} predictions for {len(gt)} ground-truth persons "
                                    "(one per record, in the annotation file's order)")
    return preds


def save_mpii_predictions_json(path: str | Path, preds: np.ndarray, images: Sequence[str]) -> None:
    """Write predictions (N, 16, 2) 0-based as the json results format read above."""
    from robustpose_bench.io import atomic_write_text

    recs = [{"image": im, "joints": np.asarray(p)[:, :2].tolist()} for im, p in zip(images, preds, strict=True)]
    atomic_write_text(path, json.dumps(recs))


# --------------------------------------------------------------------------- generic PCK
def bbox_norm(boxes: np.ndarray) -> np.ndarray:
    """PCK normaliser from xywh boxes (N, 4): max(w, h) per person (MMPose 'bbox')."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.maximum(b[:, 2], b[:, 3])


def torso_norm(gt: np.ndarray, meta: DatasetMeta, visible: np.ndarray | None = None) -> np.ndarray:
    """PCK normaliser: the torso diagonal ||left_shoulder - right_hip|| per person (N,);
    NaN where either joint is not annotated (those persons are then skipped)."""
    a = meta.keypoint_index("left_shoulder")
    b = meta.keypoint_index("right_hip")
    g = np.asarray(gt, dtype=np.float64)
    d = np.linalg.norm(g[:, a, :2] - g[:, b, :2], axis=1)
    if visible is not None:
        v = np.asarray(visible, bool)
        d = np.where(v[:, a] & v[:, b], d, np.nan)
    return d


def pck(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, norm: np.ndarray,
        threshold: float = 0.2, keypoint_names: Sequence[str] | None = None) -> dict:
    """Generic PCK: a keypoint is correct when ||pred - gt|| / norm <= threshold.

    pred / gt (N, K, 2+) image pixels; visible (N, K) bool (annotated); norm (N,) per-person
    normaliser in pixels (`bbox_norm`, `torso_norm`, or head sizes); persons with a
    non-finite or non-positive norm are skipped. Returns {"PCK": fraction over all counted
    keypoints, "per_joint": {name: fraction | None}, "threshold", "num_persons",
    "skipped_persons"}.
    """
    p = np.asarray(pred, dtype=np.float64)[..., :2]
    g = np.asarray(gt, dtype=np.float64)[..., :2]
    if p.shape != g.shape:
        raise ValueError(f"pred {p.shape} and gt {g.shape} differ")
    n, k = g.shape[:2]
    if not np.isfinite(p).all():
        raise ValueError(f"pred[{int(np.flatnonzero(~np.isfinite(p).all(axis=(1, 2)))[0])}] has "
                         "a NaN or infinite coordinate")
    nm = np.asarray(norm, dtype=np.float64).reshape(-1)
    if len(nm) != n:
        raise ValueError(f"{len(nm)} normalisers for {n} persons")
    ok = np.isfinite(nm) & (nm > 0)
    vis = np.asarray(visible, bool).reshape(n, k) & ok[:, None]
    err = np.linalg.norm(p - g, axis=2) / np.where(ok, nm, 1.0)[:, None]
    hit = (err <= threshold) & vis
    counts = vis.sum(0)
    names = list(keypoint_names) if keypoint_names is not None else [str(i) for i in range(k)]
    total = int(counts.sum())
    return {"PCK": float(hit.sum()) / total if total else None,
            "per_joint": dict(zip(names, _as_fraction(hit.sum(0), counts), strict=True)),
            "threshold": float(threshold), "num_persons": int(n),
            "skipped_persons": int((~ok).sum())}


def mpii_score(ann: str | Path, results: str | Path, gt_mat: str | Path | None = None) -> dict:
    """PCKh of an MPII results file (json or .mat, see `load_mpii_predictions`) against an
    MPII annotation (`load_mpii_gt`)."""
    gt = load_mpii_gt(ann, gt_mat)
    preds = load_mpii_predictions(results, gt)
    return pckh(preds, gt)



def ground_truth_from_dataset(dataset: object) -> MPIIGroundTruth:
    """MPIIGroundTruth of a loaded MPII Dataset (`robustpose_bench.datasets.mpii.load_mpii`):
    persons ordered by `Person.id` (the record index), which must be 0..N-1; joints and head
    boxes are already 0-based there; a joint counts when its v > 0."""
    persons = [p for s in dataset.samples for p in s.persons]  # type: ignore[attr-defined]
    persons.sort(key=lambda p: p.id)
    if [p.id for p in persons] != list(range(len(persons))):
        raise ValueError("MPII persons must have ids 0..N-1 (record order of the annotation file)")
    for p in persons:
        if p.head_box is None:
            raise ValueError(f"MPII record {p.id} has no head box; load the data set with the "
                             "evaluation .mat (gt_mat) or `headbox` fields")
    kp = np.array([p.keypoints for p in persons], dtype=np.float64).reshape(-1, NUM_JOINTS, 3)
    heads = np.array([p.head_box for p in persons], dtype=np.float64).reshape(-1, 4)
    return MPIIGroundTruth(kp[:, :, :2], kp[:, :, 2] > 0, heads, None)


def pckh_dataset(dataset: object, preds: np.ndarray) -> dict[str, float]:
    """Flat PCKh numbers of predictions (N, 16, 2) 0-based, in record order, against an MPII
    Dataset: {"PCKh", "PCKh@0.1", "Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee",
    "Ankle"} as fractions in [0, 1] (group names at threshold 0.5); NaN where undefined."""
    res = pckh(preds, ground_truth_from_dataset(dataset))
    flat = {"PCKh": res["PCKh"], "PCKh@0.1": res["PCKh@0.1"]}
    flat.update({g.capitalize(): v for g, v in res["per_group"].items()})
    return {k: float("nan") if v is None else float(v) for k, v in flat.items()}
