"""`robustpose synth`: synthesise the SynthPose data set (images, COCO + MPII annotations, part
masks, detection results), the embedded default data set of issue 2 (docs/synthpose.md)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from robustpose_bench.cli._common import user_errors


@click.command(name="synth")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (gets annotations/, images/<split>/, masks/<split>/, "
                   "person_detection_results/).")
@click.option("--split", type=click.Choice(["val", "train"]), default="val", show_default=True,
              help="Which split to write.")
@click.option("--images", "num_images", type=click.IntRange(min=1), default=None,
              help="Number of images [default: 100 for val, 2000 for train].")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Base seed [default: 0 for val, 1 for train]; same seed, same bytes.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes; the output does not depend on it.")
@user_errors
def command(out_dir: Path, split: str, num_images: int | None, seed: int | None,
            jobs: int) -> None:
    """Draw procedural people with the 17 COCO keypoints and write a COCO-format keypoint file,
    an MPII json + evaluation .mat of the same people, per-person part masks and a detection
    results file. Deterministic: the same arguments rewrite identical bytes."""
    from robustpose_bench.datasets.synthpose import generate

    t0 = time.perf_counter()
    paths = generate(out_dir, split=split, num_images=num_images, seed=seed, jobs=jobs,
                     progress=sys.stderr.isatty())
    dt = time.perf_counter() - t0
    for key in ("ann_file", "mpii_file", "mpii_gt_mat", "detections", "image_root", "mask_root"):
        click.echo(f"{key:12s} {paths[key]}")
    click.echo(f"done in {dt:.1f} s")
