"""Clean validation during training: the benchmark's own top-down adapter, post-processing and
metrics (AP for COCO-format data, PCKh for MPII) on GT or detected boxes.

Same pipeline as `robustpose evaluate` on the clean condition (PROTOCOL.md section 3: flip
test with the 1-px shift, quarter-offset argmax decoding, rescoring, OKS-NMS).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from robustpose_bench.datasets.types import Dataset
from robustpose_bench.train.data import read_rgb

log = logging.getLogger(__name__)


def _subset_gt(ann_file: Path, image_ids: set[int]) -> dict:
    data = json.loads(Path(ann_file).read_text(encoding="utf-8"))
    data["images"] = [im for im in data["images"] if im["id"] in image_ids]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in image_ids]
    return data


def validate_model(model: nn.Module, dataset: Dataset, input_size: tuple[int, int], *,
                   device: torch.device | str = "cpu", flip_test: bool = True,
                   batch_size: int = 64, max_images: int | None = None,
                   det_file: str | Path | None = None, decode: str = "standard"
                   ) -> dict[str, float]:
    """Score `model` (images -> heatmaps, eval mode) on `dataset`; metrics in percent.

    input_size: (width, height). max_images: the first N images only (COCO-format data;
    the GT is restricted to them). det_file: COCO detection results for the boxes (default:
    GT boxes, score 1). decode: the adapter's heatmap decoder (the target codec's match).
    Returns {"AP", "AP50", ...} or {"PCKh", ...}.
    """
    from robustpose_bench.adapters.topdown import HeatmapTopDownAdapter
    from robustpose_bench.evaluate.boxes import boxes_for_dataset
    from robustpose_bench.evaluate.scoring import coco_results, mpii_predictions

    meta = dataset.meta
    is_mpii = meta.name == "mpii"
    samples = dataset.samples
    indices = list(range(len(samples)))
    if max_images is not None and not is_mpii:
        indices = indices[:max_images]
    detections = None
    if det_file is not None:
        from robustpose_bench.datasets.detections import load_detections

        detections = load_detections(det_file, image_ids=[s.image_id for s in samples])
    boxes = boxes_for_dataset(dataset, detections)
    adapter = HeatmapTopDownAdapter(model, input_size=tuple(input_size),
                                    flip_index=meta.flip_index(), device=device,
                                    batch_size=batch_size, flip_test=flip_test, decode=decode)
    preds: dict[int, np.ndarray] = {}
    bx: dict[int, np.ndarray] = {}
    sc: dict[int, np.ndarray] = {}
    with torch.no_grad():
        for i in indices:
            b = boxes[i]
            if len(b) == 0:
                continue
            image = read_rgb(dataset.image_path(samples[i]))
            preds[i] = np.asarray(adapter.predict(image, b.boxes), dtype=np.float64)
            bx[i] = b.boxes
            sc[i] = b.scores
    if is_mpii:
        from robustpose_bench.metrics.pckh import pckh_dataset

        res = pckh_dataset(dataset, mpii_predictions(dataset, preds))
        return {k: 100.0 * float(v) for k, v in res.items()}
    from robustpose_bench.metrics.coco import evaluate_keypoints

    aspect = input_size[0] / input_size[1]
    results = coco_results(dataset, preds, bx, sc, aspect)
    if dataset.ann_file is None:
        raise ValueError(f"{meta.name}: validation needs the annotation file of the data set")
    gt: str | dict = str(dataset.ann_file)
    if len(indices) < len(samples):
        gt = _subset_gt(dataset.ann_file, {samples[i].image_id for i in indices})
    if not results:
        return {"AP": 0.0}
    stats = evaluate_keypoints(gt, results, sigmas=meta.sigmas)
    return {k: 100.0 * float(v) for k, v in stats.items()}
