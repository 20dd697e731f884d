"""Per-keypoint AP breakdown of an attack: COCO keypoint AP restricted to one keypoint (or any
subset) by zeroing all other keypoints in GT and predictions, as Pytel et al.'s `CustomEval`
does (their Figs. 5, 6 and 8; PROTOCOL.md section 7).

Faithful details: the zeroing happens after pycocotools' `_prepare`, so a GT person's
`ignore` flag still comes from its original `num_keypoints` and predicted areas (APM / APL
filtering) from the full predicted pose. A GT person whose kept keypoints are all unlabelled
is then matched by the box-distance fallback of `computeOks` and usually counts as a miss;
`recount=True` instead ignores such persons (a cleaner "AP on that keypoint" that we offer
as an option, not the paper's number).
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from robustpose_bench.datasets.meta import DatasetMeta

STAT_NAMES = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")


def _load(obj: str | Path | dict | list) -> dict | list:
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        try:
            with path.open("rb") as f:
                return json.load(f)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read {path}: {exc}") from None
    return obj


def _zero_others(flat: list, keep: set[int]) -> list:
    k = len(flat) // 3
    out = list(flat)
    for i in range(k):
        if i not in keep:
            out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = 0
    return out


def _check_keep(keep: Sequence[int], k: int) -> set[int]:
    s = {int(i) for i in keep}
    if not s:
        raise ValueError("keep must name at least one keypoint")
    bad = sorted(i for i in s if not 0 <= i < k)
    if bad:
        raise ValueError(f"keypoint indices {bad} outside 0..{k - 1}")
    return s


def restrict_keypoints(gt: str | Path | dict, results: str | Path | list, keep: Sequence[int],
                       *, recount: bool = False) -> tuple[dict, list]:
    """Copies of a COCO keypoint GT dict and a results list with every keypoint not in `keep`
    set to (0, 0, 0), for use with any COCO evaluator.

    recount=False keeps each GT's `num_keypoints` (the reference's ignore rule); True sets it
    to the number of kept labelled keypoints. Note: pycocotools' loadRes recomputes predicted
    areas from the zeroed keypoints, so APM/APL can differ from `keypoint_ap` (AP, AP50, AP75
    and AR do not).
    """
    gt_d = copy.deepcopy(_load(gt))
    res = copy.deepcopy(_load(results))
    if not isinstance(gt_d, dict) or "annotations" not in gt_d:
        raise ValueError("gt must be a COCO keypoint dict with 'annotations'")
    if not isinstance(res, list):
        raise ValueError("results must be a list of COCO keypoint results")
    k = None
    for ann in gt_d["annotations"]:
        kp = ann.get("keypoints")
        if not kp:
            continue
        k = len(kp) // 3
        break
    if k is None:
        for r in res:
            k = len(r.get("keypoints", [])) // 3
            break
    keep_s = _check_keep(keep, k or 0)
    for ann in gt_d["annotations"]:
        if ann.get("keypoints"):
            ann["keypoints"] = _zero_others(ann["keypoints"], keep_s)
            if recount:
                ann["num_keypoints"] = int(sum(1 for v in ann["keypoints"][2::3] if v > 0))
    for r in res:
        r["keypoints"] = _zero_others(r["keypoints"], keep_s)
    return gt_d, res


def _restricted_eval_class():
    from pycocotools.cocoeval import COCOeval

    class RestrictedKeypointEval(COCOeval):
        """COCOeval that zeroes all keypoints outside `keep` after `_prepare`."""

        keep: set[int] = set()
        recount: bool = False

        def _prepare(self) -> None:
            super()._prepare()
            for store in (self._gts, self._dts):
                for key, anns in list(store.items()):
                    store[key] = [dict(a) for a in anns]
                    for a in store[key]:
                        if a.get("keypoints"):
                            a["keypoints"] = _zero_others(a["keypoints"], self.keep)
            if self.recount:
                for anns in self._gts.values():
                    for g in anns:
                        if not any(v > 0 for v in (g.get("keypoints") or [])[2::3]):
                            g["ignore"] = 1

    return RestrictedKeypointEval


def keypoint_ap(gt: str | Path | dict, results: str | Path | list, keep: Sequence[int], *,
                sigmas: Sequence[float] | None = None, recount: bool = False) -> dict[str, float]:
    """COCO keypoint AP/AR (fractions 0..1, keys AP, AP50, AP75, APM, APL, AR, AR50, AR75, ARM,
    ARL) with only the keypoints `keep` (0-based indices) counted, via pycocotools.

    gt: COCO keypoint json (path or dict); results: COCO results list (path or list);
    sigmas: (K,) OKS sigmas (default: COCO's 17). Empty results give -1 stats like pycocotools.
    """
    from pycocotools.coco import COCO

    gt_d = _load(gt)
    res = _load(results)
    if not isinstance(gt_d, dict) or "annotations" not in gt_d:
        raise ValueError("gt must be a COCO keypoint dict with 'annotations'")
    if not isinstance(res, list):
        raise ValueError("results must be a list of COCO keypoint results")
    k = len(sigmas) if sigmas is not None else 17
    keep_s = _check_keep(keep, k)
    cls = _restricted_eval_class()
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt_d)
        coco_gt.createIndex()
        if not res:
            return {name: -1.0 for name in STAT_NAMES}
        coco_dt = coco_gt.loadRes(copy.deepcopy(res))
        ev = cls(coco_gt, coco_dt, "keypoints")
        ev.keep = keep_s
        ev.recount = recount
        ev.params.useSegm = None
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {name: float(v) for name, v in zip(STAT_NAMES, ev.stats, strict=True)}


def per_keypoint_ap(gt: str | Path | dict, results: str | Path | list, meta: DatasetMeta,
                    keypoints: Sequence[str] | None = None, *, recount: bool = False
                    ) -> dict[str, dict[str, float]]:
    """{keypoint name: keypoint_ap stats} for each keypoint (default: all of `meta`), the
    paper's per-keypoint breakdown (e.g. the AP of each keypoint while the nose is attacked)."""
    names = list(meta.keypoint_names) if keypoints is None else list(keypoints)
    sigmas = meta.sigmas
    if sigmas is None:
        raise ValueError(f"{meta.name} has no OKS sigmas; the per-keypoint AP needs them")
    gt_d, res = _load(gt), _load(results)
    return {n: keypoint_ap(gt_d, res, [meta.keypoint_index(n)], sigmas=sigmas, recount=recount)
            for n in names}


def remaining_keypoints(meta: DatasetMeta, part: str) -> list[int]:
    """Indices of the keypoints outside part `part`: restrict to these for the AP of the
    keypoints that stay visible under a part attack (a simplification of the reference, which
    drops the keypoints inside each person's part box)."""
    from robustpose_bench.occlusion.targets import attack_part_groups

    groups = attack_part_groups(meta)
    if part not in groups:
        raise ValueError(f"unknown part {part!r} for {meta.name}; valid: {', '.join(groups)}")
    inside = set(groups[part])
    return [i for i in range(meta.num_keypoints) if i not in inside]
