"""Reading and atomically writing leaderboard CSV files; idempotent add-or-replace by row key.

Layout and key: robustpose_bench.leaderboard.schema (AdvMix Table 1 columns + provenance).
"""
from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from robustpose_bench.io import atomic_write_text
from robustpose_bench.leaderboard.schema import LeaderboardError, Schema, schema_for

log = logging.getLogger(__name__)


@dataclass
class Table:
    """A leaderboard file in memory: its schema and rows (column name -> cell text).

    `lines` holds the 1-based line number of each row in the file it was read from (for
    messages); rows added in memory have line 0.
    """

    path: Path
    schema: Schema
    rows: list[dict[str, str]]
    lines: list[int]

    @property
    def stem(self) -> str:
        return self.path.name.removesuffix(".csv")


def read_table(path: str | Path, schema: Schema | None = None, missing_ok: bool = False) -> Table:
    """Read a leaderboard CSV. The header must equal a known schema's columns, in order.

    missing_ok: a missing file reads as an empty table of `schema` (or the schema its name
    implies). Raises LeaderboardError naming the file for a bad header or ragged rows.
    """
    path = Path(path)
    if not path.exists():
        if missing_ok:
            return Table(path, schema or schema_for(path.name), [], [])
        raise LeaderboardError(f"{path}: no such leaderboard file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LeaderboardError(f"{path}: cannot read: {exc}") from exc
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise LeaderboardError(f"{path}: empty file (expected a header line)") from None
    found = schema_for(path.name, header) if schema is None else schema
    if header != found.names:
        missing = [c for c in found.names if c not in header]
        extra = [c for c in header if c not in found.names]
        detail = []
        if missing:
            detail.append(f"missing columns {missing}")
        if extra:
            detail.append(f"unknown columns {extra}")
        if not detail:
            detail.append("columns out of order")
        raise LeaderboardError(f"{path}: header does not match the {found.kind} schema: "
                               + "; ".join(detail))
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    for cells in reader:
        line = reader.line_num
        if not cells:
            continue
        if len(cells) != len(header):
            raise LeaderboardError(f"{path}:{line}: {len(cells)} cells, expected {len(header)}")
        rows.append(dict(zip(header, cells, strict=True)))
        lines.append(line)
    return Table(path, found, rows, lines)


def render_csv(schema: Schema, rows: Sequence[Mapping[str, str]]) -> str:
    """CSV text of `rows` in schema order ("\\n" line ends, minimal quoting)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(schema.names)
    for row in rows:
        unknown = set(row) - set(schema.names)
        if unknown:
            raise LeaderboardError(f"row has columns not in the {schema.kind} schema: "
                                   f"{sorted(unknown)}")
        writer.writerow([row.get(c, "") or "" for c in schema.names])
    return buf.getvalue()


def write_table(table: Table) -> Path:
    """Write `table` to its path atomically (temp file + rename)."""
    return atomic_write_text(table.path, render_csv(table.schema, table.rows))


def upsert(table: Table, row: Mapping[str, str]) -> str:
    """Add `row`, or replace the row with the same key in place. Returns "added",
    "replaced" or "unchanged" (same key and identical cells)."""
    full = {c: (row.get(c, "") or "") for c in table.schema.names}
    key = table.schema.row_key(full)
    matches = [i for i, r in enumerate(table.rows) if table.schema.row_key(r) == key]
    if len(matches) > 1:
        raise LeaderboardError(f"{table.path}: key {key} occurs {len(matches)} times "
                               "(run `robustpose leaderboard validate`)")
    if matches:
        i = matches[0]
        if table.rows[i] == full:
            return "unchanged"
        table.rows[i] = full
        return "replaced"
    table.rows.append(full)
    table.lines.append(0)
    return "added"
