"""The library entry points: `evaluate(model, data, conditions, ...) -> Summary` and the
one-liner `benchmark(model, "synthpose-c")`. The CLI (`robustpose evaluate`) and the demo are
translations of their options into these calls."""
from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robustpose_bench.evaluation.boxes import boxes_for_dataset
from robustpose_bench.evaluation.evaluators import default_metric
from robustpose_bench.evaluation.fingerprint import file_sha256, model_fields, run_fields
from robustpose_bench.evaluation.predict import LocalPredictor
from robustpose_bench.evaluation.resolve import (
    attack_conditions,
    benchmark_record,
    check_attacks,
    check_data_root,
    check_device,
    check_rendered,
    effective_attack_mode,
    resolve_boxes,
    resolve_data,
    resolve_model,
    resolve_protocol,
    select_conditions,
    shipped_models,
    stability_conditions,
)
from robustpose_bench.evaluation.settings import (
    REQUESTED_ATTACK_MODES,
    RunSettings,
    check_count,
)
from robustpose_bench.evaluation.sweep import Sweep, check_partial, make_store
from robustpose_bench.inference_protocol import DEFAULT_INFERENCE_PROTOCOL
from robustpose_bench.locking import output_lock
from robustpose_bench.render.protocol import Protocol
from robustpose_bench.results import Summary

log = logging.getLogger(__name__)


def evaluate(model: Any, data: Any, conditions: Any = "all", *, boxes: str | Path | None = "gt",
             protocol: str | Protocol | None = None, out: str | Path | None = None,
             workers: int = 0, device: str | None = None,
             input_size: Any = None, model_args: Mapping[str, Any] | None = None,
             root: str | Path | None = None, severities: Any = None,
             attacks: str | Path | None = None, attack_mode: str = "auto",
             stability: Any = None, stability_severities: Any = None,
             metric: str = "auto", backend: str = "auto", use_area: bool = True,
             batch_size: int = 32, rendered: str | Path | None = None, seed: int | None = None,
             allow_partial: bool | None = None, force: bool = False,
             shard: tuple[int, int] | None = None, heatmap_images: int = 32,
             trust_checkpoint: bool = False, name: str | None = None,
             method: str | None = None, inference_protocol: str | None = None,
             max_pixels: int | None = None, progress: bool = False) -> Summary | None:
    """Evaluate a pose model on a data set under clean + corrupted (+ attacked) conditions.

    model: an adapter (any object with `predict(image, boxes)`, docs/adapters.md), a torch
        `nn.Module` heatmap network with `input_size=(width, height)`, a shipped model name
        (`synthpose_hrnet_w16_standard`), a zoo name (`hrnet_w16_small`, with
        `model_args={"checkpoint": ...}`), a checkpoint or `.onnx` file, or
        `path/to/file.py:Class` / `package.module:Class` (+ `model_args`).
    data: a `datasets.Dataset`, or a benchmark definition name / YAML path (`"synthpose-c"`,
        `"coco-c"` with `root=` the data root). SynthPose-C without a root is synthesised
        (100 images, seed 0) into `<out>/data`, or a temporary folder when `out` is None.
    conditions: "all" (the 15 corruptions x `severities`, default 1..5), "extra", "all+extra",
        "none", corruption names, condition ids (`"fog/3"`, `"attack/blackout/nose"`) or
        `Condition` objects. Clean is always evaluated.
    boxes: "gt" (ground-truth person boxes), a COCO detection results file, or None (the
        benchmark definition's detections).
    protocol / seed: how corruptions are seeded and encoded (`robustpose` when None,
        `advmix`); `rendered`: a folder from `robustpose generate` to read the corrupted
        images from instead of rendering them in memory. Its manifest decides the protocol
        and must record this data set's annotation file (sha256); it must be finished and
        hold the requested conditions.
    out: None evaluates in memory and writes nothing; a folder gets per-condition outputs,
        `run.json`, `summary.json` and `per_condition.csv`, and a re-run resumes: it keeps
        the conditions measured with the same fingerprint (model, checkpoint, boxes,
        benchmark, metric options: evaluation/fingerprint.py) and refuses a folder holding
        another run's (RunMismatchError) unless `force` (which recomputes everything). The
        folder is locked for the run (OutputLockedError when another run holds it).
    attacks: an attack grid (`"attacks-demo"` or a YAML path) to evaluate as well;
        attack_mode: `auto` (crop where the adapter allows it, else image), `crop` (on each
        person's model-input crop, Pytel et al.; refused for an adapter without crop hook)
        or `image` (on the full image). The summary records what was used.
    stability: conditions (same forms as `conditions`) or a perturbation set by name
        ("extra", "stable-heatmap": metrics.stability.PERTURBATION_SETS) whose predictions
        are compared with the clean ones (R, RUC), at `stability_severities` (default
        `severities`); top-down models only.
    allow_partial: summarise without all 75 benchmark conditions (mPC then marked partial);
        None: allowed. False: a run with some but not all benchmark corruptions raises
        PartialRunError before computing anything. A run without benchmark corruptions
        (clean only, attacks, held-out corruptions) has no mPC and is never partial.
    inference_protocol: the crop conventions of the model (`hrnet`, `mmpose`;
        inference_protocol.py): given to the adapters that take one; None: the adapter's own
        (default `hrnet`). It also decides the GT boxes and the OKS-NMS area precision.
    max_pixels: refuse source images above this many pixels (default: the reader's limit).
    device: cpu, cuda, cuda:N (checked: ValueError when this torch cannot use it).
    shard: (i, n) predicts every n-th image from i into `out` and returns None (combine
        with `merge_shards`).

    Returns the Summary (percent): clean, mPC, rPC, per_condition, attacks, stability.
    """
    for key, value, minimum in (("batch_size", batch_size, 1), ("workers", workers, 0),
                                ("heatmap_images", heatmap_images, 0)):
        check_count(key, value, minimum)
    if max_pixels is not None:
        check_count("max_pixels", max_pixels, 1)
    if attack_mode not in REQUESTED_ATTACK_MODES:
        raise ValueError(f"attack mode {attack_mode!r}; valid: {', '.join(REQUESTED_ATTACK_MODES)}")
    # what can be refused without the data or the model is refused before anything is written
    check_device(device)
    if isinstance(model, str) and model not in shipped_models():
        from robustpose_bench.adapters.loading import check_model_spec

        check_model_spec(model)  # a mistyped model is refused before any data is synthesised
    check_data_root(data, root)
    check_partial(select_conditions(conditions, severities),
                  True if allow_partial is None else allow_partial)
    options = dict(boxes=boxes, protocol=protocol, workers=workers, device=device,
                   input_size=input_size, model_args=model_args, root=root,
                   severities=severities, attacks=attacks, attack_mode=attack_mode,
                   stability=stability, stability_severities=stability_severities,
                   metric=metric, backend=backend, use_area=use_area, batch_size=batch_size,
                   rendered=rendered, seed=seed, allow_partial=allow_partial, force=force,
                   shard=shard, heatmap_images=heatmap_images,
                   trust_checkpoint=trust_checkpoint, name=name, method=method,
                   inference_protocol=inference_protocol, max_pixels=max_pixels,
                   progress=progress)
    if out is None:
        return _evaluate(model, data, conditions, out=None, **options)
    with output_lock(out):
        return _evaluate(model, data, conditions, out=out, **options)


def _evaluate(model: Any, data: Any, conditions: Any, *, out: str | Path | None, boxes: Any,
              protocol: Any, workers: int, device: str | None, input_size: Any,
              model_args: Mapping[str, Any] | None, root: Any, severities: Any, attacks: Any,
              attack_mode: str, stability: Any, stability_severities: Any, metric: str,
              backend: str, use_area: bool, batch_size: int, rendered: Any, seed: int | None,
              allow_partial: bool | None, force: bool, shard: tuple[int, int] | None,
              heatmap_images: int, trust_checkpoint: bool, name: str | None,
              method: str | None, inference_protocol: str | None, max_pixels: int | None,
              progress: bool) -> Summary | None:
    """`evaluate` once its output folder (if any) is locked."""
    with tempfile.TemporaryDirectory(prefix="robustpose-") as tmp:
        synth_dir = Path(out) / "data" if out is not None else Path(tmp)
        resolved = resolve_data(data, root, synth_dir)
        dataset, meta = resolved.dataset, resolved.dataset.meta
        conds = select_conditions(conditions, severities)
        conds += [c for c in attack_conditions(attacks, meta) if c not in conds]
        check_attacks(conds, meta)
        stab, stab_set = stability_conditions(
            stability, stability_severities if stability_severities is not None else severities)
        if allow_partial is None:
            allow_partial = True
        check_partial(conds, allow_partial)  # before the model is loaded
        proto, rendered_name = resolve_protocol(protocol, seed, rendered)
        ann_sha = file_sha256(dataset.ann_file) if dataset.ann_file else None
        if rendered is not None:
            check_rendered(rendered, dataset, ann_sha, conds)
        box_source = resolve_boxes(boxes, resolved)
        rm = resolve_model(model, meta, input_size=input_size, model_args=model_args,
                           device=device, trust_checkpoint=trust_checkpoint, name=name,
                           method=method, inference_protocol=inference_protocol)
        adapter, info = rm.adapter, rm.info
        if stab and info["bottom_up"]:
            raise ValueError(f"stability pairs the clean and perturbed predictions of the same "
                             f"person boxes; the bottom-up adapter {info['name']} has none")
        settings = RunSettings(
            protocol=proto, data=resolved.spec, conditions=conds, stability_conditions=stab,
            rendered_root=Path(rendered) if rendered is not None else None, boxes=box_source,
            metric=default_metric(meta) if metric == "auto" else metric, use_area=use_area,
            backend=backend,
            attack_mode=effective_attack_mode(adapter, attack_mode,
                                              any(c.kind == "attack" for c in conds)),
            attack_mode_requested=attack_mode,
            postprocess=not info["bottom_up"],
            inference_protocol=getattr(adapter, "inference_protocol", None)
            or inference_protocol or DEFAULT_INFERENCE_PROTOCOL, batch_size=batch_size,
            workers=workers, shard=shard, allow_partial=bool(allow_partial),
            heatmap_images=heatmap_images, max_pixels=max_pixels, stability_set=stab_set,
            benchmark=benchmark_record(rendered_name or resolved.benchmark_name, proto, conds,
                                       dataset, ann_sha),
            model=info)
        settings.fingerprint = run_fields(settings, rm.fingerprint, ann_sha,
                                          file_sha256(resolved.spec.gt_mat))
        return _run(adapter, dataset, settings, out, force=force, progress=progress)


def run_settings(adapter: Any, dataset: Any, settings: RunSettings,
                 out: str | Path | None = None, *, force: bool = False,
                 progress: bool = False) -> Summary | None:
    """Run (or resume) the sweep of `settings` with `adapter` on `dataset`; with `out` (locked
    for the run), the settings are recorded in `<out>/run.json` and every condition carries
    the run's fingerprint (computed from `settings` and the adapter when `settings` has
    none)."""
    if out is None:
        return _run(adapter, dataset, settings, None, force=force, progress=progress)
    with output_lock(out):
        return _run(adapter, dataset, settings, out, force=force, progress=progress)


def _run(adapter: Any, dataset: Any, settings: RunSettings, out: str | Path | None, *,
         force: bool, progress: bool) -> Summary | None:
    if settings.shard is not None and out is None:
        raise ValueError("a shard run needs an output folder (out=...) for its predictions")
    if out is not None and not settings.fingerprint:
        ann_sha = file_sha256(dataset.ann_file) if dataset.ann_file else None
        model = model_fields(adapter, str(settings.model.get("spec") or ""), {},
                             settings.model.get("input_size"))
        settings.fingerprint = run_fields(settings, model, ann_sha,
                                          file_sha256(settings.data.gt_mat))
    detections = None
    if settings.boxes != "gt":
        from robustpose_bench.datasets import load_detections

        detections = load_detections(settings.boxes, [s.image_id for s in dataset.samples])
    boxes = boxes_for_dataset(dataset, detections, settings.inference_protocol)
    predictor = LocalPredictor(adapter, dataset, boxes, settings, progress=progress)
    sweep = Sweep(dataset, settings, predictor, make_store(out, settings), boxes, force=force,
                  progress=progress)
    return sweep.run(out)


def benchmark(model: Any, dataset: str | Path = "synthpose-c", *, root: str | Path | None = None,
              out: str | Path | None = None, **options: Any) -> Summary:
    """RobustBench-style one-liner: `model` on the benchmark `dataset` (a definition name
    such as "synthpose-c", "coco-c", "mpii-c", or a YAML path) with the definition's
    corruptions, severities, protocol and seed, GT boxes, in memory unless `out` is given.

    `benchmark("synthpose_hrnet_w16_standard", "synthpose-c")` scores a shipped model on the
    embedded SynthPose-C (synthesised on the fly); other data sets need `root`. Further
    keyword options are those of `evaluate` (they override the definition's).
    """
    from robustpose_bench.render.benchmark import load_benchmark_definition
    from robustpose_bench.render.protocol import get_protocol

    definition = load_benchmark_definition(dataset)
    options.setdefault("conditions", ",".join(definition.get("corruptions", ["all"])))
    options.setdefault("severities", definition.get("severities"))
    options.setdefault("protocol", get_protocol(definition.get("protocol", "robustpose"))
                       .with_overrides(definition.get("seed"), definition.get("format"),
                                       definition.get("quality")))
    summary = evaluate(model, dataset, root=root, out=out, **options)
    if summary is None:
        raise ValueError("benchmark() does not run shards; use evaluate(..., shard=...)")
    return summary
