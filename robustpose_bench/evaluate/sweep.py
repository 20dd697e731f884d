"""`robustpose evaluate`: clean + every requested condition, resumable per condition,
shardable over machines, scored into `summary.json` and `per_condition.csv`."""
from __future__ import annotations

import csv
import io
import logging
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm import tqdm

from robustpose_bench import __version__
from robustpose_bench.adapters.base import (
    adapter_name,
    is_bottom_up,
    supports_crop_hook,
    supports_heatmaps,
)
from robustpose_bench.datasets.types import Dataset
from robustpose_bench.evaluate import scoring
from robustpose_bench.evaluate.boxes import SampleBoxes, boxes_for_dataset
from robustpose_bench.evaluate.predict import PredictState, predict_bottom_up, predict_condition
from robustpose_bench.evaluate.source import ImageSource
from robustpose_bench.evaluate.store import (
    condition_dir,
    load_raw,
    load_score,
    save_raw,
    save_score,
)
from robustpose_bench.io import atomic_write_json, atomic_write_text, sha256_file
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.manifest import versions
from robustpose_bench.render.protocol import Protocol

log = logging.getLogger(__name__)


@dataclass
class EvaluationConfig:
    """What to evaluate and how. `conditions` excludes clean (always evaluated).

    rendered_root: a folder from `robustpose generate` (None: render corruptions in memory).
    shard: (i, n) evaluates samples i, i+n, ... and stops before scoring (`robustpose merge`).
    attack_mode: `crop` (Pytel et al.: drawn on each person's model-input crop; needs an
    adapter that accepts `crop_hook`) or `image` (drawn on the full image).
    """

    out: Path
    protocol: Protocol
    conditions: list[Condition] = field(default_factory=list)
    stability_conditions: list[Condition] = field(default_factory=list)
    rendered_root: Path | None = None
    boxes_name: str = "gt"
    batch_size: int = 32
    workers: int = 0
    force: bool = False
    shard: tuple[int, int] | None = None
    metric: str = "AP"
    use_area: bool = True
    backend: str = "auto"
    attack_mode: str = "crop"
    attack_radius_default: float = 6.0
    allow_partial: bool = False
    model_info: dict = field(default_factory=dict)
    benchmark: dict = field(default_factory=dict)
    progress: bool = True
    postprocess: bool = True  # top-down rescoring + OKS-NMS (off for bottom-up models)
    heatmap_images: int = 32  # images whose heatmaps give D_n / D_(1)(2) under --stability


def _all_conditions(config: EvaluationConfig) -> list[Condition]:
    seen = dict.fromkeys([Condition.clean(), *config.conditions, *config.stability_conditions])
    return list(seen)


def run_evaluation(adapter, dataset: Dataset, config: EvaluationConfig,
                   detections: dict | None = None) -> dict | None:
    """Run (or resume) the sweep; returns the summary (None for a shard run)."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    boxes = boxes_for_dataset(dataset, detections)
    indices = list(range(len(dataset)))
    if config.shard is not None:
        i, n = config.shard
        indices = indices[i::n]
    conditions = _all_conditions(config)
    name = adapter_name(adapter)
    state = PredictState(config.batch_size)
    bottom_up = is_bottom_up(adapter)
    has_attacks = any(c.kind == "attack" for c in conditions)
    if config.attack_mode == "crop" and has_attacks and (
            bottom_up or not supports_crop_hook(adapter)):
        log.warning("%s takes no crop_hook (or is bottom-up): occlusion attacks are drawn on "
                    "the full image (image mode)", name)
        config.attack_mode = "image"
    crop_attacks = config.attack_mode == "crop"
    stability_heatmaps = (bool(config.stability_conditions) and not bottom_up
                          and supports_heatmaps(adapter) and config.heatmap_images > 0)
    config.postprocess = not bottom_up
    sources = {
        "image": ImageSource(dataset, config.protocol, config.rendered_root, attacks_in_image=True),
        "crop": ImageSource(dataset, config.protocol, config.rendered_root, attacks_in_image=False),
    }
    start = time.perf_counter()
    overall = tqdm(total=len(conditions), unit="cond", desc="conditions",
                   disable=not config.progress, dynamic_ncols=True)
    for cond in conditions:
        cdir = condition_dir(out, cond)
        done = (cdir / "raw.npz").is_file() if config.shard else (cdir / "score.json").is_file()
        if done and not config.force:
            overall.update(1)
            continue
        raw_path = cdir / "raw.npz"
        if raw_path.is_file() and not config.force and config.shard is None:
            preds, pboxes, pscores = load_raw(raw_path)
        else:
            hook_for, counter = None, None
            use_crop = cond.kind == "attack" and crop_attacks
            image_counts: dict | None = {} if cond.kind == "attack" and not use_crop else None
            if use_crop:
                hook_for, counter = scoring.crop_hook_factory(dataset, boxes, cond, adapter)
            source = sources["crop" if use_crop else "image"]
            if bottom_up:
                preds, pboxes, pscores = predict_bottom_up(
                    adapter, name, source, cond, indices, dataset.meta.num_keypoints,
                    config.workers, config.progress, image_counts)
            else:
                preds = predict_condition(adapter, name, source, cond, boxes, indices,
                                          dataset.meta.num_keypoints, state, config.workers,
                                          crop_hook_for=hook_for, progress=config.progress,
                                          counts=image_counts)
                pboxes = {i: boxes[i].boxes for i in indices}
                pscores = {i: boxes[i].scores for i in indices}
            save_raw(raw_path, preds, pboxes, pscores)
            if image_counts is not None:
                atomic_write_json(cdir / "attack_counts.json", image_counts)
            if counter is not None:
                atomic_write_json(cdir / "attack_counts.json", counter.as_dict())
            if stability_heatmaps and (cond.kind == "clean" or cond in config.stability_conditions):
                atomic_write_json(cdir / "heatmap_stats.json", heatmap_stats(
                    adapter, sources["image"], cond, boxes, indices[:config.heatmap_images]))
        if config.shard is None:
            score = scoring.score_condition(dataset, preds, pboxes, pscores, config, adapter,
                                            cdir, cond)
            save_score(cdir / "score.json", score)
        overall.update(1)
    overall.close()
    log.info("sweep finished in %.1f s", time.perf_counter() - start)
    if config.shard is not None:
        atomic_write_json(out / "shard.json", {"shard": list(config.shard), "conditions":
                                               [c.id for c in conditions]})
        return None
    return write_summary(dataset, config, boxes, adapter)


def heatmap_stats(adapter, source: ImageSource, condition: Condition, boxes: list[SampleBoxes],
                  indices: list[int]) -> dict:
    """D_n and D_(1)(2) (stable-heatmap paper eq. 11-12) of the adapter's heatmaps on the
    first images of a condition (heatmap cells of the model output frame)."""
    from robustpose_bench.metrics.stability import heatmap_peak_stats

    maps = []
    for i in indices:
        if len(boxes[i]):
            image = source.load(source.dataset.samples[i], condition)
            maps.append(np.asarray(adapter.heatmaps(image, boxes[i].boxes), dtype=np.float32))
    if not maps:
        return {}
    stats = heatmap_peak_stats(np.concatenate(maps))
    stats["num_images"] = len(maps)
    return stats


def write_summary(dataset: Dataset, config: EvaluationConfig, boxes: list[SampleBoxes],
                  adapter=None) -> dict:
    """Collect every condition's score.json into summary.json and per_condition.csv."""
    out = Path(config.out)
    metric = config.metric
    scores = {c.id: load_score(condition_dir(out, c) / "score.json") for c in _all_conditions(config)}
    clean = scores["clean"]
    per_condition: dict[str, dict[str, float]] = {}
    for c in config.conditions:
        if c.kind == "corruption":
            per_condition.setdefault(c.name, {})[str(c.severity)] = scores[c.id][metric]
    summary: dict = {
        "schema_version": 1,
        "metric": metric,
        "units": "percent",
        "clean": clean[metric],
        "clean_metrics": clean,
    }
    agg = scoring.aggregate(per_condition, clean[metric], config.allow_partial)
    summary.update(agg)
    summary["per_condition"] = per_condition
    attacks = {c.id.removeprefix("attack/"): scores[c.id] for c in config.conditions
               if c.kind == "attack"}
    if attacks:
        for c in config.conditions:
            if c.kind == "attack":
                counts = condition_dir(out, c) / "attack_counts.json"
                if counts.is_file():
                    import json

                    attacks[c.id.removeprefix("attack/")]["counts"] = json.loads(counts.read_text())
        summary["attacks"] = attacks
    if config.stability_conditions:
        summary["stability"] = scoring.stability_summary(out, config.stability_conditions)
    summary["model"] = dict(config.model_info) or {"name": adapter_name(adapter)}
    summary["dataset"] = {
        "name": dataset.meta.name,
        "ann_file": str(dataset.ann_file),
        "ann_sha256": sha256_file(dataset.ann_file) if dataset.ann_file else None,
        "num_images": len(dataset),
        "num_persons": dataset.num_persons,
        "num_boxes": int(sum(len(b) for b in boxes)),
    }
    summary["boxes"] = config.boxes_name
    summary["protocol"] = {
        "name": config.protocol.name, "seed": config.protocol.seed,
        "on_the_fly": config.rendered_root is None, "format": config.protocol.format,
        "quality": config.protocol.quality, "attack_mode": config.attack_mode,
    }
    summary["manifest"] = dict(config.benchmark)
    summary["versions"] = {"robustpose_bench": __version__, **versions(),
                           "platform": platform.platform()}
    summary["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write_json(out / "summary.json", summary)
    atomic_write_text(out / "per_condition.csv", _per_condition_csv(metric, clean[metric],
                                                                    per_condition, attacks))
    return summary


def _per_condition_csv(metric: str, clean: float, per_condition: dict,
                       attacks: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["condition", "corruption", "severity", metric])
    w.writerow(["clean", "", "", f"{clean:.3f}"])
    for name, sev in per_condition.items():
        for s, v in sorted(sev.items()):
            w.writerow([f"{name}/{s}", name, s, f"{v:.3f}"])
    for aid, sc in attacks.items():
        w.writerow([f"attack/{aid}", "", "", f"{sc[metric]:.3f}"])
    return buf.getvalue()


def count_params(adapter) -> int | None:
    model = getattr(adapter, "model", None)
    if model is None or not hasattr(model, "parameters"):
        return None
    return int(sum(p.numel() for p in model.parameters()))
