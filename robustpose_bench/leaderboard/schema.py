"""Column definitions of the leaderboard CSV files (one file per benchmark).

Follows the result tables of Wang et al., AdvMix (CVPR 2021), Tables 1-3, 5, 6, 8 (clean AP* or
PCKh*, mPC, rPC, 15 per-corruption scores) plus provenance columns, and the occlusion attacks of
Pytel et al. (keypoint and part attacks, blackout / meanout / blur).
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from robustpose_bench.datasets.meta import COCO_KEYPOINTS, COCO_PARTS
from robustpose_bench.names import CORRUPTIONS, SEVERITIES, SHORT_NAMES  # noqa: F401 (re-exported)
from robustpose_bench.results import SummaryError


class LeaderboardError(SummaryError):
    """A leaderboard file or a results folder that cannot be used; the message names the file.
    (A SummaryError, so one `except SummaryError` also catches the summary problems.)"""


# The 15 benchmark corruptions in the order of PROTOCOL.md / AdvMix Table 1 (4 categories).
BENCHMARK_CORRUPTIONS: tuple[str, ...] = CORRUPTIONS

# Column headers of AdvMix Table 1/4 -> corruption names.
PAPER_CORRUPTION_HEADERS: dict[str, str] = {short: name for name, short in SHORT_NAMES.items()}

ATTACK_MODES: tuple[str, ...] = ("blackout", "meanout", "blur")

SOURCES = ("measured", "reported")
METRICS = ("AP", "PCKh")
# Decimals of measured numbers (reported numbers keep the paper's printing).
MEASURED_DECIMALS = 2


@dataclass(frozen=True)
class Column:
    """One CSV column.

    kind: "str" (text: no leading =, +, -, @, tab or CR, no control characters), "float"
    (percent, 0..100), "ratio" (percent, >= 0: a model can score better under corruption than
    clean), "int", "date" (YYYY, YYYY-MM or YYYY-MM-DD, a real calendar date),
    "size" (HxW as printed in papers, e.g. 256x192), "sha256" (64 hex digits), "bool" (true
    or false).
    required: "always", "measured", "reported" or "" (may be empty).
    """

    name: str
    kind: str
    description: str
    required: str = ""


IDENTITY_COLUMNS: tuple[Column, ...] = (
    Column("model", "str", "model family / display name (e.g. SBL, HRNet, HrHRNet)", "always"),
    Column("method", "str", "training method (Standard, AdvMix, ...; names as in the paper)",
           "always"),
    Column("backbone", "str", "backbone (ResNet-50, HRNet-W32, ...)"),
    Column("input_size", "size", "network input, height x width in pixels (e.g. 256x192)"),
    Column("params", "int", "number of parameters (count, not millions)"),
    Column("metric", "str", "AP (COCO/OCHuman/SynthPose OKS AP) or PCKh (MPII PCKh@0.5)",
           "always"),
    Column("clean", "float", "clean score AP* or PCKh*, percent", "always"),
)

CORRUPTION_SCORE_COLUMNS: tuple[Column, ...] = (
    Column("mPC", "float", "mean performance under corruption: mean over 15 corruptions x 5 "
           "severities, percent", "always"),
    Column("rPC", "ratio", "relative performance under corruption, 100 * mPC / clean, percent",
           "always"),
) + tuple(Column(c, "float", f"{c}: mean over severities 1-5, percent")
          for c in BENCHMARK_CORRUPTIONS)

PROVENANCE_COLUMNS: tuple[Column, ...] = (
    Column("boxes", "str", "person boxes: gt, a detection file name, or none (bottom-up)",
           "always"),
    Column("protocol", "str", "rendering protocol (robustpose or advmix)", "always"),
    Column("seed", "int", "benchmark seed of the rendering protocol"),
    Column("inference_protocol", "str", "crop conventions the model was scored with (hrnet or "
           "mmpose, docs/protocol.md); empty for rows measured before it was recorded"),
    Column("use_area", "bool", "OKS scale: true = annotation area (COCO, OCHuman), false = "
           "0.53 * box area (xtcocotools use_area=False); empty for PCKh"),
    Column("source", "str", "measured (by robustpose) or reported (copied from a paper)",
           "always"),
    Column("version", "str", "robustpose_bench version that measured the row", "measured"),
    Column("manifest_sha256", "sha256", "sha256 of the benchmark manifest used", "measured"),
    Column("paper", "str", "citation of the paper the numbers come from", "reported"),
    Column("table", "str", "table of the paper (e.g. 1, 2)", "reported"),
    Column("date", "date", "measured: date of the run; reported: publication (arXiv v1) month",
           "always"),
    Column("notes", "str", "free text (partial runs, settings the paper leaves implicit)"),
)


def _attack_detail_columns() -> tuple[Column, ...]:
    targets = list(COCO_KEYPOINTS) + list(COCO_PARTS)
    return tuple(Column(f"{mode}/{t}", "float", f"AP under the {mode} attack on {t}, percent")
                 for mode in ATTACK_MODES for t in targets)


OCCLUSION_SCORE_COLUMNS: tuple[Column, ...] = (
    Column("attacked", "float", "mean AP over all attack conditions of the run, percent",
           "always"),
    Column("rel_attacked", "ratio", "100 * attacked / clean, percent", "always"),
    Column("keypoint_attacks", "float", "mean AP over keypoint attacks, percent"),
    Column("part_attacks", "float", "mean AP over part attacks, percent"),
    Column("num_attacks", "int", "number of attack conditions averaged", "always"),
    Column("worst_attack", "str", "the attack condition with the lowest AP (mode/target)"),
    Column("worst", "float", "AP under the worst attack, percent"),
) + _attack_detail_columns()


@dataclass(frozen=True)
class Schema:
    """A CSV layout: ordered columns, the idempotence key and the default sort column."""

    kind: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    sort_by: str
    ratio: tuple[str, str, str]  # (ratio column, numerator, denominator): ratio = 100 * n / d

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def row_key(self, row: Mapping[str, str]) -> tuple[str, ...]:
        return tuple((row.get(k) or "").strip() for k in self.key)


KEY_COLUMNS: tuple[str, ...] = ("model", "method", "backbone", "input_size", "boxes", "protocol",
                                "seed", "inference_protocol", "use_area", "source", "table")

CORRUPTION_SCHEMA = Schema(
    "corruption", IDENTITY_COLUMNS + CORRUPTION_SCORE_COLUMNS + PROVENANCE_COLUMNS,
    KEY_COLUMNS, "mPC", ("rPC", "mPC", "clean"))
OCCLUSION_SCHEMA = Schema(
    "occlusion", IDENTITY_COLUMNS + OCCLUSION_SCORE_COLUMNS + PROVENANCE_COLUMNS,
    KEY_COLUMNS, "attacked", ("rel_attacked", "attacked", "clean"))

SCHEMAS: dict[str, Schema] = {s.kind: s for s in (CORRUPTION_SCHEMA, OCCLUSION_SCHEMA)}

# Benchmark file stem -> (data set name in summary.json, metric).
BENCHMARKS: dict[str, tuple[str, str]] = {
    "coco-c": ("coco", "AP"),
    "mpii-c": ("mpii", "PCKh"),
    "ochuman-c": ("ochuman", "AP"),
    "synthpose-c": ("synthpose", "AP"),
    "coco-occlusion": ("coco", "AP"),
}

ADVMIX_PAPER = "Wang et al. 2021 AdvMix (CVPR 2021; arXiv:2105.06152)"

_SIZE_RE = re.compile(r"^\d+x\d+$")
_DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_NUM_RE = re.compile(r"^-?\d+(\.\d+)?$")
# A text cell starting with one of these is run as a formula by spreadsheet programs (CSV
# injection, OWASP): refused in every text column. Numbers live in numeric columns.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def schema_for(path_or_stem: str, header: Sequence[str] | None = None) -> Schema:
    """The schema of a leaderboard file: from its header when given, else from its name
    (`*occlusion*` -> occlusion attacks, anything else -> corruptions)."""
    if header is not None:
        for s in SCHEMAS.values():
            if list(header) == s.names:
                return s
    stem = str(path_or_stem).replace("\\", "/").rsplit("/", 1)[-1]
    return OCCLUSION_SCHEMA if "occlusion" in stem else CORRUPTION_SCHEMA


def decimals(text: str) -> int:
    """Number of digits after the decimal point of a printed number ("53.0" -> 1)."""
    return len(text.split(".", 1)[1]) if "." in text else 0


def format_measured(value: float) -> str:
    """A measured percentage as stored in the CSV (2 decimals)."""
    return f"{value:.{MEASURED_DECIMALS}f}"


def check_cell(column: Column, text: str) -> str | None:
    """None if `text` is a valid value of `column` (empty allowed), else a message."""
    if text == "":
        return None
    if column.kind in ("float", "ratio"):
        if not _NUM_RE.match(text):
            return f"{column.name}={text!r} is not a number"
        v = float(text)
        if column.kind == "float" and not 0.0 <= v <= 100.0:
            return f"{column.name}={text} is outside 0..100 (percent)"
        if v < 0.0:
            return f"{column.name}={text} is negative"
    elif column.kind == "int":
        if not re.match(r"^\d+$", text):
            return f"{column.name}={text!r} is not a non-negative integer"
    elif column.kind == "size":
        if not _SIZE_RE.match(text):
            return f"{column.name}={text!r} is not HxW (e.g. 256x192)"
    elif column.kind == "date":
        if not _DATE_RE.match(text):
            return f"{column.name}={text!r} is not YYYY, YYYY-MM or YYYY-MM-DD"
        parts = [int(p) for p in text.split("-")] + [1, 1]
        try:
            datetime.date(parts[0], parts[1], parts[2])
        except ValueError as exc:
            return f"{column.name}={text!r} is not a real date ({exc})"
    elif column.kind == "bool":
        if text not in ("true", "false"):
            return f"{column.name}={text!r} is not true or false"
    elif column.kind == "sha256":
        if not _SHA_RE.match(text):
            return f"{column.name}={text!r} is not 64 lowercase hex digits"
    elif text.startswith(FORMULA_PREFIXES):
        return (f"{column.name}={text!r} starts with {text[0]!r}, which spreadsheets run as a "
                f"formula; remove the leading character")
    elif _CONTROL_RE.search(text):
        return f"{column.name}={text!r} contains a control character (tab, newline, ...)"
    elif text != text.strip():
        return f"{column.name}={text!r} has leading/trailing spaces"
    return None


def ratio_consistent(ratio: str, num: str, den: str) -> bool:
    """Whether the printed ratio = 100 * num / den holds within the printing precision.

    Each printed number x with d decimals stands for a value in [x - h, x + h], h = 0.5 * 10^-d;
    the check passes when the printed ratio's interval meets the interval of 100 * num / den.
    """
    r, n, d = float(ratio), float(num), float(den)
    hr, hn, hd = (0.5 * 10 ** -decimals(t) for t in (ratio, num, den))
    if d - hd <= 0:
        return False
    lo = 100.0 * max(n - hn, 0.0) / (d + hd)
    hi = 100.0 * (n + hn) / (d - hd)
    return lo - hr - 1e-9 <= r <= hi + hr + 1e-9


def mean_consistent(mean_text: str, parts: Sequence[str]) -> bool:
    """Whether a printed mean agrees with the mean of printed parts within their precision."""
    values = [float(p) for p in parts]
    tol = 0.5 * 10 ** -decimals(mean_text) + max(0.5 * 10 ** -decimals(p) for p in parts)
    return abs(sum(values) / len(values) - float(mean_text)) <= tol + 1e-9
