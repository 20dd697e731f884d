"""Reader for person detection results (`COCO_val2017_detections_AP_H_56_person.json` format):
a json list of `{image_id, category_id, bbox: [x, y, w, h], score}` in image pixels."""
from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from robustpose_bench.datasets._jsonio import read_json, require
from robustpose_bench.datasets.errors import AnnotationError

log = logging.getLogger(__name__)


def load_detections(path: str | Path, image_ids: Iterable[int] | None = None,
                    category_id: int = 1, min_score: float = 0.0
                    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Person boxes per image: image_id -> (boxes (N, 4) xywh float64, scores (N,) float64).

    Keeps category `category_id` with score >= `min_score` (HRNet uses 0.0). Detections of
    images outside `image_ids` are dropped with a log line (a detector file covers all of
    val2017; an annotation subset uses part of it). Every image of `image_ids` gets an entry.
    """
    file = Path(path)
    data = read_json(file)
    if not isinstance(data, list):
        raise AnnotationError(file, f"expected a json list of detections, got {type(data).__name__}")
    wanted = set(image_ids) if image_ids is not None else None
    per_image: dict[int, list[tuple[list[float], float]]] = {i: [] for i in (wanted or ())}
    dropped = 0
    for i, rec in enumerate(data):
        if require(rec, "category_id", file, "detections", i, int) != category_id:
            continue
        image_id = require(rec, "image_id", file, "detections", i, int)
        bbox = require(rec, "bbox", file, "detections", i, list)
        score = require(rec, "score", file, "detections", i, (int, float))
        if len(bbox) != 4 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in bbox):
            raise AnnotationError(file, f"expected 4 finite numbers, got {bbox!r:.60}", "detections",
                                  i, "bbox")
        if bbox[2] < 0 or bbox[3] < 0:
            raise AnnotationError(file, f"negative box size w={bbox[2]}, h={bbox[3]}", "detections",
                                  i, "bbox")
        if not math.isfinite(score):
            raise AnnotationError(file, f"non-finite score {score}", "detections", i, "score")
        if score < min_score:
            continue
        if wanted is not None and image_id not in wanted:
            dropped += 1
            continue
        per_image.setdefault(image_id, []).append((bbox, float(score)))
    if dropped:
        log.info("%s: %d detections on images outside the annotation file were ignored", file,
                 dropped)
    out = {}
    for image_id, dets in per_image.items():
        boxes = np.array([d[0] for d in dets], dtype=np.float64).reshape(-1, 4)
        scores = np.array([d[1] for d in dets], dtype=np.float64)
        out[image_id] = (boxes, scores)
    return out
