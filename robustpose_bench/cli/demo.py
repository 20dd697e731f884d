"""`robustpose demo`: the end-to-end job on the embedded SynthPose data set."""
from __future__ import annotations

import json
from pathlib import Path

import click

from robustpose_bench.cli._common import jobs_option, user_errors


@click.command(name="demo")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/demo"),
              show_default=True, help="Everything is written below this folder.")
@click.option("--images", "num_images", type=int, default=100, show_default=True,
              help="SynthPose val images.")
@jobs_option(default=2)
@click.option("--corruptions", default="all", show_default=True)
@click.option("--severities", default="1,2,3,4,5", show_default=True)
@click.option("--no-stability", is_flag=True, help="Skip the stability (RUC) conditions.")
@click.option("--leaderboard-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Leaderboard folder to add the rows to (default: a copy under --out; pass "
                   "`leaderboard` to update the repository's files).")
@click.option("--models-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="Evaluate the checkpoints (<name>.safetensors + <name>.json) "
                                 "of this folder instead of the shipped models.")
@click.option("--no-progress", is_flag=True)
@user_errors
def command(out, num_images, jobs, corruptions, severities, no_stability, leaderboard_dir,
            models_dir, no_progress):
    """Synthesise SynthPose val, render SynthPose-C and an occlusion attack set, evaluate the
    shipped standard and AdvMix models (clean AP, mPC, rPC, attacks, RUC), add them to the
    leaderboard, build its page and the report, and print where everything is."""
    from robustpose_bench.demo import DemoConfig, run_demo

    result = run_demo(DemoConfig(out=out, num_images=num_images, jobs=jobs,
                                 corruptions=corruptions, severities=severities,
                                 stability=not no_stability, leaderboard_dir=leaderboard_dir,
                                 models_dir=models_dir, progress=not no_progress))
    click.echo("")
    click.echo(f"{'model':<28} {'AP (clean)':>10} {'mPC':>8} {'rPC':>8}")
    for name, n in result["models"].items():
        click.echo(f"{name:<28} {n['clean']:>10.2f} {n['mPC']:>8.2f} {n['rPC']:>8.2f}")
    click.echo("")
    for key, value in result["paths"].items():
        click.echo(f"{key:>17}: {value if isinstance(value, str) else ', '.join(value)}")
    click.echo(f"demo finished in {result['seconds']:.0f} s")
    click.echo(json.dumps(result["models"]), err=True)
