"""`robustpose merge`: combine sharded `robustpose evaluate --shard i/n` outputs and score them."""
from __future__ import annotations

import json
from pathlib import Path

import click

from robustpose_bench.cli._common import UserError, user_errors


@click.command(name="merge")
@click.argument("shards", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--force", is_flag=True,
              help="Replace what --out holds from another run (its conditions are deleted).")
@click.option("--no-progress", is_flag=True)
@user_errors
def command(shards, out, force, no_progress):
    """Merge the per-condition predictions of every shard (all i of one i/n split) into
    --out and write summary.json as an unsharded run would. The shards must share one run's
    settings and fingerprint; --out is locked for the merge."""
    from robustpose_bench.evaluation import merge_shards
    from robustpose_bench.evaluation.errors import OptionError

    try:
        summary = merge_shards(list(shards), out, progress=not no_progress, force=force)
    except OptionError as exc:
        raise UserError(exc.for_cli()) from None
    click.echo(json.dumps({k: summary[k] for k in ("metric", "clean", "mPC", "rPC")
                           if summary.get(k) is not None}))
