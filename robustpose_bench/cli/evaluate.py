"""`robustpose evaluate`: score a model on clean + corrupted (+ attacked) conditions."""
from __future__ import annotations

import json
from pathlib import Path

import click

from robustpose_bench.cli._common import UserError, max_pixels_option, user_errors
from robustpose_bench.inference_protocol import inference_protocol_names


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
              help="A benchmark rendered by `robustpose generate` from the same --ann (its "
                   "manifest gives the protocol; checked: annotation sha256, finished, holds "
                   "the conditions).")
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
@click.option("--attack-mode", type=click.Choice(["auto", "crop", "image"]), default="auto",
              show_default=True,
              help="crop: on each person's model-input crop (Pytel et al.; refused for an "
                   "adapter without crop hook); image: on the full image; auto: crop where the "
                   "adapter allows it, else image (summary.json records which).")
@click.option("--stability", is_flag=True,
              help="Also compute R(T, T^mp) and RUC on paired clean/perturbed predictions "
                   "(labelled keypoints of the persons matched to GT).")
@click.option("--stability-corruptions", default="extra", show_default=True,
              help="Perturbations for --stability: a named set, extra (the 4 held out from "
                   "mPC) or stable-heatmap (the paper's: gaussian_blur, jpeg_compression, "
                   "saturate, spatter, speckle_noise), or corruption names / condition ids.")
@click.option("--stability-severities", default=None,
              help="Severities for --stability (default: those of --severities).")
@click.option("--protocol", type=click.Choice(["robustpose", "advmix"]), default=None,
              help="Protocol for --on-the-fly rendering [default: robustpose]; with "
                   "--corrupted it must be the folder's.")
@click.option("--seed", type=int, default=None, help="Benchmark seed for --on-the-fly.")
@click.option("--inference-protocol", type=click.Choice(list(inference_protocol_names())),
              default=None,
              help="Crop conventions of the model (GT boxes, geometry precision; "
                   "docs/protocol.md) [default: the adapter's, hrnet].")
@click.option("--metric", type=click.Choice(["auto", "AP", "PCKh"]), default="auto", show_default=True)
@click.option("--use-area/--no-use-area", default=True, show_default=True,
              help="OKS area from the annotation (True) or 0.53*w*h of the GT box (xtcocotools).")
@click.option("--backend", default="auto", show_default=True,
              help="AP backend: auto, pycocotools, xtcocotools, faster-coco-eval.")
@click.option("--device", default=None, help="cuda, cuda:1 or cpu (default: cuda if available).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Person crops per batch.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Processes decoding and corrupting images ahead of the model.")
@max_pixels_option()
@click.option("--shard", default=None, help="i/n: evaluate every n-th image from i; merge with "
                                            "`robustpose merge`.")
@click.option("--allow-partial", is_flag=True, help="Summarise even if conditions are missing "
                                                    "(mPC then marked partial).")
@click.option("--force", is_flag=True,
              help="Recompute every condition; conditions --out holds from another run "
                   "(other model, checkpoint, boxes, benchmark or metric options) are deleted.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--no-progress", is_flag=True)
@user_errors
def command(model_spec, model_args, trust_checkpoint, benchmark, definition, root, ann, images,
            gt_mat, dataset_name, corrupted, on_the_fly, boxes, gt_boxes, corruptions,
            severities, attacks, attack_mode, stability, stability_corruptions,
            stability_severities, protocol, seed, inference_protocol, metric, use_area, backend,
            device, batch_size, workers, max_pixels, shard, allow_partial, force, out,
            no_progress):
    """Evaluate a model on a data set and its corrupted copies: writes per-condition
    predictions and scores under --out, then summary.json (clean, mPC, rPC, per corruption)
    and per_condition.csv. Re-running resumes: conditions measured with the same model,
    checkpoint, boxes, benchmark and metric options are kept (unless --force); a folder
    holding another run's conditions is refused."""
    from robustpose_bench.adapters.args import parse_model_args
    from robustpose_bench.evaluation import DataSpec, evaluate
    from robustpose_bench.evaluation.errors import OptionError

    if benchmark is not None and definition is not None:
        raise click.UsageError("give --benchmark NAME or --manifest PATH, not both")
    bench = benchmark or definition
    if bench is not None and (ann or images):
        raise click.UsageError("--ann/--images do not go with --benchmark/--manifest")
    if corrupted is not None and on_the_fly:
        raise click.UsageError("--corrupted and --on-the-fly exclude each other")
    data = (DataSpec(benchmark=str(bench), root=str(root) if root else None) if bench
            else DataSpec(ann=ann and str(ann), images=images and str(images),
                          gt_mat=gt_mat and str(gt_mat), dataset_name=dataset_name))
    try:
        summary = evaluate(
            model_spec, data, corruptions, model_args=parse_model_args(model_args),
            trust_checkpoint=trust_checkpoint, rendered=corrupted,
            boxes=boxes if boxes else ("gt" if gt_boxes or not bench else None),
            severities=severities, attacks=attacks, attack_mode=attack_mode,
            stability=stability_corruptions if stability else None,
            stability_severities=stability_severities, protocol=protocol, seed=seed,
            inference_protocol=inference_protocol, metric=metric, use_area=use_area,
            backend=backend, device=device, batch_size=batch_size, workers=workers,
            max_pixels=max_pixels, shard=parse_shard(shard), allow_partial=allow_partial,
            force=force, out=out, progress=not no_progress)
    except OptionError as exc:
        raise UserError(exc.for_cli()) from None
    except SystemExit as exc:  # a model's code ended the process: never exit 0 without results
        raise UserError(f"the model {model_spec} called sys.exit({exc.code!r}) while it was "
                        f"loaded; no results were written to {out}") from None
    if summary is None:
        click.echo(f"shard {shard} done: predictions under {out}; combine the shards with "
                   f"`robustpose merge`", err=True)
        return
    click.echo(json.dumps({k: summary[k] for k in ("metric", "clean", "mPC", "rPC")
                           if summary.get(k) is not None}))
    click.echo(f"summary: {Path(out) / 'summary.json'}", err=True)
