"""Summaries as leaderboard rows: the checks a row needs beyond `Summary.validate` (the
benchmark manifest it was measured on) and the measured rows themselves (mPC / rPC of AdvMix
eq. 1-4; occlusion attacks of Pytel et al.). The summary.json layout is
`robustpose_bench.results.Summary`."""
from __future__ import annotations

import datetime as _dt
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robustpose_bench.io import sha256_file
from robustpose_bench.leaderboard.schema import (
    ATTACK_MODES,
    BENCHMARK_CORRUPTIONS,
    CORRUPTION_SCHEMA,
    OCCLUSION_SCHEMA,
    SEVERITIES,
    LeaderboardError,
    Schema,
    format_measured,
)
from robustpose_bench.names import method_name
from robustpose_bench.results import (
    Summary,
    SummaryError,
    fingerprint_problems,
    parse_date,
    summary_path,
)

log = logging.getLogger(__name__)

__all__ = ["check_summary", "corruption_row", "load_summary", "manifest_mismatch",
           "occlusion_row", "summary_path"]


def load_summary(results: str | Path) -> Summary:
    """`Summary.load`, with a LeaderboardError naming the file when it cannot be read."""
    try:
        return Summary.load(results)
    except LeaderboardError:
        raise
    except SummaryError as exc:
        raise LeaderboardError(str(exc)) from None


def check_summary(summary: Summary, *, allow_partial: bool = False,
                  need_corruptions: bool = True, need_attacks: bool = False,
                  manifest: str | Path | None = None,
                  results: str | Path | None = None) -> list[str]:
    """Problems of a summary for the leaderboard (empty list = usable): `Summary.validate`;
    when `results` (the results folder) is given, that every condition stored there was
    measured by the run of the summary (`results.fingerprint_problems`: one model, one
    benchmark, one set of options); and - when `manifest` (a manifest file or a rendered
    benchmark folder) is given - that the recorded hash equals the sha256 of that manifest
    file."""
    errs = summary.validate(allow_partial=allow_partial, need_corruptions=need_corruptions,
                            need_attacks=need_attacks)
    if results is not None:
        folder = Path(results)
        errs.extend(fingerprint_problems(summary, folder.parent if folder.is_file() else folder))
    man = summary.manifest
    if manifest is not None and isinstance(man, Mapping) and not any(
            "manifest.sha256" in e for e in errs):
        errs.extend(f"{summary.source}: {m}" for m in manifest_mismatch(man, manifest))
    return errs


def manifest_mismatch(recorded: Mapping[str, Any], manifest: str | Path) -> list[str]:
    """Problems when the manifest recorded in a summary is not the benchmark's manifest.

    `manifest` is a rendered benchmark's `manifest.json` (or its folder). The recorded sha256
    matches when it equals the file's sha256 or the manifest's `benchmark_sha256` (the hash
    of what defines the pixels, stable across re-renders); a recorded benchmark name must
    equal the manifest's `benchmark`.
    """
    mpath = Path(manifest)
    if mpath.is_dir():
        mpath = mpath / "manifest.json"
    if not mpath.is_file():
        return [f"benchmark manifest {mpath} not found"]
    try:
        data = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"benchmark manifest {mpath} unreadable: {exc}"]
    sha = str(recorded.get("sha256", ""))
    accepted = {sha256_file(mpath)}
    if isinstance(data, Mapping) and isinstance(data.get("benchmark_sha256"), str):
        accepted.add(data["benchmark_sha256"])
    out = []
    if sha not in accepted:
        out.append(f"manifest.sha256 {sha[:12]}... does not match the benchmark manifest "
                   f"{mpath} ({' or '.join(a[:12] + '...' for a in sorted(accepted))}): the "
                   "results were measured on another rendering")
    name = recorded.get("benchmark")
    if isinstance(data, Mapping) and name and data.get("benchmark") \
            and name != data["benchmark"]:
        out.append(f"manifest.benchmark {name!r} differs from {mpath}'s "
                   f"{data['benchmark']!r}")
    return out


def _identity(summary: Summary, name: str | None, method: str | None,
              date: str | None) -> dict[str, str]:
    model = summary.model or {}
    size = model.get("input_size")
    protocol = summary.protocol or {}
    seed = protocol.get("seed")
    options = summary.metric_options if isinstance(summary.metric_options, Mapping) else {}
    use_area = options.get("use_area") if summary.metric == "AP" else None
    created = parse_date(summary.created)
    if date is None:
        date = (created or _dt.date.today()).isoformat()
    return {
        "model": name or str(model.get("name", "")),
        "method": method or method_name(model.get("method")),
        "backbone": str(model.get("backbone") or ""),
        "input_size": f"{size[1]}x{size[0]}" if size else "",
        "params": str(model["params"]) if isinstance(model.get("params"), int) else "",
        "metric": str(summary.metric or ""),
        "clean": format_measured(float(summary.clean)),
        "boxes": str(summary.boxes or ""),
        "protocol": str(protocol.get("name", "")),
        "seed": "" if seed is None else str(seed),
        "inference_protocol": str(protocol.get("inference_protocol") or ""),
        "use_area": "" if use_area is None else ("true" if use_area else "false"),
        "source": "measured",
        "version": str((summary.versions or {}).get("robustpose_bench", "")),
        "manifest_sha256": str((summary.manifest or {}).get("sha256", "")),
        "paper": "",
        "table": "",
        "date": date,
    }


def corruption_row(summary: Summary, name: str | None = None,
                   method: str | None = None, date: str | None = None) -> dict[str, str]:
    """A measured row of the corruption schema from a checked summary.

    mPC / rPC / per-corruption cells are recomputed from per_condition (2 decimals), so the
    row is consistent in itself; a partial run gets empty cells and a note.
    """
    row = _identity(summary, name, method, date)
    rec = summary.recompute()
    clean = float(summary.clean)
    for c in BENCHMARK_CORRUPTIONS:
        v = rec["per_corruption"].get(c)
        row[c] = "" if v is None else format_measured(v)
    row["mPC"] = format_measured(rec["mPC"])
    row["rPC"] = format_measured(100.0 * rec["mPC"] / clean)
    missing = summary.missing_conditions()
    total = len(BENCHMARK_CORRUPTIONS) * len(SEVERITIES)
    row["notes"] = f"partial: {total - len(missing)}/{total} conditions" if missing else ""
    return {k: row.get(k, "") for k in CORRUPTION_SCHEMA.names}


def occlusion_row(summary: Summary, name: str | None = None,
                  method: str | None = None, date: str | None = None,
                  schema: Schema = OCCLUSION_SCHEMA) -> dict[str, str]:
    """A measured row of the occlusion schema from the `attacks` of a checked summary."""
    row = _identity(summary, name, method, date)
    everything = summary.attack_scores("AP")
    conditions = summary.attack_conditions()
    # radius sweeps (`@r<radius>` ids) stay out of the means: they would weigh differently
    attacks = {k: v for k, v in everything.items()
               if k in conditions and conditions[k].radius is None} or everything
    kp = [v for k, v in attacks.items() if summary.attack_kind(k) == "keypoint"]
    part = [v for k, v in attacks.items() if summary.attack_kind(k) == "part"]
    mean = sum(attacks.values()) / len(attacks)
    row["attacked"] = format_measured(mean)
    row["rel_attacked"] = format_measured(100.0 * mean / float(summary.clean))
    row["keypoint_attacks"] = format_measured(sum(kp) / len(kp)) if kp else ""
    row["part_attacks"] = format_measured(sum(part) / len(part)) if part else ""
    row["num_attacks"] = str(len(attacks))
    worst = min(attacks, key=lambda k: attacks[k])
    row["worst_attack"] = worst
    row["worst"] = format_measured(attacks[worst])
    names = set(schema.names)
    skipped = []
    for k, v in everything.items():
        if k in names:
            row[k] = format_measured(v)
        else:
            skipped.append(k)
    if skipped:
        log.warning("attacks without a detail column (kept in the means only): %s",
                    ", ".join(sorted(skipped)))
    modes = sorted({conditions[k].name for k in attacks if k in conditions} - set(ATTACK_MODES))
    notes = [f"modes outside {list(ATTACK_MODES)}: {modes}"] if modes else []
    if len(everything) > len(attacks):
        notes.append(f"{len(everything) - len(attacks)} radius-sweep attacks not in the means")
    row["notes"] = "; ".join(notes)
    return {k: row.get(k, "") for k in schema.names}
