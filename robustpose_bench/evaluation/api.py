"""The library entry points: `evaluate(model, data, conditions, ...) -> Summary` and the
one-liner `benchmark(model, "synthpose-c")`. The CLI (`robustpose evaluate`) and the demo are
translations of their options into these calls."""
from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from robustpose_bench.evaluation.boxes import boxes_for_dataset
from robustpose_bench.evaluation.evaluators import default_metric
from robustpose_bench.evaluation.pipeline import check_dask, check_executor
from robustpose_bench.evaluation.predict import LocalPredictor, wants_heatmaps
from robustpose_bench.evaluation.resolve import (
    attack_conditions,
    benchmark_record,
    check_attacks,
    effective_attack_mode,
    resolve_boxes,
    resolve_data,
    resolve_model,
    resolve_protocol,
    select_conditions,
)
from robustpose_bench.evaluation.settings import RunSettings
from robustpose_bench.evaluation.sweep import Sweep, make_store
from robustpose_bench.inference_protocol import DEFAULT_INFERENCE_PROTOCOL
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.protocol import Protocol
from robustpose_bench.results import Summary

log = logging.getLogger(__name__)


def evaluate(model: Any, data: Any, conditions: Any = "all", *, boxes: str | Path | None = "gt",
             protocol: str | Protocol = "robustpose", out: str | Path | None = None,
             workers: int = 0, device: str | None = None,
             input_size: Any = None, model_args: Mapping[str, Any] | None = None,
             root: str | Path | None = None, severities: Any = None,
             attacks: str | Path | None = None, attack_mode: str = "crop",
             stability: Any = None, stability_severities: Any = None,
             metric: str = "auto", ap_backend: str = "auto", use_area: bool = True,
             batch_size: int = 32, rendered: str | Path | None = None, seed: int | None = None,
             allow_partial: bool | None = None, force: bool = False,
             shard: tuple[int, int] | None = None, heatmap_images: int = 32,
             trust_checkpoint: bool = False, name: str | None = None,
             method: str | None = None, backend: str | None = None,
             scheduler: str | None = None, threads: int | None = None,
             progress: bool = False) -> Summary | None:
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
    protocol / seed: how corruptions are seeded and encoded (`robustpose`, `advmix`);
        `rendered`: a folder from `robustpose generate` to read the corrupted images from
        (its manifest decides the protocol) instead of rendering them in memory.
    out: None evaluates in memory and writes nothing; a folder gets per-condition outputs,
        `run.json`, `summary.json` and `per_condition.csv`, and a re-run resumes.
    attacks: an attack grid (`"attacks-demo"` or a YAML path) to evaluate as well;
        attack_mode: `crop` (on each person's model-input crop, Pytel et al.) or `image`.
    stability: conditions (same forms as `conditions`, e.g. "extra") whose predictions are
        compared with the clean ones (R, RUC), at `stability_severities` (default
        `severities`).
    allow_partial: summarise without all 75 benchmark conditions (mPC then marked partial);
        None: allowed unless every benchmark corruption is requested.
    shard: (i, n) predicts every n-th image from i into `out` and returns None (combine
        with `merge_shards`).
    ap_backend: the AP engine (`auto`, `pycocotools`, `xtcocotools`, `faster-coco-eval`).
    backend / scheduler: where the prediction step runs: `local` (default; `workers`
        processes decode, corrupt and crop the images ahead of the model, `threads` torch
        threads in this process, default the cores left by the workers) or `dask`: a Dask
        cluster at `scheduler` (e.g. "tcp://10.0.0.5:8786"; a scheduler alone means dask),
        or without one a cluster made on this machine (one worker per GPU, else `workers`
        processes); docs/scaling.md.

    Returns the Summary (percent): clean, mPC, rPC, per_condition, attacks, stability.
    """
    executor = check_executor(backend, scheduler)
    if executor == "dask":  # before the data and the model: a wrong address fails at once
        check_dask(scheduler)
    with tempfile.TemporaryDirectory(prefix="robustpose-") as tmp:
        synth_dir = Path(out) / "data" if out is not None else Path(tmp)
        resolved = resolve_data(data, root, synth_dir)
        dataset, meta = resolved.dataset, resolved.dataset.meta
        adapter, info = resolve_model(model, meta, input_size=input_size, model_args=model_args,
                                      device=device, trust_checkpoint=trust_checkpoint,
                                      name=name, method=method)
        conds = select_conditions(conditions, severities)
        conds += [c for c in attack_conditions(attacks, meta) if c not in conds]
        check_attacks(conds, meta)
        stab = select_conditions(stability, stability_severities
                                 if stability_severities is not None else severities)
        proto, rendered_name = resolve_protocol(protocol, seed, rendered)
        if allow_partial is None:
            allow_partial = not _full_benchmark(conds)
        box_source = resolve_boxes(boxes, resolved)
        settings = RunSettings(
            protocol=proto, data=resolved.spec, conditions=conds, stability_conditions=stab,
            rendered_root=Path(rendered) if rendered is not None else None, boxes=box_source,
            metric=default_metric(meta) if metric == "auto" else metric, use_area=use_area,
            backend=ap_backend,
            attack_mode=effective_attack_mode(adapter, attack_mode,
                                              any(c.kind == "attack" for c in conds)),
            postprocess=not info["bottom_up"],
            inference_protocol=getattr(adapter, "inference_protocol", None)
            or DEFAULT_INFERENCE_PROTOCOL, batch_size=batch_size, workers=workers,
            shard=shard, allow_partial=bool(allow_partial), heatmap_images=heatmap_images,
            benchmark=benchmark_record(rendered_name or resolved.benchmark_name, proto, conds,
                                       dataset),
            model=info)
        spec = None
        if executor == "dask":
            from robustpose_bench.evaluation.distributed import ModelSpec, model_options

            spec = ModelSpec(model, model_options(
                input_size=input_size, model_args=dict(model_args) if model_args else None,
                device=device, trust_checkpoint=trust_checkpoint or None, name=name,
                method=method))
        return run_settings(adapter, dataset, settings, out, force=force, progress=progress,
                            backend=executor, scheduler=scheduler, threads=threads,
                            model_spec=spec)


def _full_benchmark(conditions: Sequence[Condition]) -> bool:
    from robustpose_bench.names import CORRUPTIONS, SEVERITIES

    have = {c for c in conditions if c.kind == "corruption"}
    return all(Condition.corruption(c, s) in have for c in CORRUPTIONS for s in SEVERITIES)


def run_settings(adapter: Any, dataset: Any, settings: RunSettings,
                 out: str | Path | None = None, *, force: bool = False,
                 progress: bool = False, backend: str = "local", scheduler: str | None = None,
                 threads: int | None = None, model_spec: Any = None) -> Summary | None:
    """Run (or resume) the sweep of `settings` with `adapter` on `dataset`; with `out`, the
    settings are recorded in `<out>/run.json` first. backend / scheduler / threads: see
    `evaluate`; model_spec: how Dask workers make the adapter (`distributed.ModelSpec`;
    default: `adapter` itself, pickled)."""
    backend = check_executor(backend, scheduler)
    if settings.shard is not None and out is None:
        raise ValueError("a shard run needs an output folder (out=...) for its predictions")
    detections = None
    if settings.boxes != "gt":
        from robustpose_bench.datasets import load_detections

        detections = load_detections(settings.boxes, [s.image_id for s in dataset.samples])
    boxes = boxes_for_dataset(dataset, detections, settings.inference_protocol)
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        settings.save(out)
    store = make_store(out, settings)
    if backend == "dask":
        check_dask(scheduler)
        from robustpose_bench.evaluation.distributed import (
            DaskPredictor,
            ModelSpec,
            dask_client,
            default_chunk_size,
            wait_for_workers,
        )

        with dask_client(scheduler, settings.workers or None) as client:
            n_workers = wait_for_workers(client, scheduler)
            n_images = len(dataset) // (settings.shard[1] if settings.shard else 1)
            predictor = DaskPredictor(client, model_spec or ModelSpec(adapter), dataset, boxes,
                                      settings, chunk_size=default_chunk_size(n_images, n_workers),
                                      progress=progress, heatmaps=wants_heatmaps(adapter, settings))
            try:
                return Sweep(dataset, settings, predictor, store, boxes, force=force,
                             progress=progress).run(out)
            finally:
                predictor.shutdown()
    predictor = LocalPredictor(adapter, dataset, boxes, settings, progress=progress,
                               threads=threads)
    sweep = Sweep(dataset, settings, predictor, store, boxes, force=force, progress=progress)
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
