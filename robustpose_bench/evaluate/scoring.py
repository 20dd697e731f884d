"""Scoring of one condition's stored predictions: top-down post-processing + AP (COCO-format
data sets) or PCKh (MPII), the robustness aggregates, stability pairs, crop-mode attack hooks."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from robustpose_bench.datasets.types import Dataset
from robustpose_bench.evaluate.boxes import SampleBoxes
from robustpose_bench.evaluate.store import condition_dir, load_raw
from robustpose_bench.geometry import box_to_center_scale
from robustpose_bench.io import atomic_write_json
from robustpose_bench.render.conditions import Condition

DEFAULT_ASPECT = 192 / 256


def _aspect(adapter) -> float:
    size = getattr(adapter, "input_size", None)
    return float(size[0]) / float(size[1]) if size is not None else DEFAULT_ASPECT


def coco_results(dataset: Dataset, preds: dict[int, np.ndarray], boxes: dict[int, np.ndarray],
                 scores: dict[int, np.ndarray], aspect_ratio: float,
                 postprocess: bool = True) -> list[dict]:
    """COCO results json entries after the reference post-processing (PROTOCOL.md section 3):
    score = box score x mean keypoint confidence above 0.2, then OKS-NMS at 0.9 per image
    with area = (scale * 200).prod(). postprocess=False (bottom-up models) keeps the
    adapter's persons and scores as they are."""
    from robustpose_bench.metrics.postprocess import rescore_and_nms

    samples = dataset.samples
    order = [i for i in sorted(preds) if len(preds[i])]
    if not order:
        return []
    kp = np.concatenate([preds[i] for i in order])
    bx = np.concatenate([boxes[i] for i in order])
    bs = np.concatenate([scores[i] for i in order])
    image_ids = np.concatenate([np.full(len(preds[i]), samples[i].image_id) for i in order])
    _, scale = box_to_center_scale(bx, aspect_ratio)
    areas = np.prod(scale * 200.0, axis=1)
    if postprocess:
        keep, new_scores = rescore_and_nms(kp, bs, areas, image_ids, sigmas=dataset.meta.sigmas)
    else:
        keep, new_scores = np.arange(len(kp)), bs
    return [{"image_id": int(image_ids[j]), "category_id": 1,
             "keypoints": [round(float(v), 3) for v in kp[j].reshape(-1)],
             "score": float(new_scores[j])} for j in keep]


def mpii_predictions(dataset: Dataset, preds: dict[int, np.ndarray]) -> np.ndarray:
    """(N_records, 16, 2) 0-based predictions in the MPII file's record order (GT boxes)."""
    n = dataset.num_persons
    out = np.zeros((n, dataset.meta.num_keypoints, 2))
    for i, s in enumerate(dataset.samples):
        p = preds.get(i)
        if p is None:
            continue
        for j, person in enumerate(s.persons):
            out[person.id] = p[j, :, :2]
    return out


def score_condition(dataset: Dataset, preds, boxes, scores, config, adapter, cdir: Path,
                    condition: Condition | None = None) -> dict:
    """Metrics of one condition in percent; writes the results file beside them.

    For a keypoint attack, `AP_keypoint` is the AP restricted to the attacked keypoint
    (other keypoints zeroed in GT and predictions, Pytel et al.'s per-keypoint evaluation).
    """
    if config.metric == "PCKh":
        from robustpose_bench.metrics.pckh import pckh_dataset

        mp = mpii_predictions(dataset, preds)
        atomic_write_json(cdir / "results.json",
                          {"preds_0based": np.round(mp, 3).tolist(),
                           "order": "records of the MPII annotation file"})
        res = pckh_dataset(dataset, mp)
        return {k: 100.0 * float(v) for k, v in res.items()}
    results = coco_results(dataset, preds, boxes, scores, _aspect(adapter), config.postprocess)
    atomic_write_json(cdir / "results.json", results, indent=None)
    stats = _evaluator(dataset, config.use_area, config.backend).evaluate(results)
    # percent; pycocotools' -1 (no GT in that area range) becomes None
    out = {k: (100.0 * float(v) if v >= 0 else None) for k, v in stats.items()}
    if condition is not None and condition.kind == "attack":
        out["AP_keypoint"] = _attacked_keypoint_ap(dataset, results, condition)
    return out


def _attacked_keypoint_ap(dataset: Dataset, results: list[dict], condition: Condition
                          ) -> float | None:
    from robustpose_bench.occlusion import keypoint_ap, parse_attack_id

    spec = parse_attack_id(condition.id.removeprefix("attack/"), dataset.meta)
    if not spec.target.is_keypoint or not results:
        return None
    ap = keypoint_ap(str(dataset.ann_file), results, [spec.target.indices[0]],
                     sigmas=dataset.meta.sigmas)["AP"]
    return 100.0 * float(ap) if ap >= 0 else None


_EVALUATORS: dict[tuple, object] = {}


def _evaluator(dataset: Dataset, use_area: bool, backend: str):
    """One KeypointEvaluator per (GT file, options): the GT is parsed once per sweep."""
    from robustpose_bench.metrics.coco import KeypointEvaluator

    sig = tuple(dataset.meta.sigmas) if dataset.meta.sigmas is not None else None
    key = (str(dataset.ann_file), sig, use_area, backend)
    if key not in _EVALUATORS:
        _EVALUATORS.clear()
        _EVALUATORS[key] = KeypointEvaluator(str(dataset.ann_file), sig, use_area, backend)
    return _EVALUATORS[key]


def aggregate(per_condition: dict[str, dict[str, float]], clean: float, allow_partial: bool) -> dict:
    from robustpose_bench.metrics.robustness import aggregate as agg

    table = {c: {int(s): v for s, v in sev.items()} for c, sev in per_condition.items()}
    out = agg(table, clean, allow_partial=allow_partial)
    out.pop("clean", None)
    # summary.json states rPC in percent like the papers (metrics returns the ratio)
    out["rPC"] = 100.0 * out["rPC"] if out.get("rPC") is not None else None
    return json.loads(json.dumps(out, default=float))


def crop_hook_factory(dataset: Dataset, boxes: list[SampleBoxes], condition: Condition, adapter):
    """Per-image crop-mode attack hooks and the shared counter (Pytel et al. protocol)."""
    from robustpose_bench.occlusion import AttackCounts, make_crop_hook, parse_attack_id
    from robustpose_bench.occlusion.attack import persons_arrays

    spec = parse_attack_id(condition.id.removeprefix("attack/"), dataset.meta)
    counts = AttackCounts()
    is_gt = all(np.all(b.scores == 1.0) for b in boxes)
    k = dataset.meta.num_keypoints

    def hook_for(i: int):
        sample, sb = dataset.samples[i], boxes[i]
        kps, pboxes, keep = persons_arrays(sample.persons, k)
        if is_gt:
            pos = {p: j for j, p in enumerate(keep)}
            match = np.array([pos.get(int(g), -1) for g in sb.gt_index], dtype=np.int64)
            hook, _ = make_crop_hook(sb.boxes, kps, None, spec, match=match, counts=counts)
        else:
            hook, _ = make_crop_hook(sb.boxes, kps, pboxes, spec, counts=counts)
        return hook

    return hook_for, counts


def stability_summary(out: Path, conditions: list[Condition]) -> dict:
    """R(T, T^mp) and RUC of every stability condition against clean, same boxes."""
    from robustpose_bench.metrics.stability import stability_metrics

    clean, cboxes, _ = load_raw(condition_dir(out, Condition.clean()) / "raw.npz")
    result = {}
    for cond in conditions:
        pert, _, _ = load_raw(condition_dir(out, cond) / "raw.npz")
        keys = sorted(set(clean) & set(pert))
        a = np.concatenate([clean[i] for i in keys]) if keys else np.zeros((0, 0, 3))
        b = np.concatenate([pert[i] for i in keys]) if keys else np.zeros((0, 0, 3))
        bx = np.concatenate([cboxes[i] for i in keys]) if keys else np.zeros((0, 4))
        result[cond.id] = stability_metrics(a[..., :2], b[..., :2], boxes=bx)
        hm = condition_dir(out, cond) / "heatmap_stats.json"
        hm_clean = condition_dir(out, Condition.clean()) / "heatmap_stats.json"
        if hm.is_file() and hm_clean.is_file():
            result[cond.id]["heatmaps"] = {"clean": json.loads(hm_clean.read_text()),
                                           "perturbed": json.loads(hm.read_text())}
    return result
