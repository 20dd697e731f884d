"""Checks of leaderboard CSV files: schema, cell types, provenance, rPC = mPC / clean within
the printing precision (AdvMix eq. 2/4), mPC = mean of the 15 corruptions, unique keys."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from robustpose_bench.leaderboard.csvfile import Table, read_table
from robustpose_bench.leaderboard.schema import (
    BENCHMARK_CORRUPTIONS,
    BENCHMARKS,
    MEASURED_DECIMALS,
    METRICS,
    SOURCES,
    LeaderboardError,
    check_cell,
    decimals,
    mean_consistent,
    ratio_consistent,
)

log = logging.getLogger(__name__)


def leaderboard_files(paths: Iterable[str | Path]) -> list[Path]:
    """CSV files named by `paths` (folders expand to their `*.csv`, sorted)."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(p.glob("*.csv")))
        else:
            out.append(p)
    return out


def validate_table(table: Table) -> list[str]:
    """Problems of one leaderboard table, each as `path:line: message`."""
    errs: list[str] = []
    schema = table.schema
    expected_metric = BENCHMARKS.get(table.stem, (None, None))[1]
    seen: dict[tuple[str, ...], int] = {}
    for row, line in zip(table.rows, table.lines, strict=True):
        where = f"{table.path}:{line}" if line else f"{table.path} (new row)"

        def err(msg: str, where: str = where) -> None:
            errs.append(f"{where}: {msg}")

        source = row.get("source", "")
        if source not in SOURCES:
            err(f"source={source!r}, expected one of {list(SOURCES)}")
        for col in schema.columns:
            text = row.get(col.name, "")
            if col.required in ("always", source) and text == "":
                err(f"{col.name} is empty (required for {source or 'every'} rows)")
                continue
            msg = check_cell(col, text)
            if msg:
                err(msg)
            elif (source == "measured" and col.kind in ("float", "ratio") and text
                  and decimals(text) != MEASURED_DECIMALS):
                err(f"{col.name}={text}: measured numbers have {MEASURED_DECIMALS} decimals")
        metric = row.get("metric", "")
        if metric and metric not in METRICS:
            err(f"metric={metric!r}, expected one of {list(METRICS)}")
        elif metric and expected_metric and metric != expected_metric:
            err(f"metric={metric} but {table.path.name} holds {expected_metric} results")

        ratio, num, den = schema.ratio
        texts = [row.get(c, "") for c in (ratio, num, den)]
        if all(texts) and all(check_cell(schema.column(c), row[c]) is None
                              for c in (ratio, num, den)):
            if not ratio_consistent(*texts):
                exact = 100.0 * float(texts[1]) / float(texts[2]) if float(texts[2]) else 0.0
                err(f"{ratio}={texts[0]} but 100 * {num} / {den} = 100 * {texts[1]} / "
                    f"{texts[2]} = {exact:.2f} (beyond rounding)")
        if schema.kind == "corruption":
            parts = [row.get(c, "") for c in BENCHMARK_CORRUPTIONS]
            if all(parts) and row.get("mPC") and all(
                    check_cell(schema.column(c), row[c]) is None
                    for c in (*BENCHMARK_CORRUPTIONS, "mPC")):
                if not mean_consistent(row["mPC"], parts):
                    mean = sum(float(p) for p in parts) / len(parts)
                    err(f"mPC={row['mPC']} but the mean of the 15 corruptions is {mean:.3f}")
        key = schema.row_key(row)
        if key in seen:
            err(f"duplicate key {dict(zip(schema.key, key, strict=True))} "
                f"(first on line {seen[key]})")
        else:
            seen[key] = line
    return errs


def validate(paths: Iterable[str | Path]) -> list[str]:
    """Problems of the leaderboard files `paths` (files or folders of `*.csv`); an empty list
    means every file is valid. Unreadable files and bad headers are reported, not raised."""
    files = leaderboard_files(paths)
    errs: list[str] = []
    if not files:
        return ["no leaderboard CSV files given or found"]
    for f in files:
        try:
            table = read_table(f)
        except LeaderboardError as exc:
            errs.append(str(exc))
            continue
        errs.extend(validate_table(table))
        log.debug("%s: %d rows checked", f, len(table.rows))
    return errs
