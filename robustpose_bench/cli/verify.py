"""`robustpose verify`: re-hash a rendered benchmark against its manifest and index."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from robustpose_bench.cli._common import EXIT_FINDINGS, EXIT_OK, user_errors


@click.command(name="verify")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--quick", is_flag=True, help="Only check presence, do not re-hash.")
@click.option("--max-list", type=click.IntRange(min=0), default=20, show_default=True,
              help="How many offending files to list per kind.")
@user_errors
def command(folder, quick, max_list):
    """Check a folder rendered by `generate` or `attack`: reports missing, changed and extra
    files, images that failed to render and a run interrupted since the manifest was written;
    exits 1 on any of them (2 when FOLDER has no readable manifest or index)."""
    from robustpose_bench.render.manifest import verify

    report = verify(folder, rehash=not quick)
    for label, items in (("missing", report.missing), ("changed", report.changed),
                         ("extra", report.extra), ("failed source", report.failed_sources)):
        for rel in items[:max_list]:
            click.echo(f"{label}: {rel}")
        if len(items) > max_list:
            click.echo(f"{label}: ... and {len(items) - max_list} more")
    click.echo(("OK " if report.ok else "MISMATCH ") + report.summary())
    sys.exit(EXIT_OK if report.ok else EXIT_FINDINGS)
