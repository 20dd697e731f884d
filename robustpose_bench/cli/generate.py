"""`robustpose generate`: render a corrupted benchmark (COCO-C, MPII-C, OCHuman-C, SynthPose-C)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from robustpose_bench.cli._common import (
    EXIT_FINDINGS,
    jobs_option,
    render_checks_options,
    user_errors,
)


@click.command(name="generate")
@click.option("--ann", type=click.Path(dir_okay=False, path_type=Path),
              help="Annotation file (COCO-format json or MPII json); only its images are rendered.")
@click.option("--images", type=click.Path(file_okay=False, path_type=Path),
              help="Folder the annotation's file names are relative to.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output root: <out>/<corruption>/<severity>/<file_name>.")
@click.option("--benchmark", default=None, metavar="NAME",
              help="A packaged benchmark definition (coco-c, mpii-c, ochuman-c, synthpose-c, "
                   "coco-c-advmix); use with --root.")
@click.option("--manifest", "definition", type=click.Path(dir_okay=False, path_type=Path),
              help="A benchmark definition file (YAML) instead of --benchmark; use with --root.")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path),
              help="Data root the definition's paths are relative to (MMPose layout).")
@click.option("--dataset-name", default=None, help="coco, ochuman, mpii, synthpose, ... "
              "(default: guessed from the annotation file name).")
@click.option("--corruptions", default=None,
              help="Comma list, or all (the 15 of mPC, default), extra (the 4 held-out), all+extra.")
@click.option("--severities", default=None, help="Comma list of 1..5 (default all).")
@click.option("--seed", type=int, default=None, help="Benchmark seed (protocol default if unset).")
@click.option("--protocol", type=click.Choice(["robustpose", "advmix"]), default=None,
              help="robustpose: per-image seeds, folders 1..5, JPEG 95 (default). advmix: seed 1 "
                   "before every call, folders 0..4, JPEG 75 (the AdvMix authors' files).")
@click.option("--format", "fmt", type=click.Choice(["jpg", "png"]), default=None)
@click.option("--quality", type=click.IntRange(1, 100), default=None, help="JPEG quality 1..100.")
@jobs_option()
@click.option("--backend", type=click.Choice(["local", "loky", "dask"]), default="local",
              show_default=True, help="local (= loky): processes on this machine; dask: the "
                                      "cluster at --scheduler (as for attack and evaluate).")
@click.option("--scheduler", default=None, help="Dask scheduler address for --backend dask.")
@render_checks_options
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@user_errors
def command(ann, images, out, benchmark, definition, root, dataset_name, corruptions, severities,
            seed, protocol, fmt, quality, jobs, backend, scheduler, force, max_pixels,
            size_mismatch, no_progress):
    """Render a corrupted benchmark: every image of the annotation file under every
    corruption x severity, written atomically; a manifest.json and an index.sha256 record how
    and what was rendered (check with `robustpose verify`).

    Re-running resumes: a file is kept only if its sha256 matches the folder's record
    (damaged ones are rendered again). A folder belongs to one set of settings (protocol,
    seed, format, quality, annotation file, engine versions): other settings are refused
    unless --force; new corruptions or severities with equal settings extend the folder.
    One run at a time per output folder."""
    from robustpose_bench.datasets import load_dataset
    from robustpose_bench.render.benchmark import (
        dataset_from_definition,
        generate_benchmark,
        load_benchmark_definition,
        parse_corruptions,
        parse_severities,
    )
    from robustpose_bench.render.jobs import ImageChecks
    from robustpose_bench.render.protocol import get_protocol

    name = None
    if benchmark is not None and definition is not None:
        raise click.UsageError("give --benchmark NAME or --manifest PATH, not both")
    definition = benchmark or definition
    if definition is not None:
        if root is None:
            raise click.UsageError("--benchmark/--manifest need --root (the data root of the "
                                   "definition)")
        spec = load_benchmark_definition(definition)
        dataset = dataset_from_definition(spec, root)
        name = spec["name"]
        out = out or Path(root) / spec.get("output", name)
        corruptions = corruptions or ",".join(spec.get("corruptions", ["all"]))
        severities = severities or spec.get("severities")
        protocol = protocol or spec.get("protocol")
        seed = spec.get("seed") if seed is None else seed
        fmt = fmt or spec.get("format")
        quality = quality or spec.get("quality")
    else:
        missing = [o for o, v in (("--ann", ann), ("--images", images), ("--out", out)) if v is None]
        if missing:
            raise click.UsageError(f"missing {', '.join(missing)} (or use --benchmark + --root)")
        dataset = load_dataset(ann, images, dataset_name=dataset_name)
    names = parse_corruptions(corruptions)
    sevs = parse_severities(severities)
    proto = get_protocol(protocol or "robustpose").with_overrides(seed, fmt, quality)
    n_files = len(dataset) * len(names) * len(sevs)
    click.echo(f"rendering {len(dataset)} images x {len(names)} corruptions x {len(sevs)} severities "
               f"= {n_files} files to {out} (protocol {proto.name}, seed {proto.seed}, "
               f"{proto.format}{' q' + str(proto.quality) if proto.format == 'jpg' else ''})",
               err=True)
    manifest, report = generate_benchmark(dataset, out, names, sevs, proto, jobs=jobs,
                                          backend=backend, scheduler=scheduler, name=name,
                                          force=force, progress=not no_progress,
                                          checks=ImageChecks(max_pixels, size_mismatch))
    click.echo(f"done in {report.seconds:.1f} s: {report.summary()}; manifest "
               f"{Path(out) / 'manifest.json'} (benchmark sha256 {manifest['benchmark_sha256'][:12]})",
               err=True)
    if report.failed:
        click.echo(f"{len(report.failed)} source images could not be rendered (the others "
                   f"were; listed in the manifest and failed.txt):", err=True)
        for fname, err in sorted(report.failed.items()):
            click.echo(f"  {fname}: {err}", err=True)
        sys.exit(EXIT_FINDINGS)

