"""`robustpose report RESULTS_DIR... --out DIR`: markdown report + figures (PNG and SVG).

Figures after AdvMix (Wang et al., CVPR 2021) Fig. 4a/4b/5 and Pytel et al. Fig. 5/7.
"""
from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.argument("results_dirs", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for report.md and figures/.")
@click.option("--format", "formats", default="png,svg", show_default=True,
              help="Comma list of figure formats (png, svg, pdf).")
@click.option("--title", help="Report title.")
def command(results_dirs: tuple[Path, ...], out_dir: Path, formats: str,
            title: str | None) -> None:
    """Tables and figures from one or more results folders (each with summary.json)."""
    from robustpose_bench.report import make_report
    from robustpose_bench.results import SummaryError

    fmts = [f.strip().lower() for f in formats.split(",") if f.strip()]
    bad = [f for f in fmts if f not in ("png", "svg", "pdf")]
    if bad or not fmts:
        raise click.BadParameter(f"unknown format(s) {bad}; use png, svg, pdf",
                                 param_hint="--format")
    try:
        path = make_report(list(results_dirs), out_dir, formats=fmts, title=title)
    except SummaryError as exc:
        raise click.ClickException(str(exc)) from None
    figs = sorted((out_dir / "figures").glob("*")) if (out_dir / "figures").exists() else []
    click.echo(f"wrote {path} and {len(figs)} figure file(s) in {out_dir / 'figures'}")
