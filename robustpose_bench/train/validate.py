"""Clean validation during training with the benchmark's own objects: the top-down adapter, the
sweep's prediction step (`evaluate.LocalPredictor`) and its evaluator for the data set's
metric (`evaluate.default_metric`: AP for COCO-format data, PCKh for MPII), on GT or detected
boxes.

Same pipeline as `robustpose evaluate` on the clean condition (PROTOCOL.md section 3: flip
test with the 1-px shift, quarter-offset argmax decoding, rescoring, OKS-NMS).
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from robustpose_bench.datasets.types import Dataset
from robustpose_bench.inference_protocol import DEFAULT_INFERENCE_PROTOCOL

log = logging.getLogger(__name__)


def validate_model(model: nn.Module, dataset: Dataset, input_size: tuple[int, int], *,
                   device: torch.device | str = "cpu", flip_test: bool = True,
                   batch_size: int = 64, max_images: int | None = None,
                   det_file: str | Path | None = None,
                   inference_protocol: str = DEFAULT_INFERENCE_PROTOCOL,
                   decode: str = "standard") -> dict[str, float]:
    """Score `model` (images -> heatmaps, eval mode) on `dataset`; metrics in percent.

    input_size: (width, height). max_images: the first N images only (COCO-format data;
    the GT is restricted to them). det_file: COCO detection results for the boxes (default:
    GT boxes, score 1). inference_protocol: the crop conventions (inference_protocol.py), which
    also decide the GT boxes and the OKS-NMS area precision, as in `evaluate`. Returns {"AP",
    "AP50", ...} or {"PCKh", ...}; metrics that are undefined (no GT person in an area range)
    are left out. decode: the adapter's heatmap decoder (the match of the target codec).
    """
    from robustpose_bench.adapters.topdown import HeatmapTopDownAdapter
    from robustpose_bench.evaluation import LocalPredictor, RunSettings, default_metric
    from robustpose_bench.evaluation.boxes import boxes_for_dataset
    from robustpose_bench.evaluation.evaluators import metric_evaluator
    from robustpose_bench.render.conditions import Condition
    from robustpose_bench.render.protocol import get_protocol

    meta = dataset.meta
    metric = default_metric(meta)
    samples = dataset.samples
    indices = list(range(len(samples)))
    if max_images is not None and metric == "AP":
        indices = indices[:max_images]
    detections = None
    if det_file is not None:
        from robustpose_bench.datasets.detections import load_detections

        detections = load_detections(det_file, image_ids=[s.image_id for s in samples])
    adapter = HeatmapTopDownAdapter(model, input_size=tuple(input_size),
                                    flip_index=meta.flip_index(), device=device,
                                    batch_size=batch_size, flip_test=flip_test,
                                    inference_protocol=inference_protocol, decode=decode)
    boxes = boxes_for_dataset(dataset, detections, adapter.inference_protocol)
    settings = RunSettings(protocol=get_protocol("robustpose"), metric=metric,
                           batch_size=batch_size, inference_protocol=adapter.inference_protocol,
                           boxes="gt" if det_file is None else str(det_file),
                           model={"input_size": list(input_size)})
    predictions = LocalPredictor(adapter, dataset, boxes, settings).predict(
        Condition.clean(), indices).predictions
    subset = None
    if len(indices) < len(samples):
        subset = {samples[i].image_id for i in indices}
    evaluator = metric_evaluator(dataset, metric, aspect=input_size[0] / input_size[1],
                                 gt_images=subset,
                                 inference_protocol=adapter.inference_protocol)
    evaluator.reset()
    outputs = list(predictions.images())
    evaluator.process([samples[o.index] for o in outputs], outputs)
    return {k: v for k, v in evaluator.evaluate().items() if v is not None}
