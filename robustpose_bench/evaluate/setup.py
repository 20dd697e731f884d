"""From command-line parameters to a running sweep: resolve the data set, boxes, protocol,
conditions and adapter; record them in `run.json` so shards can be merged later."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from robustpose_bench.adapters.base import is_bottom_up
from robustpose_bench.datasets import load_dataset, load_detections
from robustpose_bench.datasets.types import Dataset
from robustpose_bench.evaluate.store import condition_dir, load_raw, save_raw
from robustpose_bench.evaluate.sweep import EvaluationConfig, count_params, run_evaluation
from robustpose_bench.io import atomic_write_json, sha256_file
from robustpose_bench.render.benchmark import (
    dataset_from_definition,
    load_benchmark_definition,
    parse_corruptions,
    parse_severities,
)
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.manifest import benchmark_sha256, read_manifest
from robustpose_bench.render.protocol import get_protocol

log = logging.getLogger(__name__)


def _paths(params: dict) -> tuple[Dataset, Path | None, str]:
    """Data set, detection file (or None) and the benchmark name."""
    if params.get("definition"):
        if not params.get("root"):
            raise ValueError("--manifest needs --root (the data root of the definition)")
        spec = load_benchmark_definition(params["definition"])
        dataset = dataset_from_definition(spec, params["root"])
        det = params.get("boxes")
        if det is None and spec.get("detections") and not params.get("gt_boxes"):
            det = Path(params["root"]) / spec["detections"]
        return dataset, det, spec["name"]
    for key in ("ann", "images"):
        if not params.get(key):
            raise ValueError(f"missing --{key} (or use --manifest + --root)")
    dataset = load_dataset(params["ann"], params["images"], dataset_name=params.get("dataset_name"),
                           gt_mat=params.get("gt_mat"))
    return dataset, params.get("boxes"), f"{dataset.meta.name}-c"


def _attack_conditions(path: Path | None, meta) -> list[Condition]:
    if path is None:
        return []
    from robustpose_bench.occlusion import DEFAULT_RADIUS, load_attack_grid

    return [Condition.attack(a.mode, a.target.id,
                             None if a.radius in (None, DEFAULT_RADIUS) else a.radius)
            for a in load_attack_grid(path, meta).specs]


def build_config(params: dict, dataset: Dataset, benchmark_name: str) -> EvaluationConfig:
    metric = params.get("metric", "auto")
    if metric == "auto":
        metric = "PCKh" if dataset.meta.name == "mpii" or dataset.meta.sigmas is None else "AP"
    corr = params.get("corruptions", "all")
    names = [] if corr in (None, "", "none") else parse_corruptions(corr)
    sevs = parse_severities(params.get("severities"))
    conditions = [Condition.corruption(c, s) for c in names for s in sevs]
    conditions += _attack_conditions(params.get("attacks"), dataset.meta)
    stab = []
    if params.get("stability"):
        stab_sevs = parse_severities(params.get("stability_severities") or params.get("severities"))
        stab = [Condition.corruption(c, s) for c in parse_corruptions(
            params.get("stability_corruptions", "extra")) for s in stab_sevs]
    rendered = params.get("corrupted")
    if rendered:
        manifest = read_manifest(rendered)
        protocol = get_protocol(manifest["protocol"]).with_overrides(
            manifest.get("seed"), manifest.get("format"), manifest.get("quality"))
        benchmark_name = manifest.get("benchmark", benchmark_name)
    else:
        protocol = get_protocol(params.get("protocol", "robustpose")).with_overrides(params.get("seed"))
    corruption_ids = [c.id for c in conditions if c.kind == "corruption"]
    definition = {"protocol": protocol.name, "seed": protocol.seed, "format": protocol.format,
                  "quality": protocol.quality if protocol.format == "jpg" else None,
                  "conditions": corruption_ids,
                  "ann_sha256": sha256_file(dataset.ann_file) if dataset.ann_file else None}
    boxes = params.get("boxes_path")
    return EvaluationConfig(
        out=Path(params["out"]), protocol=protocol, conditions=conditions,
        stability_conditions=stab, rendered_root=Path(rendered) if rendered else None,
        boxes_name=Path(boxes).name if boxes else "gt", batch_size=int(params.get("batch_size", 32)),
        workers=int(params.get("workers", 0)), force=bool(params.get("force")),
        shard=tuple(params["shard"]) if params.get("shard") else None, metric=metric,
        use_area=bool(params.get("use_area", True)), backend=params.get("backend", "auto"),
        attack_mode=params.get("attack_mode", "crop"), allow_partial=bool(params.get("allow_partial")),
        benchmark={"benchmark": benchmark_name, "sha256": benchmark_sha256(definition)},
        progress=bool(params.get("progress", True)))


def _jsonable(params: dict) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in params.items()}


def build_and_run(params: dict) -> dict | None:
    """Everything `robustpose evaluate` does, from its parsed options."""
    from robustpose_bench.adapters.loading import load_adapter

    dataset, det_path, bench = _paths(params)
    params = dict(params, boxes_path=det_path)
    config = build_config(params, dataset, bench)
    detections = None
    if det_path is not None:
        detections = load_detections(det_path, [s.image_id for s in dataset.samples])
    adapter = load_adapter(params["model_spec"], params.get("model_args", {}), meta=dataset.meta,
                           device=params.get("device"),
                           trust_checkpoint=bool(params.get("trust_checkpoint")))
    config.model_info = model_info(adapter, params)
    config.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(config.out / "run.json", _jsonable(dict(params, model_info=config.model_info)))
    return run_evaluation(adapter, dataset, config, detections)


def model_info(adapter, params: dict) -> dict:
    args = params.get("model_args", {})
    input_size = getattr(adapter, "input_size", None)
    return {
        "name": args.get("name") or getattr(adapter, "name", None) or params["model_spec"],
        "spec": params["model_spec"],
        "method": args.get("method") or getattr(adapter, "method", None) or "standard",
        "backbone": getattr(adapter, "backbone", None) or params["model_spec"],
        "input_size": list(input_size) if input_size is not None else None,
        "params": count_params(adapter),
        "checkpoint": args.get("checkpoint"),
        "bottom_up": is_bottom_up(adapter),
    }


def merge_shards(shards: list[Path], out: str | Path, progress: bool = True) -> dict:
    """Combine `--shard i/n` outputs (raw predictions per condition) and score them."""
    out = Path(out)
    runs = [json.loads((Path(s) / "run.json").read_text()) for s in shards]
    shard_ids = sorted(tuple(r["shard"]) for r in runs if r.get("shard"))
    if len(shard_ids) != len(runs) or not shard_ids:
        raise ValueError("every folder given to merge must come from `evaluate --shard i/n`")
    n = shard_ids[0][1]
    if sorted(i for i, _ in shard_ids) != list(range(n)) or any(m != n for _, m in shard_ids):
        raise ValueError(f"shards {shard_ids} do not cover 0..{n - 1} of one {n}-way split")
    params = dict(runs[0], shard=None, out=str(out), progress=progress)
    for key in ("ann", "images", "gt_mat", "boxes", "corrupted", "definition", "root", "attacks",
                "boxes_path"):
        if params.get(key):
            params[key] = Path(params[key])
    dataset, det_path, bench = _paths(params)
    params["boxes_path"] = det_path
    config = build_config(params, dataset, bench)
    out.mkdir(parents=True, exist_ok=True)
    from robustpose_bench.evaluate.sweep import _all_conditions

    for cond in _all_conditions(config):
        merged: list[dict] = [{}, {}, {}]
        target = condition_dir(out, cond)
        target.mkdir(parents=True, exist_ok=True)
        for s in shards:
            raw = condition_dir(Path(s), cond) / "raw.npz"
            if not raw.is_file():
                raise ValueError(f"{raw} is missing: shard {s} did not finish condition {cond.id}")
            for acc, part in zip(merged, load_raw(raw), strict=True):
                acc.update(part)
            counts = condition_dir(Path(s), cond) / "attack_counts.json"
            if counts.is_file():
                _add_counts(target / "attack_counts.json", json.loads(counts.read_text()))
        save_raw(target / "raw.npz", *merged)
    config.model_info = runs[0].get("model_info") or {"name": params["model_spec"],
                                                      "spec": params["model_spec"]}
    atomic_write_json(out / "run.json", _jsonable(dict(params, merged_from=[str(s) for s in shards])))
    detections = None
    if det_path is not None:
        detections = load_detections(det_path, [s.image_id for s in dataset.samples])
    stand_in = _NoModel(config.model_info.get("name", "merged"),
                        bool(config.model_info.get("bottom_up")))
    return run_evaluation(stand_in, dataset, config, detections)


def _add_counts(path: Path, counts: dict) -> None:
    """Sum the attack counters of several shards."""
    total = json.loads(path.read_text()) if path.is_file() else {}
    for key, value in counts.items():
        if isinstance(value, (int, float)):
            total[key] = total.get(key, 0) + value
    atomic_write_json(path, total)


class _NoModel:
    """Stands in for the adapter when only stored predictions are scored (merge)."""

    def __init__(self, name: str, bottom_up: bool = False):
        self.name = name
        self.bottom_up = bottom_up

    def predict(self, image: np.ndarray, boxes: np.ndarray):
        raise RuntimeError("merge found a condition without stored predictions")
