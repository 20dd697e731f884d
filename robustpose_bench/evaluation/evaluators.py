"""Evaluator objects in the shape of detectron2's `DatasetEvaluator`: `reset()`, then
`process(inputs, outputs)` for the images of one condition (any number of calls), then
`evaluate()` -> that condition's metrics in percent. The sweep and the training validation
use the same objects.

- `KeypointAPEvaluator`: COCO-format data sets; the reference top-down post-processing
  (rescoring + OKS-NMS, PROTOCOL.md section 3) then keypoint AP with any AP backend;
- `PCKhEvaluator`: MPII PCKh@0.5 / @0.1 per joint group;
- `AttackedKeypointAPEvaluator`: `AP_keypoint`, the AP restricted to the attacked keypoint
  of a keypoint attack (Pytel et al.'s per-keypoint evaluation; None for part attacks);
- `StabilityEvaluator`: R(T, T^mp) and RUC of perturbed predictions against the clean ones
  of the same boxes (stable-heatmap paper).

`default_metric(meta)` is the one rule for a data set's headline metric; `make_evaluators`
picks the evaluators of a condition.
"""
from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robustpose_bench.datasets.meta import DatasetMeta
from robustpose_bench.datasets.types import Dataset, Sample
from robustpose_bench.evaluation.predictions import ImagePrediction, Predictions
from robustpose_bench.geometry import box_to_center_scale
from robustpose_bench.render.conditions import Condition

#: Model input aspect ratio (width / height) assumed for the OKS-NMS areas when an adapter does
#: not declare its `input_size` (the 192 x 256 of the reference configs).
DEFAULT_ASPECT = 192 / 256
METRICS = ("AP", "PCKh")


def default_metric(meta: DatasetMeta) -> str:
    """The headline metric of a data set: PCKh for MPII and for layouts without OKS sigmas,
    keypoint AP (OKS) otherwise."""
    return "PCKh" if meta.name == "mpii" or meta.sigmas is None else "AP"


def aspect_ratio(adapter: Any) -> float:
    """Model input width / height of an adapter (DEFAULT_ASPECT when it declares none)."""
    size = getattr(adapter, "input_size", None)
    return float(size[0]) / float(size[1]) if size is not None else DEFAULT_ASPECT


def _percent(stats: Mapping[str, float]) -> dict[str, float | None]:
    """Fractions -> percent; pycocotools' -1 (no GT in that area range) becomes None."""
    return {k: (100.0 * float(v) if v >= 0 else None) for k, v in stats.items()}


# --------------------------------------------------------------------------- results files
def coco_results(dataset: Dataset, predictions: Predictions, aspect: float,
                 postprocess: bool = True) -> list[dict]:
    """COCO results json entries after the reference post-processing (PROTOCOL.md section 3):
    score = box score x mean keypoint confidence above 0.2, then OKS-NMS at 0.9 per image
    with area = (scale * 200).prod(). postprocess=False (bottom-up models) keeps the
    adapter's persons and scores as they are. Images in sample order."""
    from robustpose_bench.metrics.postprocess import rescore_and_nms

    samples = dataset.samples
    preds = predictions.keypoints
    order = [i for i in sorted(preds) if len(preds[i])]
    if not order:
        return []
    kp = np.concatenate([preds[i] for i in order])
    bx = np.concatenate([predictions.boxes[i] for i in order])
    bs = np.concatenate([predictions.scores[i] for i in order])
    image_ids = np.concatenate([np.full(len(preds[i]), samples[i].image_id) for i in order])
    _, scale = box_to_center_scale(bx, aspect)
    areas = np.prod(scale * 200.0, axis=1)
    if postprocess:
        keep, new_scores = rescore_and_nms(kp, bs, areas, image_ids, sigmas=dataset.meta.sigmas)
    else:
        keep, new_scores = np.arange(len(kp)), bs
    return [{"image_id": int(image_ids[j]), "category_id": 1,
             "keypoints": [round(float(v), 3) for v in kp[j].reshape(-1)],
             "score": float(new_scores[j])} for j in keep]


def mpii_predictions(dataset: Dataset, predictions: Predictions) -> np.ndarray:
    """(N_records, K, 2) 0-based predictions in the MPII file's record order (GT boxes)."""
    out = np.zeros((dataset.num_persons, dataset.meta.num_keypoints, 2))
    for i, s in enumerate(dataset.samples):
        p = predictions.keypoints.get(i)
        if p is None:
            continue
        for j, person in enumerate(s.persons):
            out[person.id] = p[j, :, :2]
    return out


# --------------------------------------------------------------------------- evaluators
class DatasetEvaluator:
    """Base class: accumulates `ImagePrediction`s between `reset` and `evaluate`.

    `files()` gives, after `evaluate`, the documents worth keeping beside the scores on disk
    (name -> (json object, indent)), e.g. the COCO results file."""

    def __init__(self) -> None:
        self.predictions = Predictions()

    def reset(self) -> None:
        self.predictions = Predictions()

    def process(self, inputs: Sequence[Sample], outputs: Sequence[ImagePrediction]) -> None:
        """Record the predictions `outputs` of the images `inputs` (same order)."""
        if len(inputs) != len(outputs):
            raise ValueError(f"{type(self).__name__}.process: {len(inputs)} inputs but "
                             f"{len(outputs)} outputs")
        for out in outputs:
            self.predictions.add(out)

    def evaluate(self) -> dict[str, Any]:
        raise NotImplementedError

    def files(self) -> dict[str, tuple[Any, int | None]]:
        return {}


class KeypointAPEvaluator(DatasetEvaluator):
    """COCO keypoint AP / AR in percent (None where pycocotools gives -1).

    aspect: the model input width / height (OKS-NMS areas). postprocess: the reference
    rescoring + OKS-NMS (False for bottom-up models). use_area / backend: as
    metrics.coco.KeypointEvaluator. gt_images: score against the GT of these image ids only
    (e.g. the first N images of a validation set); None = the whole annotation file. The GT
    is parsed once per evaluator and reused across conditions.
    """

    def __init__(self, dataset: Dataset, aspect: float = DEFAULT_ASPECT, postprocess: bool = True,
                 use_area: bool = True, backend: str = "auto",
                 gt_images: Collection[int] | None = None):
        super().__init__()
        if dataset.ann_file is None:
            raise ValueError(f"{dataset.meta.name}: keypoint AP needs the annotation file of "
                             "the data set")
        self.dataset, self.aspect, self.postprocess = dataset, float(aspect), postprocess
        self.use_area, self.backend = use_area, backend
        self.gt_images = None if gt_images is None else set(gt_images)
        self._scorer = None
        self.results: list[dict] = []

    def scorer(self):
        """The metrics.coco.KeypointEvaluator of this data set's GT (built on first use)."""
        if self._scorer is None:
            from robustpose_bench.metrics.coco import KeypointEvaluator

            gt: str | dict = str(self.dataset.ann_file)
            if self.gt_images is not None:
                gt = _subset_gt(self.dataset.ann_file, self.gt_images)
            sig = self.dataset.meta.sigmas
            self._scorer = KeypointEvaluator(gt, tuple(sig) if sig is not None else None,
                                             self.use_area, self.backend)
        return self._scorer

    def evaluate(self) -> dict[str, float | None]:
        self.results = coco_results(self.dataset, self.predictions, self.aspect,
                                    self.postprocess)
        return _percent(self.scorer().evaluate(self.results))

    def files(self) -> dict[str, tuple[Any, int | None]]:
        return {"results.json": (self.results, None)}


def _subset_gt(ann_file: Path, image_ids: set[int]) -> dict:
    data = json.loads(Path(ann_file).read_text(encoding="utf-8"))
    data["images"] = [im for im in data["images"] if im["id"] in image_ids]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in image_ids]
    return data


class PCKhEvaluator(DatasetEvaluator):
    """MPII PCKh in percent: PCKh, PCKh@0.1 and the joint groups (GT boxes, record order)."""

    def __init__(self, dataset: Dataset):
        super().__init__()
        self.dataset = dataset
        self.preds = np.zeros((0, dataset.meta.num_keypoints, 2))

    def evaluate(self) -> dict[str, float]:
        from robustpose_bench.metrics.pckh import pckh_dataset

        self.preds = mpii_predictions(self.dataset, self.predictions)
        return {k: 100.0 * float(v) for k, v in pckh_dataset(self.dataset, self.preds).items()}

    def files(self) -> dict[str, tuple[Any, int | None]]:
        return {"results.json": ({"preds_0based": np.round(self.preds, 3).tolist(),
                                  "order": "records of the MPII annotation file"}, 1)}


class AttackedKeypointAPEvaluator(DatasetEvaluator):
    """`AP_keypoint` of a keypoint attack: AP with every keypoint but the attacked one zeroed
    in GT and predictions (Pytel et al.); None for part attacks or without predictions."""

    def __init__(self, dataset: Dataset, condition: Condition, aspect: float = DEFAULT_ASPECT,
                 postprocess: bool = True):
        super().__init__()
        self.dataset, self.aspect, self.postprocess = dataset, float(aspect), postprocess
        self.spec = condition.attack_spec(dataset.meta)

    def evaluate(self) -> dict[str, float | None]:
        from robustpose_bench.occlusion import keypoint_ap

        if not self.spec.target.is_keypoint:
            return {"AP_keypoint": None}
        results = coco_results(self.dataset, self.predictions, self.aspect, self.postprocess)
        if not results:
            return {"AP_keypoint": None}
        ap = keypoint_ap(str(self.dataset.ann_file), results, [self.spec.target.indices[0]],
                         sigmas=self.dataset.meta.sigmas)["AP"]
        return {"AP_keypoint": 100.0 * float(ap) if ap >= 0 else None}


class StabilityEvaluator(DatasetEvaluator):
    """{"stability": R, RUC, ...} of the perturbed predictions against `reference` (the clean
    predictions of the same boxes; images present in both are paired)."""

    def __init__(self, reference: Predictions):
        super().__init__()
        self.reference = reference

    def evaluate(self) -> dict[str, dict]:
        from robustpose_bench.metrics.stability import stability_metrics

        clean, pert = self.reference.keypoints, self.predictions.keypoints
        keys = sorted(set(clean) & set(pert))
        a = np.concatenate([clean[i] for i in keys]) if keys else np.zeros((0, 0, 3))
        b = np.concatenate([pert[i] for i in keys]) if keys else np.zeros((0, 0, 3))
        bx = (np.concatenate([self.reference.boxes[i] for i in keys]) if keys
              else np.zeros((0, 4)))
        return {"stability": stability_metrics(a[..., :2], b[..., :2], boxes=bx)}


class EvaluatorGroup(DatasetEvaluator):
    """Several evaluators as one (detectron2's DatasetEvaluators): the metric dicts are merged
    in order, a key given twice is an error."""

    def __init__(self, evaluators: Sequence[DatasetEvaluator]):
        super().__init__()
        self.evaluators = list(evaluators)

    def reset(self) -> None:
        for ev in self.evaluators:
            ev.reset()

    def process(self, inputs: Sequence[Sample], outputs: Sequence[ImagePrediction]) -> None:
        for ev in self.evaluators:
            ev.process(inputs, outputs)

    def evaluate(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for ev in self.evaluators:
            part = ev.evaluate()
            twice = sorted(set(out) & set(part))
            if twice:
                raise ValueError(f"evaluators disagree: {', '.join(twice)} given twice")
            out.update(part)
        return out

    def files(self) -> dict[str, tuple[Any, int | None]]:
        out: dict[str, tuple[Any, int | None]] = {}
        for ev in self.evaluators:
            out.update(ev.files())
        return out


def metric_evaluator(dataset: Dataset, metric: str, aspect: float = DEFAULT_ASPECT,
                     postprocess: bool = True, use_area: bool = True, backend: str = "auto",
                     gt_images: Collection[int] | None = None) -> DatasetEvaluator:
    """The evaluator of a headline metric ("AP" or "PCKh")."""
    if metric == "PCKh":
        return PCKhEvaluator(dataset)
    if metric == "AP":
        return KeypointAPEvaluator(dataset, aspect, postprocess, use_area, backend, gt_images)
    raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
