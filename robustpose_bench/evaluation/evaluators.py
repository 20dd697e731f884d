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
  of the same boxes (stable-heatmap paper), over the labelled keypoints of the persons
  matched to a GT person.

`default_metric(meta)` is the one rule for a data set's headline metric; `make_evaluators`
picks the evaluators of a condition.
"""
from __future__ import annotations

import abc
import json
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robustpose_bench.datasets.meta import DatasetMeta
from robustpose_bench.datasets.types import Dataset, Sample
from robustpose_bench.evaluation.predictions import ImagePrediction, Predictions
from robustpose_bench.geometry import BOX_ENLARGE, PIXEL_STD, box_to_center_scale
from robustpose_bench.inference_protocol import DEFAULT_INFERENCE_PROTOCOL, get_inference_protocol
from robustpose_bench.render.conditions import Condition

METRICS = ("AP", "PCKh")


def default_metric(meta: DatasetMeta) -> str:
    """The headline metric of a data set: PCKh for MPII and for layouts without OKS sigmas,
    keypoint AP (OKS) otherwise."""
    return "PCKh" if meta.name == "mpii" or meta.sigmas is None else "AP"


def aspect_ratio(adapter: Any) -> float | None:
    """Model input width / height of an adapter (None when it declares no `input_size`)."""
    size = getattr(adapter, "input_size", None)
    return float(size[0]) / float(size[1]) if size is not None else None


# --------------------------------------------------------------------------- OKS-NMS areas
def oks_nms_area_rule(input_size: Sequence[int] | None,
                      inference_protocol: str = DEFAULT_INFERENCE_PROTOCOL) -> dict[str, Any]:
    """How the OKS-NMS areas of a run are computed (recorded in summary.json).

    The reference area is `(scale * 200).prod()` of the top-down box: the person box padded to
    the model's input aspect ratio, then enlarged 1.25x. A model that declares its
    `input_size` (width, height) gets exactly that ("model_aspect"); one that declares none
    cannot be padded to an aspect it does not have, so its box is taken at its own aspect
    ("box_aspect": (1.25 w) x (1.25 h)). dtype: the inference protocol's precision (the
    reference computes the scale, hence the area, in float32)."""
    dtype = np.dtype(get_inference_protocol(inference_protocol).dtype).name
    if input_size:
        w, h = (float(v) for v in input_size)
        return {"rule": "model_aspect", "aspect": w / h, "dtype": dtype}
    return {"rule": "box_aspect", "aspect": None, "dtype": dtype}


def nms_areas(boxes: np.ndarray, aspect: float | None, dtype: Any = np.float64) -> np.ndarray:
    """OKS-NMS areas (N,) in square image pixels of boxes (N, 4) xywh: `(scale * 200).prod()`
    with the scale of the box padded to `aspect` (None: its own aspect) and x1.25, computed in
    `dtype` (float32: the reference's `np.prod(s * 200, 1)` on its float32 scale)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    dt = np.dtype(dtype).type
    if aspect is None:
        scale = (b[:, 2:4] * (1.0 / PIXEL_STD)).astype(dt) * dt(BOX_ENLARGE)
    else:
        _, scale = box_to_center_scale(b, aspect, dtype=dt)
    return np.prod(scale * dt(PIXEL_STD), axis=1).astype(np.float64)


def _percent(stats: Mapping[str, float]) -> dict[str, float | None]:
    """Fractions -> percent; pycocotools' -1 (no GT in that area range) becomes None."""
    return {k: (100.0 * float(v) if v >= 0 else None) for k, v in stats.items()}


# --------------------------------------------------------------------------- results files
def coco_results(dataset: Dataset, predictions: Predictions, aspect: float | None,
                 postprocess: bool = True, area_dtype: Any = np.float64) -> list[dict]:
    """COCO results json entries after the reference post-processing (PROTOCOL.md section 3):
    score = box score x mean keypoint confidence above 0.2, then OKS-NMS at 0.9 per image
    with area = (scale * 200).prod() (`nms_areas`: the box padded to `aspect`, None: to its own
    aspect; in `area_dtype`). postprocess=False (bottom-up models) keeps the adapter's persons
    and scores as they are. Images in sample order."""
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
    if postprocess:
        areas = nms_areas(bx, aspect, area_dtype)
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
class DatasetEvaluator(abc.ABC):
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

    @abc.abstractmethod
    def evaluate(self) -> dict[str, Any]:
        """The scores of everything processed since `reset` (keys depend on the metric)."""

    def files(self) -> dict[str, tuple[Any, int | None]]:
        return {}


class KeypointAPEvaluator(DatasetEvaluator):
    """COCO keypoint AP / AR in percent (None where pycocotools gives -1).

    aspect: the model input width / height (OKS-NMS areas; None: the box at its own aspect,
    `oks_nms_area_rule`). postprocess: the reference rescoring + OKS-NMS (False for bottom-up
    models). use_area / backend: as metrics.coco.KeypointEvaluator. gt_images: score against
    the GT of these image ids only (e.g. the first N images of a validation set); None = the
    whole annotation file. inference_protocol: its precision is that of the OKS-NMS areas.
    The GT is parsed once per evaluator and reused across conditions.
    """

    def __init__(self, dataset: Dataset, aspect: float | None = None, postprocess: bool = True,
                 use_area: bool = True, backend: str = "auto",
                 gt_images: Collection[int] | None = None,
                 inference_protocol: str = DEFAULT_INFERENCE_PROTOCOL):
        super().__init__()
        if dataset.ann_file is None:
            raise ValueError(f"{dataset.meta.name}: keypoint AP needs the annotation file of "
                             "the data set")
        self.dataset, self.postprocess = dataset, postprocess
        self.aspect = None if aspect is None else float(aspect)
        self.area_dtype = get_inference_protocol(inference_protocol).dtype
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
                                    self.postprocess, self.area_dtype)
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

    def __init__(self, dataset: Dataset, condition: Condition, aspect: float | None = None,
                 postprocess: bool = True, inference_protocol: str = DEFAULT_INFERENCE_PROTOCOL):
        super().__init__()
        self.dataset, self.postprocess = dataset, postprocess
        self.aspect = None if aspect is None else float(aspect)
        self.area_dtype = get_inference_protocol(inference_protocol).dtype
        self.spec = condition.attack_spec(dataset.meta)

    def evaluate(self) -> dict[str, float | None]:
        from robustpose_bench.occlusion import keypoint_ap

        if not self.spec.target.is_keypoint:
            return {"AP_keypoint": None}
        results = coco_results(self.dataset, self.predictions, self.aspect, self.postprocess,
                               self.area_dtype)
        if not results:
            return {"AP_keypoint": None}
        ap = keypoint_ap(str(self.dataset.ann_file), results, [self.spec.target.indices[0]],
                         sigmas=self.dataset.meta.sigmas)["AP"]
        return {"AP_keypoint": 100.0 * float(ap) if ap >= 0 else None}


class StabilityEvaluator(DatasetEvaluator):
    """{"stability": R, RUC, ...} of the perturbed predictions against `reference` (the clean
    predictions of the same boxes; images present in both are paired box by box).

    Only what is labelled counts (stable-heatmap paper: the predicted keypoints of the
    persons of the validation set): a box enters when it is matched to a GT person, a
    keypoint when that person's keypoint is labelled (v > 0). gt_index: sample index -> (N_i,)
    the GT person of each box (`SampleBoxes.gt_index`, -1: unmatched); None: boxes are
    matched to the GT persons of the processed samples here (`boxes.match_to_gt`).
    """

    def __init__(self, reference: Predictions, gt_index: Mapping[int, np.ndarray] | None = None):
        super().__init__()
        self.reference = reference
        self.gt_index = gt_index
        self.samples: dict[int, Sample] = {}

    def reset(self) -> None:
        super().reset()
        self.samples = {}

    def process(self, inputs: Sequence[Sample], outputs: Sequence[ImagePrediction]) -> None:
        super().process(inputs, outputs)
        for sample, out in zip(inputs, outputs, strict=True):
            self.samples[out.index] = sample

    def _matched(self, i: int) -> np.ndarray:
        """GT person index per reference box of sample index i (-1: unmatched)."""
        if self.gt_index is not None:
            return np.asarray(self.gt_index.get(i, np.zeros(0, np.int64)), dtype=np.int64)
        from robustpose_bench.evaluation.boxes import match_to_gt

        return match_to_gt(self.samples[i], self.reference.boxes[i], self.reference.scores[i])

    def evaluate(self) -> dict[str, dict]:
        from robustpose_bench.metrics.stability import stability_metrics

        clean, pert = self.reference.keypoints, self.predictions.keypoints
        keys = sorted(set(clean) & set(pert) & set(self.samples))
        rows_c, rows_p, boxes, valid = [], [], [], []
        unmatched = 0
        for i in keys:
            if clean[i].shape != pert[i].shape:
                raise ValueError(f"stability: image {self.samples[i].image_id} has "
                                 f"{len(clean[i])} clean and {len(pert[i])} perturbed persons; "
                                 "stability pairs the predictions of the same boxes (top-down)")
            g = self._matched(i)
            if len(g) != len(clean[i]):
                raise ValueError(f"stability: image {self.samples[i].image_id}: {len(g)} box "
                                 f"matches for {len(clean[i])} predicted persons")
            keep = g >= 0
            unmatched += int((~keep).sum())
            if not keep.any():
                continue
            persons = self.samples[i].persons
            rows_c.append(clean[i][keep])
            rows_p.append(pert[i][keep])
            boxes.append(self.reference.boxes[i][keep])
            valid.append(np.stack([persons[int(j)].keypoints[:, 2] > 0 for j in g[keep]]))
        if rows_c:
            a, b = np.concatenate(rows_c), np.concatenate(rows_p)
            out = stability_metrics(a[..., :2], b[..., :2], boxes=np.concatenate(boxes),
                                    valid=np.concatenate(valid))
        else:
            out = stability_metrics(np.zeros((0, 0, 2)), np.zeros((0, 0, 2)))
        out["persons"] = int(sum(len(r) for r in rows_c))
        out["unmatched_boxes"] = unmatched
        return {"stability": out}


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


def metric_evaluator(dataset: Dataset, metric: str, aspect: float | None = None,
                     postprocess: bool = True, use_area: bool = True, backend: str = "auto",
                     gt_images: Collection[int] | None = None,
                     inference_protocol: str = DEFAULT_INFERENCE_PROTOCOL) -> DatasetEvaluator:
    """The evaluator of a headline metric ("AP" or "PCKh")."""
    if metric == "PCKh":
        return PCKhEvaluator(dataset)
    if metric == "AP":
        return KeypointAPEvaluator(dataset, aspect, postprocess, use_area, backend, gt_images,
                                   inference_protocol)
    raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
