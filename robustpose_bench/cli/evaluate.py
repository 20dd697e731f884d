"""`robustpose evaluate`: score a model on clean + corrupted (+ attacked) conditions."""
from __future__ import annotations

import json
from pathlib import Path

import click

from robustpose_bench.cli._common import user_errors


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        i, n = -1, 0
    if not (n >= 1 and 0 <= i < n):
        raise click.BadParameter(f"expected i/n with 0 <= i < n, got {text!r}", param_hint="--shard")
    return i, n


def check_backend(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """`--backend`: the executor (local, dask; loky = local); an AP engine name gets a hint."""
    if value is None:
        return None
    from robustpose_bench.evaluation.pipeline import check_executor

    try:
        return check_executor(value, None)
    except ValueError as exc:
        raise click.BadParameter(str(exc).replace("ap_backend (--ap-backend)", "--ap-backend"),
                                 ctx, param) from None


@click.command(name="evaluate")
@click.option("--model", "model_spec", required=True,
              help="path/to/file.py:Class, package.module:Class, a zoo name (see `robustpose "
                   "models`), a shipped model name, a checkpoint or .onnx file.")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE",
              help="Constructor argument of the adapter (repeatable), e.g. checkpoint=ckpt.safetensors.")
@click.option("--trust-checkpoint", is_flag=True,
              help="Allow pickled checkpoints (runs code from the file: only for files you trust).")
@click.option("--benchmark", "benchmark", default=None, metavar="NAME",
              help="A packaged benchmark definition (coco-c, mpii-c, ochuman-c, synthpose-c, "
                   "...) giving --ann/--images/--boxes; with --root (synthpose-c without "
                   "--root is synthesised under --out).")
@click.option("--manifest", "definition", type=click.Path(dir_okay=False, path_type=Path),
              help="A benchmark definition file (YAML, like manifests/*.yaml) instead of "
                   "--benchmark; with --root.")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path),
              help="Data root of --benchmark / --manifest.")
@click.option("--ann", type=click.Path(dir_okay=False, path_type=Path), help="Annotation file.")
@click.option("--images", type=click.Path(file_okay=False, path_type=Path), help="Clean image folder.")
@click.option("--gt-mat", type=click.Path(dir_okay=False, path_type=Path),
              help="MPII mpii_gt_val.mat / gt_valid.mat (head boxes for PCKh).")
@click.option("--dataset-name", default=None, help="coco, ochuman, mpii, synthpose, ...")
@click.option("--corrupted", type=click.Path(file_okay=False, path_type=Path),
              help="A benchmark rendered by `robustpose generate` (its manifest gives the protocol).")
@click.option("--on-the-fly", is_flag=True,
              help="Render corruptions in memory (identical pixels to `generate`); the default "
                   "when --corrupted is not given.")
@click.option("--boxes", type=click.Path(dir_okay=False, path_type=Path),
              help="Person detection results (COCO_val2017_detections_AP_H_56_person.json format).")
@click.option("--gt-boxes", is_flag=True, help="Use ground-truth person boxes (the default "
              "when --boxes is not given).")
@click.option("--corruptions", default="all",
              help="Comma list of corruption names (x --severities) or condition ids (fog/3, "
                   "attack/blackout/nose), all (the 15, default), extra, all+extra, or none "
                   "(clean only).")
@click.option("--severities", default=None, help="Comma list of 1..5 (default all).")
@click.option("--attacks", default=None, metavar="GRID",
              help="Attack grid to evaluate as well: a packaged name (attacks, attacks-demo) or "
                   "a YAML path.")
@click.option("--attack-mode", type=click.Choice(["crop", "image"]), default="crop",
              show_default=True, help="crop: on each person's model-input crop (Pytel et al.); "
                                      "image: on the full image.")
@click.option("--stability", is_flag=True,
              help="Also compute R(T, T^mp) and RUC on paired clean/perturbed predictions.")
@click.option("--stability-corruptions", default="extra", show_default=True,
              help="Corruptions for --stability (held out from mPC by default).")
@click.option("--stability-severities", default=None,
              help="Severities for --stability (default: those of --severities).")
@click.option("--protocol", type=click.Choice(["robustpose", "advmix"]), default="robustpose",
              show_default=True, help="Protocol for --on-the-fly rendering.")
@click.option("--seed", type=int, default=None, help="Benchmark seed for --on-the-fly.")
@click.option("--metric", type=click.Choice(["auto", "AP", "PCKh"]), default="auto", show_default=True)
@click.option("--use-area/--no-use-area", default=True, show_default=True,
              help="OKS area from the annotation (True) or 0.53*w*h of the GT box (xtcocotools).")
@click.option("--ap-backend", default="auto", show_default=True,
              help="AP engine: auto, pycocotools, xtcocotools, faster-coco-eval.")
@click.option("--device", default=None, help="cuda, cuda:1 or cpu (default: cuda if available).")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Person crops per batch.")
@click.option("--workers", type=int, default=0, show_default=True,
              help="local: processes decoding, corrupting and cropping images ahead of the "
                   "model; dask without --scheduler: worker processes of the cluster made here.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch threads of the model process [default: cores - workers, at least 1].")
@click.option("--backend", default=None, callback=check_backend, metavar="local|dask",
              help="Where the prediction step runs: local (default) or dask (the cluster at "
                   "--scheduler, or one made on this machine); as for generate and attack.")
@click.option("--scheduler", default=None, metavar="ADDR",
              help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (implies --backend dask).")
@click.option("--shard", default=None, help="i/n: evaluate every n-th image from i; merge with "
                                            "`robustpose merge`.")
@click.option("--allow-partial", is_flag=True, help="Summarise even if conditions are missing "
                                                    "(mPC then marked partial).")
@click.option("--force", is_flag=True, help="Recompute finished conditions.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--no-progress", is_flag=True)
@user_errors
def command(model_spec, model_args, trust_checkpoint, benchmark, definition, root, ann, images,
            gt_mat, dataset_name, corrupted, on_the_fly, boxes, gt_boxes, corruptions,
            severities, attacks, attack_mode, stability, stability_corruptions,
            stability_severities, protocol, seed, metric, use_area, ap_backend, device,
            batch_size, workers, threads, backend, scheduler, shard, allow_partial, force, out,
            no_progress):
    """Evaluate a model on a data set and its corrupted copies: writes per-condition
    predictions and scores under --out, then summary.json (clean, mPC, rPC, per corruption)
    and per_condition.csv. Re-running resumes; finished conditions are kept unless --force."""
    from robustpose_bench.adapters.args import parse_model_args
    from robustpose_bench.evaluation import DataSpec, evaluate

    if benchmark is not None and definition is not None:
        raise click.UsageError("give --benchmark NAME or --manifest PATH, not both")
    bench = benchmark or definition
    if bench is not None and (ann or images):
        raise click.UsageError("--ann/--images do not go with --benchmark/--manifest")
    data = (DataSpec(benchmark=str(bench), root=str(root) if root else None) if bench
            else DataSpec(ann=ann and str(ann), images=images and str(images),
                          gt_mat=gt_mat and str(gt_mat), dataset_name=dataset_name))
    summary = evaluate(
        model_spec, data, corruptions, model_args=parse_model_args(model_args),
        trust_checkpoint=trust_checkpoint, rendered=corrupted,
        boxes=boxes if boxes else ("gt" if gt_boxes or not bench else None),
        severities=severities, attacks=attacks, attack_mode=attack_mode,
        stability=stability_corruptions if stability else None,
        stability_severities=stability_severities, protocol=protocol, seed=seed, metric=metric,
        use_area=use_area, ap_backend=ap_backend, device=device, batch_size=batch_size,
        workers=workers, threads=threads, backend=backend, scheduler=scheduler,
        shard=parse_shard(shard), allow_partial=allow_partial, force=force, out=out,
        progress=not no_progress)
    if summary is None:
        click.echo(f"shard {shard} done: predictions under {out}; combine the shards with "
                   f"`robustpose merge`", err=True)
        return
    click.echo(json.dumps({k: summary[k] for k in ("metric", "clean", "mPC", "rPC")
                           if k in summary}))
    click.echo(f"summary: {Path(out) / 'summary.json'}", err=True)
