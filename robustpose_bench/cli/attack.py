"""`robustpose attack`: render occlusion-attacked copies of a data set (image mode)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from robustpose_bench.cli._common import (
    EXIT_FINDINGS,
    jobs_option,
    parse_float_list,
    render_checks_options,
    user_errors,
)


@click.command(name="attack")
@click.option("--ann", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Annotation file (COCO-format json or MPII json).")
@click.option("--images", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output root: <out>/<mode>/<target>/<file_name>.")
@click.option("--targets", default=None,
              help="Comma list of keypoint and part names, all-keypoints or all-parts.")
@click.option("--modes", default="blackout,meanout,blur", show_default=True)
@click.option("--radius", "radii", default="6", show_default=True, callback=parse_float_list,
              help="Keypoint circle radius in model-input pixels (256x192 frame); comma list "
                   "for a sweep.")
@click.option("--grid", type=click.Path(dir_okay=False, path_type=Path),
              help="An attack grid (manifests/attacks*.yaml) instead of --targets/--modes/--radius.")
@click.option("--dataset-name", default=None)
@click.option("--format", "fmt", type=click.Choice(["jpg", "png"]), default="png", show_default=True,
              help="png keeps the attack's pixels exact; jpg re-encodes at --quality.")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True,
              help="JPEG quality for --format jpg.")
@jobs_option()
@click.option("--backend", type=click.Choice(["local", "loky", "dask"]), default="local",
              show_default=True, help="local (= loky): processes on this machine; dask: the "
                                      "cluster at --scheduler (as for generate and evaluate).")
@click.option("--scheduler", default=None, metavar="ADDR",
              help="Dask scheduler address for --backend dask, e.g. tcp://10.0.0.5:8786 "
                   "(without it: a cluster in this process).")
@render_checks_options
@click.option("--no-progress", is_flag=True)
@user_errors
def command(ann, images, out, targets, modes, radii, grid, dataset_name, fmt, quality, jobs,
            backend, scheduler, force, max_pixels, size_mismatch, no_progress):
    """Render keypoint / body-part occlusion attacks (blackout, meanout, blur) of every
    annotated person, on the full image, for bottom-up models and external tools. The
    crop-mode protocol of Pytel et al. runs inside `robustpose evaluate --attacks`.
    `attacked_persons.json` records, per attack and image, which persons were attacked and
    which were skipped (target not labelled, too few part keypoints) and why. Resuming,
    settings and locking work as for `generate`."""
    from robustpose_bench.datasets import load_dataset
    from robustpose_bench.occlusion import load_attack_grid, make_attack_specs
    from robustpose_bench.render.benchmark import attack_benchmark
    from robustpose_bench.render.conditions import Condition
    from robustpose_bench.render.jobs import ImageChecks
    from robustpose_bench.render.protocol import get_protocol

    dataset = load_dataset(ann, images, dataset_name=dataset_name)
    if grid is not None:
        specs = load_attack_grid(grid, dataset.meta).specs
    else:
        if not targets:
            raise click.UsageError("give --targets (or --grid)")
        specs = make_attack_specs(targets, modes, dataset.meta, radii)
    conditions = [Condition.from_attack(s) for s in specs]
    protocol = get_protocol("robustpose").with_overrides(format=fmt, quality=quality)
    click.echo(f"rendering {len(conditions)} attacks x {len(dataset)} images to {out}", err=True)
    if scheduler and backend != "dask":
        raise click.UsageError("--scheduler needs --backend dask")
    manifest, report = attack_benchmark(dataset, out, conditions, protocol, jobs=jobs,
                                        force=force, progress=not no_progress,
                                        checks=ImageChecks(max_pixels, size_mismatch),
                                        backend=backend, scheduler=scheduler)
    attacked = {cid: sum(info.get("counts", {}).get("attacked", 0) for info in per.values())
                for cid, per in report.attack_info.items()}
    for cid in (c.id for c in conditions):
        click.echo(f"  {cid}: {attacked.get(cid, 0)} persons attacked", err=True)
    click.echo(f"done in {report.seconds:.1f} s: {report.summary()}; manifest "
               f"{Path(out) / 'manifest.json'}", err=True)
    if report.failed:
        click.echo(f"{len(report.failed)} source images could not be rendered (the others "
                   f"were; listed in the manifest and failed.txt):", err=True)
        for fname, err in sorted(report.failed.items()):
            click.echo(f"  {fname}: {err}", err=True)
        sys.exit(EXIT_FINDINGS)
