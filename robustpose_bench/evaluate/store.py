"""Per-condition outputs on disk, readable by people and resumable by the sweep.

`<out>/conditions/<condition id>/raw.npz`: per-box predictions before post-processing
(sample index, box, box score, keypoints), the unit of resumption and of shard merging;
`results.json`: the COCO results json (AP data sets) or MPII `preds` json (PCKh);
`score.json`: the metrics of the condition. A condition with `score.json` is finished.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from robustpose_bench.io import atomic_write_bytes, atomic_write_json
from robustpose_bench.render.conditions import Condition


def condition_dir(out: Path, condition: Condition) -> Path:
    return Path(out) / "conditions" / condition.id


def save_raw(path: Path, preds: dict[int, np.ndarray], boxes: dict[int, np.ndarray],
             scores: dict[int, np.ndarray]) -> None:
    """Flatten per-sample predictions into arrays and write them atomically (npz)."""
    order = sorted(preds)
    counts = np.array([len(preds[i]) for i in order], dtype=np.int64)
    k = next((p.shape[1] for p in preds.values() if p.ndim == 3), 0)
    buf = io.BytesIO()
    np.savez_compressed(
        buf, sample_index=np.array(order, dtype=np.int64), counts=counts,
        keypoints=np.concatenate([preds[i] for i in order]) if order else np.zeros((0, k, 3)),
        boxes=np.concatenate([boxes[i] for i in order]) if order else np.zeros((0, 4)),
        box_scores=np.concatenate([scores[i] for i in order]) if order else np.zeros(0))
    atomic_write_bytes(path, buf.getvalue())


def load_raw(path: Path) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], dict[int, np.ndarray]]:
    with np.load(path) as z:
        idx, counts = z["sample_index"], z["counts"]
        kp, bx, sc = z["keypoints"], z["boxes"], z["box_scores"]
    splits = np.cumsum(counts)[:-1]
    preds = dict(zip(idx.tolist(), np.split(kp, splits), strict=True))
    boxes = dict(zip(idx.tolist(), np.split(bx, splits), strict=True))
    scores = dict(zip(idx.tolist(), np.split(sc, splits), strict=True))
    return preds, boxes, scores


def save_score(path: Path, score: dict) -> None:
    atomic_write_json(path, score)


def load_score(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None
