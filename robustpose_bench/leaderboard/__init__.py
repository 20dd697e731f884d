"""Leaderboard: CSV files per benchmark (AdvMix Table 1 columns + provenance), idempotent
`add` from a results folder, `validate`, and `build` (README tables, static page, figures)."""
from __future__ import annotations

from robustpose_bench.leaderboard.add import AddOutcome, add_results, default_csv
from robustpose_bench.leaderboard.build import build
from robustpose_bench.leaderboard.csvfile import Table, read_table, write_table
from robustpose_bench.leaderboard.schema import (
    CORRUPTION_SCHEMA,
    OCCLUSION_SCHEMA,
    LeaderboardError,
    Schema,
)
from robustpose_bench.leaderboard.validate import validate

__all__ = [
    "AddOutcome", "CORRUPTION_SCHEMA", "LeaderboardError", "OCCLUSION_SCHEMA", "Schema",
    "Table", "add_results", "build", "default_csv", "read_table", "validate", "write_table",
]
