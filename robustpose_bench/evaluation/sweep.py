"""The sweep: clean + every condition, one unit each (predict -> evaluator.process ->
evaluator.evaluate -> stored score), then the `Summary` (clean, mPC, rPC, per condition,
attacks, stability) and `per_condition.csv`.

A unit whose score is stored is finished and kept; one whose predictions are stored is
re-scored without the model; both only when the unit's stored fingerprint is the run's
(`check_store` refuses a folder holding another run's conditions, or with `force` drops
them). With `settings.shard` the sweep only predicts its share of the images (merged and
scored by `merge_shards`).
"""
from __future__ import annotations

import csv
import io
import logging
import platform
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from robustpose_bench import __version__
from robustpose_bench.datasets.types import Dataset
from robustpose_bench.evaluation.boxes import SampleBoxes
from robustpose_bench.evaluation.errors import PartialRunError, RunMismatchError
from robustpose_bench.evaluation.evaluators import (
    AttackedKeypointAPEvaluator,
    DatasetEvaluator,
    EvaluatorGroup,
    StabilityEvaluator,
    metric_evaluator,
    oks_nms_area_rule,
)
from robustpose_bench.evaluation.fingerprint import differences
from robustpose_bench.evaluation.predict import Predictor
from robustpose_bench.evaluation.predictions import Predictions
from robustpose_bench.evaluation.settings import RunSettings
from robustpose_bench.evaluation.store import DiskStore, MemoryStore, ResultStore
from robustpose_bench.io import atomic_write_json, atomic_write_text, sha256_file
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.manifest import versions
from robustpose_bench.results import (
    SCHEMA_VERSION,
    Summary,
    condition_fields,
    fingerprint_digest,
)

log = logging.getLogger(__name__)

ATTACK_COUNTS = "attack_counts.json"
HEATMAP_STATS = "heatmap_stats.json"


def make_store(out: str | Path | None, settings: RunSettings) -> ResultStore:
    """A DiskStore under `out`, or (out None) a MemoryStore keeping the clean predictions
    when stability conditions need them."""
    if out is not None:
        return DiskStore(out)
    return MemoryStore(keep={Condition.clean()} if settings.stability_conditions else set())


class Sweep:
    """One model on one data set under `settings` (see RunSettings).

    predictor: the prediction step (None: every unit must find its predictions in `store`,
    as when merging shards). boxes: the person boxes of every sample (same order as the
    data set). force: recompute finished units. progress: progress bars.
    """

    def __init__(self, dataset: Dataset, settings: RunSettings, predictor: Predictor | None,
                 store: ResultStore, boxes: Sequence[SampleBoxes], *, force: bool = False,
                 progress: bool = False):
        self.dataset, self.settings, self.predictor = dataset, settings, predictor
        self.store, self.boxes, self.force, self.progress = store, boxes, force, progress
        indices = list(range(len(dataset)))
        if settings.shard is not None:
            i, n = settings.shard
            indices = indices[i::n]
        self.indices = indices
        size = settings.model.get("input_size")
        self.aspect = float(size[0]) / float(size[1]) if size else None  # None: box aspect
        self._metric: DatasetEvaluator | None = None
        self._clean: Predictions | None = None  # the reference of the stability conditions

    @property
    def units(self) -> list[Condition]:
        return self.settings.all_conditions()

    # ----------------------------------------------------------------- one unit
    def evaluators(self, condition: Condition) -> DatasetEvaluator:
        """The evaluators of a condition: the headline metric, the attacked-keypoint AP of an
        attack (AP data sets), the stability against clean of a stability condition."""
        s = self.settings
        if self._metric is None:
            self._metric = metric_evaluator(self.dataset, s.metric, self.aspect, s.postprocess,
                                            s.use_area, s.backend,
                                            inference_protocol=s.inference_protocol)
        evs: list[DatasetEvaluator] = [self._metric]
        if condition.kind == "attack" and s.metric == "AP":
            evs.append(AttackedKeypointAPEvaluator(self.dataset, condition, self.aspect,
                                                   s.postprocess, s.inference_protocol))
        if condition in s.stability_conditions:
            if self._clean is None:
                self._clean = self.store.load_predictions(Condition.clean())
            if self._clean is None:
                raise ValueError(f"{condition.id}: stability needs the clean predictions, which "
                                 "are not stored")
            evs.append(StabilityEvaluator(self._clean, {i: b.gt_index
                                                        for i, b in enumerate(self.boxes)}))
        return EvaluatorGroup(evs)

    # ----------------------------------------------------------------- fingerprints
    def condition_fields(self, condition: Condition | str) -> dict:
        """The fingerprint fields a stored unit must carry ({} when the run has none)."""
        cid = condition if isinstance(condition, str) else condition.id
        return condition_fields(self.settings.fingerprint, cid) if self.settings.fingerprint \
            else {}

    def check_store(self, where: str | Path | None = None) -> None:
        """Refuse a store holding units measured by another run (other fingerprint, or none):
        RunMismatchError naming each difference; with `force` those units are deleted (the
        requested ones are recomputed, the others are gone). Nothing to check without a
        fingerprint or in memory."""
        if not self.settings.fingerprint:
            return
        stored = self.store.fingerprints()
        wrong = {cid: fp for cid, fp in stored.items()
                 if fp is None or fp.get("sha256") != fingerprint_digest(self.condition_fields(cid))}
        if not wrong:
            return
        if self.force:
            for cid in wrong:
                self.store.remove(cid)
            log.warning("%s: %d condition(s) measured by another run removed (force)",
                        where or "output folder", len(wrong))
            return
        diffs: list[str] = []
        for cid, fp in sorted(wrong.items()):
            if fp is None or not isinstance(fp.get("fields"), dict):
                line = f"{cid} has no fingerprint (written by an older robustpose or damaged)"
                if line not in diffs:
                    diffs.append(line)
                continue
            found = differences(fp["fields"], self.condition_fields(cid)) or [
                f"{cid} has fingerprint {str(fp.get('sha256'))[:12]}, not the hash of its fields"]
            for d in found:
                if d not in diffs:
                    diffs.append(d)
        shown = "; ".join(diffs[:8]) + (f"; ... ({len(diffs)} differences)" if len(diffs) > 8
                                          else "")
        if any(d.startswith("model.weights_sha256") for d in diffs):
            shown += (" - a model without a checkpoint file has new random weights in every "
                      "run: save them and evaluate the checkpoint")
        raise RunMismatchError(
            f"{where or 'the output folder'} holds {len(wrong)} condition(s) measured by another "
            f"run ({shown}); recompute everything with {{option}}, or choose another output "
            "folder", diffs)

    def _finished(self, condition: Condition, score: dict | None) -> bool:
        if score is None or self.force:
            return False
        return condition not in self.settings.stability_conditions or "stability" in score

    def predictions(self, condition: Condition) -> Predictions:
        """Predict the unit's images and store the predictions and side data."""
        if self.predictor is None:
            raise ValueError(f"condition {condition.id}: no stored predictions and no model to "
                             "make them")
        out = self.predictor.predict(condition, self.indices)
        fields = self.condition_fields(condition)
        if fields:
            self.store.save_fingerprint(condition, fields)
        self.store.save_predictions(condition, out.predictions)
        if out.attack_counts is not None:
            self.store.save_json(condition, ATTACK_COUNTS, out.attack_counts)
        if out.heatmap_stats is not None:
            self.store.save_json(condition, HEATMAP_STATS, out.heatmap_stats)
        return out.predictions

    def run_unit(self, condition: Condition) -> dict | None:
        """predict -> process -> evaluate -> store one condition; returns its score (None
        for a shard run, which stops after storing the predictions)."""
        store = self.store
        if self.settings.shard is not None:
            if self.force or not store.has_predictions(condition):
                self.predictions(condition)
            return None
        score = store.load_score(condition)
        if self._finished(condition, score):
            return score
        # forced: predict again, unless there is no model (merging: the merged predictions)
        preds = None if self.force and self.predictor is not None \
            else store.load_predictions(condition)
        if preds is None:
            preds = self.predictions(condition)
        ev = self.evaluators(condition)
        ev.reset()
        outputs = list(preds.images())
        ev.process([self.dataset.samples[o.index] for o in outputs], outputs)
        score = ev.evaluate()
        for name, (obj, indent) in ev.files().items():
            store.write_file(condition, name, obj, indent)
        store.save_score(condition, score)
        return score

    # ----------------------------------------------------------------- the sweep
    def run(self, out: str | Path | None = None) -> Summary | None:
        """Check the store (`check_store`), record the settings (`<out>/run.json`), run every
        unit in order, then the Summary (written under `out` with per_condition.csv when
        given); None for a shard run (writes `shard.json` instead)."""
        start = time.perf_counter()
        self.check_store(out)
        if out is not None:
            self.settings.save(out)
        units = self.units
        bar = tqdm(total=len(units), unit="cond", desc="conditions", disable=not self.progress,
                   dynamic_ncols=True)
        scores: dict[Condition, dict | None] = {}
        try:
            for cond in units:
                scores[cond] = self.run_unit(cond)
                bar.update(1)
        finally:
            bar.close()
        log.info("sweep of %d conditions finished in %.1f s", len(units),
                 time.perf_counter() - start)
        if self.settings.shard is not None:
            if out is not None:
                atomic_write_json(Path(out) / "shard.json", {
                    "shard": list(self.settings.shard), "conditions": [c.id for c in units]})
            return None
        summary = self.summary(scores)
        if out is not None:
            summary.save(out)
            atomic_write_text(Path(out) / "per_condition.csv", per_condition_csv(summary))
        return summary

    def summary(self, scores: dict[Condition, dict]) -> Summary:
        """The Summary of the unit scores (percent)."""
        from robustpose_bench.metrics.robustness import aggregate

        s, dataset, metric = self.settings, self.dataset, self.settings.metric
        clean = scores[Condition.clean()]
        per_condition: dict[str, dict[str, float]] = {}
        for c in s.conditions:
            if c.kind == "corruption":
                per_condition.setdefault(c.name, {})[str(c.severity)] = scores[c][metric]
        table = {c: {int(sev): v for sev, v in row.items()} for c, row in per_condition.items()}
        check_partial(s.conditions, s.allow_partial)
        agg = aggregate(table, clean[metric], allow_partial=True)
        agg.pop("clean", None)
        if agg["mPC"] is None:  # no benchmark corruption asked for: no mPC, nothing partial
            agg.update(partial=False, missing=[])
        # the summary states rPC in percent like the papers (metrics returns the ratio)
        agg["rPC"] = 100.0 * agg["rPC"] if agg.get("rPC") is not None else None
        attacks = {}
        for c in s.conditions:
            if c.kind == "attack":
                attacks[c.attack_id] = dict(scores[c])
                counts = self.store.load_json(c, ATTACK_COUNTS)
                if counts is not None:
                    attacks[c.attack_id]["counts"] = counts
        stability = {}
        hm_clean = self.store.load_json(Condition.clean(), HEATMAP_STATS)
        for c in s.stability_conditions:
            entry = dict(scores[c]["stability"])
            hm = self.store.load_json(c, HEATMAP_STATS)
            if hm is not None and hm_clean is not None:
                entry["heatmaps"] = {"clean": hm_clean, "perturbed": hm}
            stability[c.id] = entry
        return Summary(
            schema_version=SCHEMA_VERSION, metric=metric, units="percent",
            clean=clean[metric], clean_metrics=clean, **_json_numbers(agg),
            per_condition=per_condition, attacks=attacks or None,
            stability=stability or None,
            model=dict(s.model) or {"name": "model"},
            dataset={"name": dataset.meta.name, "ann_file": str(dataset.ann_file),
                     "ann_sha256": sha256_file(dataset.ann_file) if dataset.ann_file else None,
                     "num_images": len(dataset), "num_persons": dataset.num_persons,
                     "num_boxes": int(sum(len(b) for b in self.boxes))},
            boxes=s.boxes_name,
            protocol={"name": s.protocol.name, "seed": s.protocol.seed,
                      "on_the_fly": s.rendered_root is None, "format": s.protocol.format,
                      "quality": s.protocol.quality, "attack_mode": s.attack_mode,
                      "attack_mode_requested": s.attack_mode_requested,
                      "inference_protocol": s.inference_protocol},
            metric_options={"use_area": bool(s.use_area) if metric == "AP" else None,
                            "postprocess": bool(s.postprocess),
                            "oks_nms_area": oks_nms_area_rule(s.model.get("input_size"),
                                                              s.inference_protocol)
                            if metric == "AP" else None,
                            "stability_set": s.stability_set if s.stability_conditions
                            else None},
            manifest=dict(s.benchmark),
            fingerprint=({"sha256": fingerprint_digest(s.fingerprint), "fields": s.fingerprint}
                         if s.fingerprint else None),
            versions={"robustpose_bench": __version__, **versions(),
                      "platform": platform.platform()},
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def check_partial(conditions: Sequence[Condition], allow_partial: bool) -> None:
    """mPC needs all 15 x 5 benchmark conditions once any of them is asked for: a run with
    some but not all raises PartialRunError (before anything is computed, and again when
    summarising) unless `allow_partial`. A run with none (clean only, attacks, held-out
    corruptions) has no mPC and needs nothing."""
    from robustpose_bench.names import CORRUPTIONS, SEVERITIES

    if allow_partial:
        return
    have = {(c.name, c.severity) for c in conditions if c.kind == "corruption"}
    if not any(name in CORRUPTIONS for name, _ in have):
        return
    missing = [f"{c}/{s}" for c in CORRUPTIONS for s in SEVERITIES if (c, s) not in have]
    if missing:
        shown = ", ".join(missing[:6]) + (f", ... ({len(missing)} in all)" if len(missing) > 6
                                          else "")
        raise PartialRunError(f"missing benchmark conditions: {shown}; mPC needs all "
                              f"{len(CORRUPTIONS) * len(SEVERITIES)}: evaluate them, or pass "
                              "{option} to report a partial result (marked partial)", missing)


def _json_numbers(agg: dict) -> dict:
    """The aggregates with NumPy scalars as Python floats (what json.dumps accepts)."""
    import json

    return json.loads(json.dumps(agg, default=float))


def per_condition_csv(summary: Summary) -> str:
    """`condition,corruption,severity,<metric>` rows: clean, each corruption condition, each
    attack (3 decimals, percent)."""
    metric = summary.metric
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["condition", "corruption", "severity", metric])
    w.writerow(["clean", "", "", f"{summary.clean:.3f}"])
    for name, sev in (summary.per_condition or {}).items():
        for s, v in sorted(sev.items()):
            w.writerow([f"{name}/{s}", name, s, f"{v:.3f}"])
    for aid, sc in (summary.attacks or {}).items():
        w.writerow([f"attack/{aid}", "", "", f"{sc[metric]:.3f}"])
    return buf.getvalue()
