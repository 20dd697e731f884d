"""Robustness aggregates over corruption conditions: mPC, rPC, per-corruption, per-severity
and per-category means, gap to clean.

Follows Michaelis et al. / the AdvMix pose benchmark (PROTOCOL.md sections 1-2): mPC is the
mean over the 15 benchmark corruptions of the mean over severities 1..5; rPC = mPC / clean.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

from robustpose_bench.names import CATEGORIES, CORRUPTIONS, EXTRA_CORRUPTIONS, SEVERITIES


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _severity(key: object, corruption: str) -> int:
    try:
        s = int(key)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        s = -1
    if isinstance(key, bool) or s not in SEVERITIES or str(key).strip() != str(s):
        raise ValueError(f"per_condition[{corruption!r}]: severity {key!r} is not one of "
                         f"{', '.join(map(str, SEVERITIES))}")
    return s


def condition_id(corruption: str, severity: int) -> str:
    """The condition's string id, e.g. `gaussian_noise/3`."""
    return f"{corruption}/{severity}"


def aggregate(per_condition: Mapping[str, Mapping[int | str, float]], clean: float,
              allow_partial: bool = False) -> dict:
    """Aggregate per-condition scores (AP or PCKh, any unit) into robustness numbers.

    per_condition: {corruption: {severity (1..5, int or str): score}}; the 15 benchmark
    corruptions x 5 severities are required. The 4 held-out corruptions (speckle_noise,
    gaussian_blur, spatter, saturate) may be present: they are reported under "extras" and
    never enter mPC. Other names are an error. clean: the clean score (same unit).

    Missing benchmark conditions raise ValueError naming them, unless allow_partial=True:
    then every aggregate is computed from the conditions present (mPC = mean over the
    corruptions present of their mean over the severities present), "partial" is True and
    "missing" lists the absent `corruption/severity` ids.

    Returns {"mPC", "rPC" (= mPC / clean, a ratio; None if clean is 0), "clean",
    "gap_to_clean" (= clean - mPC), "per_corruption" {name: mean over severities},
    "per_severity" {"1".."5": mean over corruptions}, "per_category" {category: mean of its
    per-corruption means}, "extras" {name: {"mean", "per_severity"}}, "num_conditions",
    "partial", "missing"} with scores in the unit of the inputs.
    """
    if not isinstance(clean, (int, float)) or isinstance(clean, bool) or not math.isfinite(clean):
        raise ValueError(f"clean score must be a finite number, got {clean!r}")
    known = set(CORRUPTIONS) | set(EXTRA_CORRUPTIONS)
    table: dict[str, dict[int, float]] = {}
    for name, sev_scores in per_condition.items():
        if name not in known:
            raise ValueError(f"unknown corruption {name!r} in per_condition; benchmark: "
                             f"{', '.join(CORRUPTIONS)}; held-out: {', '.join(EXTRA_CORRUPTIONS)}")
        if not isinstance(sev_scores, Mapping):
            raise ValueError(f"per_condition[{name!r}] must map severity -> score, got "
                             f"{type(sev_scores).__name__}")
        row: dict[int, float] = {}
        for key, val in sev_scores.items():
            s = _severity(key, name)
            if s in row:
                raise ValueError(f"per_condition[{name!r}]: severity {s} given twice")
            if not isinstance(val, (int, float)) or isinstance(val, bool) or not math.isfinite(val):
                raise ValueError(f"per_condition[{name!r}][{key!r}]: score must be a finite "
                                 f"number, got {val!r}")
            row[s] = float(val)
        table[name] = row
    missing = [condition_id(c, s) for c in CORRUPTIONS for s in SEVERITIES
               if s not in table.get(c, {})]
    if missing and not allow_partial:
        shown = ", ".join(missing[:10]) + (f", ... ({len(missing)} in all)" if len(missing) > 10 else "")
        raise ValueError(f"missing benchmark conditions: {shown}; mPC needs all "
                         f"{len(CORRUPTIONS) * len(SEVERITIES)} (pass allow_partial=True to "
                         "report a partial result)")
    per_corruption = {c: m for c in CORRUPTIONS
                      if (m := _mean([table[c][s] for s in SEVERITIES if s in table.get(c, {})]))
                      is not None}
    per_severity = {str(s): _mean([table[c][s] for c in CORRUPTIONS if s in table.get(c, {})])
                    for s in SEVERITIES}
    per_category = {cat: _mean([per_corruption[c] for c in names if c in per_corruption])
                    for cat, names in CATEGORIES.items()}
    mpc = _mean(list(per_corruption.values()))
    extras = {c: {"mean": _mean(list(table[c].values())),
                  "per_severity": {str(s): v for s, v in sorted(table[c].items())}}
              for c in EXTRA_CORRUPTIONS if c in table and table[c]}
    return {
        "mPC": mpc,
        "rPC": (mpc / clean) if (mpc is not None and clean != 0) else None,
        "clean": float(clean),
        "gap_to_clean": (clean - mpc) if mpc is not None else None,
        "per_corruption": per_corruption,
        "per_severity": per_severity,
        "per_category": per_category,
        "extras": extras,
        "num_conditions": len(CORRUPTIONS) * len(SEVERITIES) - len(missing),
        "partial": bool(missing),
        "missing": missing,
    }
