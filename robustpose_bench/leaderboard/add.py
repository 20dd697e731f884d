"""`robustpose leaderboard add`: a checked results folder becomes one measured leaderboard row,
added or replaced idempotently (same key -> same single row)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from robustpose_bench.leaderboard.csvfile import read_table, upsert, write_table
from robustpose_bench.leaderboard.schema import BENCHMARKS, LeaderboardError, schema_for
from robustpose_bench.leaderboard.summary import (
    check_summary,
    corruption_row,
    load_summary,
    occlusion_row,
)
from robustpose_bench.leaderboard.validate import validate_table
from robustpose_bench.results import Summary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AddOutcome:
    """What `add_results` did: action is "added", "replaced" or "unchanged"."""

    csv_path: Path
    action: str
    row: dict[str, str]


def default_csv(summary: Summary, leaderboard_dir: str | Path = "leaderboard") -> Path:
    """`<dir>/<dataset>-c.csv`, or `<dir>/<dataset>-occlusion.csv` for a summary that has
    attacks but no corruption conditions."""
    dataset = str(summary.dataset_name or "unknown").lower()
    occlusion = bool(summary.attacks) and not summary.per_condition
    return Path(leaderboard_dir) / f"{dataset}-{'occlusion' if occlusion else 'c'}.csv"


def add_results(results_dir: str | Path, csv_path: str | Path | None = None,
                name: str | None = None, method: str | None = None, *,
                allow_partial: bool = False, manifest: str | Path | None = None,
                date: str | None = None, leaderboard_dir: str | Path = "leaderboard",
                check_dataset: bool = True, dry_run: bool = False) -> AddOutcome:
    """Validate `results_dir/summary.json` and add (or replace) its row in `csv_path`.

    name / method override the model's name and method (model column / method column).
    manifest: the benchmark's manifest.json (or rendered folder) the run must match.
    csv_path None -> `default_csv` under `leaderboard_dir`. The file's kind (corruption or
    occlusion) comes from its header, or from its name for a new file. check_dataset: refuse
    a summary whose data set / metric differs from the benchmark the file name says.
    Raises LeaderboardError with every problem found; writes nothing then.
    """
    summary = load_summary(results_dir)
    where = summary.source
    path = Path(csv_path) if csv_path is not None else default_csv(summary, leaderboard_dir)
    table = read_table(path, missing_ok=True)
    schema = table.schema if table.rows or path.exists() else schema_for(path.name)
    occlusion = schema.kind == "occlusion"
    errs = check_summary(summary, allow_partial=allow_partial,
                         need_corruptions=not occlusion, need_attacks=occlusion,
                         manifest=manifest, results=results_dir)
    stem = path.name.removesuffix(".csv")
    if check_dataset and stem in BENCHMARKS and not errs:
        want_ds, want_metric = BENCHMARKS[stem]
        ds = str(summary.dataset_name or "").lower()
        if ds != want_ds:
            errs.append(f"{where}: data set {ds!r} does not belong in {path.name} "
                        f"(expects {want_ds!r})")
        if summary.metric != want_metric:
            errs.append(f"{where}: metric {summary.metric!r} does not belong in "
                        f"{path.name} (expects {want_metric})")
    if errs:
        raise LeaderboardError("cannot add results:\n  " + "\n  ".join(errs))
    row = (occlusion_row(summary, name, method, date, schema) if occlusion
           else corruption_row(summary, name, method, date))
    action = upsert(table, row)
    problems = validate_table(table)
    if problems:
        raise LeaderboardError(f"{path}: the table would be invalid after adding the row:\n  "
                               + "\n  ".join(problems))
    if action != "unchanged" and not dry_run:
        write_table(table)
    log.info("%s: %s row %s / %s", path, action, row["model"], row["method"])
    return AddOutcome(path, action, row)
