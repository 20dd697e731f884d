"""Reader for MPII in the HRNet/MMPose json format (`mpii_val.json`) plus the head boxes of
`mpii_gt_val.mat` / `gt_valid.mat`.

The files use 1-based MATLAB pixel coordinates; this reader converts everything to the
project's 0-based image pixels (x - 1, y - 1), joints, centres and head boxes alike, so the
PCKh of 0-based predictions equals the reference evaluator's (which adds +1 to predictions).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from robustpose_bench.datasets._jsonio import read_json, require
from robustpose_bench.datasets.errors import AnnotationError
from robustpose_bench.datasets.meta import MPII
from robustpose_bench.datasets.types import Dataset, Person, Sample
from robustpose_bench.io import safe_join

NUM_JOINTS = 16


def load_gt_mat(path: str | Path) -> dict[str, np.ndarray]:
    """The evaluation `.mat` (gt_valid.mat / mpii_gt_val.mat) as arrays, 0-based pixels.

    Returns pos_gt (N, 16, 2), missing (N, 16) bool, headboxes (N, 4) x1, y1, x2, y2.
    """
    from scipy.io import loadmat

    file = Path(path)
    if not file.is_file():
        raise AnnotationError(file, "file not found")
    try:
        mat = loadmat(str(file))
    except Exception as exc:  # scipy raises several types for broken files
        raise AnnotationError(file, f"cannot read MATLAB file: {exc}") from None
    for key in ("pos_gt_src", "jnt_missing", "headboxes_src"):
        if key not in mat:
            raise AnnotationError(file, "missing variable", field=key)
    pos = np.asarray(mat["pos_gt_src"], dtype=np.float64)
    missing = np.asarray(mat["jnt_missing"])
    heads = np.asarray(mat["headboxes_src"], dtype=np.float64)
    if pos.ndim != 3 or pos.shape[:2] != (NUM_JOINTS, 2):
        raise AnnotationError(file, f"expected shape (16, 2, N), got {pos.shape}", field="pos_gt_src")
    n = pos.shape[2]
    if missing.shape != (NUM_JOINTS, n):
        raise AnnotationError(file, f"expected shape (16, {n}), got {missing.shape}",
                              field="jnt_missing")
    if heads.shape != (2, 2, n):
        raise AnnotationError(file, f"expected shape (2, 2, {n}), got {heads.shape}",
                              field="headboxes_src")
    return {
        "pos_gt": pos.transpose(2, 0, 1) - 1.0,
        "missing": missing.T.astype(bool),
        "headboxes": heads.transpose(2, 0, 1).reshape(n, 4) - 1.0,
    }


def _vector(rec: dict, key: str, shape: Sequence[int], file: Path, i: int) -> np.ndarray:
    value = require(rec, key, file, "records", i, list)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise AnnotationError(file, "non-numeric values", "records", i, key) from None
    if arr.shape != tuple(shape):
        raise AnnotationError(file, f"expected shape {tuple(shape)}, got {arr.shape}", "records",
                              i, key)
    if not np.isfinite(arr).all():
        raise AnnotationError(file, "non-finite value", "records", i, key)
    return arr


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def load_mpii(ann_file: str | Path, image_root: str | Path | None = None,
              gt_mat: str | Path | None = None, check_images: bool = True) -> Dataset:
    """Load `mpii_val.json`-style records into the common data model.

    Each record is one person: {image, center (2,), scale, joints (16, 2), joints_vis (16,)}.
    Records of the same image become one Sample (in file order). Person.center / .scale keep
    the file's values (centre converted to 0-based); Person.bbox is the square box whose
    top-down crop equals the reference MPII crop (centre.y + 15*scale, scale * 1.25).
    Head boxes come from `gt_mat` when given (must have one entry per record, same order) or
    from an optional `headbox` [x1, y1, x2, y2] field (1-based) in each record.
    """
    file = Path(ann_file)
    data = read_json(file)
    if not isinstance(data, list):
        raise AnnotationError(file, f"expected a json list of MPII records, got {type(data).__name__}")
    gt = load_gt_mat(gt_mat) if gt_mat is not None else None
    if gt is not None and len(gt["headboxes"]) != len(data):
        raise AnnotationError(gt_mat, f"{len(gt['headboxes'])} head boxes for {len(data)} records "
                                      f"in {file.name}", field="headboxes_src")
    root = Path(image_root) if image_root is not None else None
    samples: dict[str, Sample] = {}
    for i, rec in enumerate(data):
        image = require(rec, "image", file, "records", i, str)
        center = _vector(rec, "center", (2,), file, i)
        scale = require(rec, "scale", file, "records", i, (int, float))
        if not math.isfinite(scale) or scale <= 0:
            raise AnnotationError(file, f"expected a positive scale, got {scale}", "records", i,
                                  "scale")
        joints = _vector(rec, "joints", (NUM_JOINTS, 2), file, i)
        vis = _vector(rec, "joints_vis", (NUM_JOINTS,), file, i)
        if image not in samples:
            width = height = 0
            if root is not None:
                try:
                    path = safe_join(root, image, "image")
                except ValueError as exc:
                    raise AnnotationError(file, str(exc), "records", i, "image") from None
                if check_images:
                    if not path.is_file():
                        raise AnnotationError(file, f"image {path} listed but missing on disk",
                                              "records", i, "image")
                    width, height = _image_size(path)
            samples[image] = Sample(len(samples), image, width, height)
        kp = np.zeros((NUM_JOINTS, 3))
        kp[:, :2] = joints - 1.0
        kp[:, 2] = np.where(vis > 0, 2.0, 0.0)
        kp[vis <= 0, :2] = 0.0
        c0 = center - 1.0
        # Reference MPII crop: centre.y += 15 * scale, scale *= 1.25 (HRNet mpii.py).
        cy = c0[1] + 15.0 * scale
        side = 200.0 * scale
        bbox = np.array([c0[0] - side / 2, cy - side / 2, side, side])
        if gt is not None:
            head = gt["headboxes"][i]
        elif "headbox" in rec:
            head = _vector(rec, "headbox", (4,), file, i) - 1.0
        else:
            head = None
        samples[image].persons.append(Person(
            bbox=bbox, keypoints=kp, area=side * side, iscrowd=False, id=i, head_box=head,
            center=c0, scale=float(scale)))
    return Dataset(meta=MPII, samples=list(samples.values()), image_root=root, ann_file=file)
