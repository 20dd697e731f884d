"""`robustpose leaderboard add|validate|build`: the leaderboard CSV files and their pages.

Rows follow AdvMix (Wang et al., CVPR 2021) Table 1: clean, mPC, rPC, 15 corruptions, provenance.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from robustpose_bench.cli._common import EXIT_FINDINGS, UserError


@click.group("leaderboard")
def command() -> None:
    """Add results to, validate and build the leaderboard (CSV files per benchmark)."""


@command.command("add")
@click.argument("results_dir", type=click.Path(exists=True, path_type=Path))
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Leaderboard file (default: <dir>/<dataset>-c.csv from the summary).")
@click.option("--dir", "leaderboard_dir", default="leaderboard", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Leaderboard folder used when --csv is not given.")
@click.option("--name", help="Model name for the row (default: the summary's model.name).")
@click.option("--method", help="Training method for the row (default: model.method).")
@click.option("--allow-partial", is_flag=True,
              help="Accept a run with missing conditions (row gets a 'partial' note).")
@click.option("--manifest", type=click.Path(exists=True, path_type=Path),
              help="Benchmark manifest.json (or rendered folder) the run must match.")
@click.option("--date", help="Row date YYYY-MM-DD (default: the summary's creation date).")
@click.option("--dry-run", is_flag=True, help="Check and print the row; write nothing.")
def add(results_dir: Path, csv_path: Path | None, leaderboard_dir: Path, name: str | None,
        method: str | None, allow_partial: bool, manifest: Path | None, date: str | None,
        dry_run: bool) -> None:
    """Validate RESULTS_DIR/summary.json and add or replace its row (idempotent)."""
    from robustpose_bench.leaderboard import LeaderboardError, add_results

    try:
        out = add_results(results_dir, csv_path, name, method, allow_partial=allow_partial,
                          manifest=manifest, date=date, leaderboard_dir=leaderboard_dir,
                          dry_run=dry_run)
    except LeaderboardError as exc:
        raise UserError(str(exc)) from None
    r = out.row
    score = "mPC" if "mPC" in r else "attacked"
    click.echo(f"{out.csv_path}: {out.action if not dry_run else 'would be ' + out.action} "
               f"{r['model']} / {r['method']} ({r['metric']} clean {r['clean']}, "
               f"{score} {r[score]})")


@command.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def validate_cmd(paths: tuple[Path, ...]) -> None:
    """Check leaderboard CSV files (default: every CSV in ./leaderboard)."""
    from robustpose_bench.leaderboard import validate
    from robustpose_bench.leaderboard.validate import leaderboard_files

    targets = list(paths) or [Path("leaderboard")]
    missing = [p for p in targets if not p.exists()]
    if missing:
        raise UserError(f"no such file or folder: {', '.join(map(str, missing))}")
    problems = validate(targets)
    if problems:
        for p in problems:
            click.echo(p, err=True)
        click.echo(f"Error: {len(problems)} problem(s) found", err=True)
        sys.exit(EXIT_FINDINGS)
    files = leaderboard_files(targets)
    click.echo(f"OK: {len(files)} file(s) valid ({', '.join(f.name for f in files)})")


@command.command("build")
@click.option("--dir", "leaderboard_dir", default="leaderboard", show_default=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder with the CSV files.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where README.md, index.html and figures/ go (default: --dir).")
@click.option("--no-figures", is_flag=True, help="Tables only.")
def build_cmd(leaderboard_dir: Path, out_dir: Path | None, no_figures: bool) -> None:
    """Render README.md (sorted tables), index.html (sortable, self-contained) and figures."""
    from robustpose_bench.leaderboard import LeaderboardError, build

    try:
        out = build(leaderboard_dir, out_dir, figures=not no_figures)
    except LeaderboardError as exc:
        raise UserError(str(exc)) from None
    click.echo(f"wrote {out['readme']}, {out['html']}"
               + ("" if no_figures else f" and figures in {out['figures']}"))
