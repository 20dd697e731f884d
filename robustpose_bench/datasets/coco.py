"""Reader for COCO-format keypoint files of any K: COCO val2017, OCHuman, CrowdPose, SynthPose.

Every record is validated (`validate_records`, the one set of rules also used by the scorer's
ground-truth reader); the first bad one raises an AnnotationError naming the file, the record
index and the field. Only the images listed in `images` belong to the data set.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robustpose_bench.datasets._jsonio import read_json, require
from robustpose_bench.datasets.errors import AnnotationError
from robustpose_bench.datasets.meta import KNOWN_METAS, DatasetMeta, meta_from_category
from robustpose_bench.datasets.types import Dataset, Person, Sample
from robustpose_bench.io import safe_join

log = logging.getLogger(__name__)
_NUM = (int, float)


def guess_dataset_name(ann_file: str | Path) -> str:
    """coco / ochuman / crowdpose / synthpose from the annotation file name, else `custom`."""
    stem = Path(ann_file).name.lower()
    for key, name in (("ochuman", "ochuman"), ("crowdpose", "crowdpose"),
                      ("synthpose", "synthpose"), ("person_keypoints", "coco"), ("coco", "coco")):
        if key in stem:
            return name
    return "custom"


def _person_category(data: dict, file: Path) -> dict:
    cats = data.get("categories")
    if not isinstance(cats, list) or not cats:
        raise AnnotationError(file, "missing or empty list", field="categories")
    with_kpts = [c for c in cats if isinstance(c, dict) and c.get("keypoints")]
    if not with_kpts:
        raise AnnotationError(file, "no category declares `keypoints`", field="categories")
    return with_kpts[0]


def validate_records(data: Mapping[str, Any], file: str | Path, k: int,
                     person_cat: int = 1) -> None:
    """The record rules of COCO-format keypoint ground truth, one set for every reader
    (`load_coco` for generate / evaluate / train, `metrics.coco_gt.load_gt` for score).

    data: the parsed file with `images` and `annotations` lists (checked by the caller). k:
    keypoints per person. Annotations of other categories than `person_cat` are skipped.
    Raises AnnotationError naming the file, record and field of the first violation:
    images: integer `id`, unique; `file_name` (where given) a non-empty string; `width` /
    `height` (where given) positive integers. Person annotations: integer `category_id`,
    `image_id` listed in `images`; `keypoints` 3*K finite numbers with visibility 0, 1 or 2
    (a crowd region may have none); `bbox` 4 finite numbers with w, h >= 0; `area` (where
    given) a non-negative number; `iscrowd` 0 or 1; `id` (where given) an integer, unique.
    """
    image_ids: set[int] = set()
    for i, rec in enumerate(data["images"]):
        image_id = require(rec, "id", file, "images", i, int)
        if "file_name" in rec:
            fname = require(rec, "file_name", file, "images", i, str)
            if not fname.strip():
                raise AnnotationError(file, "empty file name", "images", i, "file_name")
        size = [require(rec, key, file, "images", i, int) for key in ("width", "height")
                if key in rec]
        if any(v <= 0 for v in size):
            raise AnnotationError(file, f"non-positive image size "
                                        f"{rec.get('width')}x{rec.get('height')}", "images", i,
                                  "width/height")
        if image_id in image_ids:
            raise AnnotationError(file, f"duplicate image id {image_id}", "images", i, "id")
        image_ids.add(image_id)
    ann_ids: dict[int, int] = {}
    for i, rec in enumerate(data["annotations"]):
        if require(rec, "category_id", file, "annotations", i, int) != person_cat:
            continue
        image_id = require(rec, "image_id", file, "annotations", i, int)
        if image_id not in image_ids:
            raise AnnotationError(file, f"image_id {image_id} is not in `images`", "annotations", i,
                                  "image_id")
        iscrowd = rec.get("iscrowd", 0)
        kpts = None
        if "keypoints" in rec or iscrowd not in (1, True):
            kpts = require(rec, "keypoints", file, "annotations", i, list)
            if len(kpts) != 3 * k:
                raise AnnotationError(file, f"{len(kpts)} values, expected 3*K = {3 * k} for "
                                            f"K = {k}", "annotations", i, "keypoints")
            if not all(isinstance(v, _NUM) and not isinstance(v, bool) and math.isfinite(v)
                       for v in kpts):
                raise AnnotationError(file, "non-numeric or non-finite value", "annotations", i,
                                      "keypoints")
        bbox = require(rec, "bbox", file, "annotations", i, list)
        if len(bbox) != 4 or not all(isinstance(v, _NUM) and not isinstance(v, bool)
                                     and math.isfinite(v) for v in bbox):
            raise AnnotationError(file, f"expected 4 finite numbers x, y, w, h, got {bbox!r:.60}",
                                  "annotations", i, "bbox")
        if bbox[2] < 0 or bbox[3] < 0:
            raise AnnotationError(file, f"negative box size w={bbox[2]}, h={bbox[3]}",
                                  "annotations", i, "bbox")
        if "area" in rec:
            area = rec["area"]
            if not isinstance(area, _NUM) or isinstance(area, bool) or not math.isfinite(area) \
                    or area < 0:
                raise AnnotationError(file, f"expected a non-negative number, got {area!r}",
                                      "annotations", i, "area")
        if iscrowd not in (0, 1, True, False):
            raise AnnotationError(file, f"expected 0 or 1, got {iscrowd!r}", "annotations", i,
                                  "iscrowd")
        if kpts is not None and any(v not in (0, 1, 2) for v in kpts[2::3]):
            bad = next(v for v in kpts[2::3] if v not in (0, 1, 2))
            raise AnnotationError(file, f"visibility flags must be 0, 1 or 2, got {bad!r}",
                                  "annotations", i, "keypoints")
        if "id" in rec:
            ann_id = require(rec, "id", file, "annotations", i, int)
            if ann_id in ann_ids:
                raise AnnotationError(file, f"duplicate annotation id {ann_id} (also "
                                            f"annotations[{ann_ids[ann_id]}])", "annotations",
                                      i, "id")
            ann_ids[ann_id] = i


def load_coco(ann_file: str | Path, image_root: str | Path | None = None,
              meta: DatasetMeta | None = None, dataset_name: str | None = None,
              sigmas: Sequence[float] | None = None, check_images: bool = True) -> Dataset:
    """Load a COCO-format keypoint annotation file.

    ann_file: the json. image_root: folder the `file_name`s are relative to (checked to exist
    and never escaped when given). meta: the keypoint layout; by default taken from the known
    data sets by name (guessed from the file name) or built from the file's category.
    Keypoints stay in image pixels as stored (COCO convention, 0-based).
    """
    file = Path(ann_file)
    data = read_json(file)
    if not isinstance(data, dict):
        raise AnnotationError(file, f"expected a COCO object at top level, got {type(data).__name__}")
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise AnnotationError(file, "missing list" if key not in data else "not a list",
                                  field=key)
    category = _person_category(data, file)
    name = dataset_name or guess_dataset_name(file)
    if meta is None:
        known = KNOWN_METAS.get(name)
        if known is not None and tuple(category["keypoints"]) == known.keypoint_names and sigmas is None:
            meta = known
        else:
            meta = meta_from_category(name, category, sigmas)
    k = meta.num_keypoints
    if len(category["keypoints"]) != k:
        raise AnnotationError(file, f"category declares {len(category['keypoints'])} keypoints, "
                                    f"the {meta.name} layout has {k}", field="categories.keypoints")
    person_cat = category.get("id", 1)

    validate_records(data, file, k, person_cat)
    root = Path(image_root) if image_root is not None else None
    samples: dict[int, Sample] = {}
    for i, rec in enumerate(data["images"]):
        fname = rec["file_name"] if "file_name" in rec else require(rec, "file_name", file,
                                                                      "images", i, str)
        for key in ("width", "height"):
            require(rec, key, file, "images", i, int)
        if root is not None:
            try:
                path = safe_join(root, fname)
            except ValueError as exc:
                raise AnnotationError(file, str(exc), "images", i, "file_name") from None
            if check_images and not path.is_file():
                raise AnnotationError(file, f"image {path} listed but missing on disk", "images",
                                      i, "file_name")
        samples[rec["id"]] = Sample(rec["id"], fname, rec["width"], rec["height"])

    for i, rec in enumerate(data["annotations"]):
        if rec["category_id"] != person_cat:
            continue
        bbox = rec["bbox"]
        kpts = rec.get("keypoints") or [0] * (3 * k)  # a crowd region may have none
        samples[rec["image_id"]].persons.append(Person(
            bbox=np.asarray(bbox, dtype=np.float64),
            keypoints=np.asarray(kpts, dtype=np.float64).reshape(k, 3),
            area=float(rec.get("area", bbox[2] * bbox[3])), iscrowd=bool(rec.get("iscrowd", 0)),
            id=int(rec.get("id", i)), segmentation=rec.get("segmentation")))
    log.debug("%s: %d images, %d person annotations", file, len(samples),
              sum(len(s.persons) for s in samples.values()))
    return Dataset(meta=meta, samples=list(samples.values()), image_root=root, ann_file=file)
