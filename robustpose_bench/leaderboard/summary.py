"""Loading and checking the `summary.json` of a results folder, and turning it into a
leaderboard row (mPC / rPC of AdvMix eq. 1-4; occlusion attacks of Pytel et al.)."""
from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robustpose_bench.datasets.meta import COCO, KNOWN_METAS
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

log = logging.getLogger(__name__)

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def summary_path(results: str | Path) -> Path:
    """`results` itself when it is a file, else `results/summary.json`."""
    p = Path(results)
    return p if p.is_file() else p / "summary.json"


def load_summary(results: str | Path) -> dict[str, Any]:
    """Read `summary.json` of a results folder (or the file itself). Raises LeaderboardError
    naming the file when it is missing or not a json object."""
    path = summary_path(results)
    if not path.exists():
        raise LeaderboardError(f"{path}: no summary.json (is {results} a results folder of "
                               "`robustpose evaluate`?)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LeaderboardError(f"{path}: cannot read summary: {exc}") from exc
    if not isinstance(data, dict):
        raise LeaderboardError(f"{path}: expected a json object, got {type(data).__name__}")
    return data


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def condition_matrix(summary: Mapping[str, Any]) -> dict[str, dict[int, float]]:
    """per_condition of a summary as {corruption: {severity: value}} (benchmark corruptions
    and extras alike; non-numeric entries skipped)."""
    out: dict[str, dict[int, float]] = {}
    per = summary.get("per_condition") or {}
    if not isinstance(per, Mapping):
        return out
    for corruption, sev in per.items():
        if not isinstance(sev, Mapping):
            continue
        for s, v in sev.items():
            try:
                si = int(s)
            except (TypeError, ValueError):
                continue
            if _num(v):
                out.setdefault(str(corruption), {})[si] = float(v)
    return out


def missing_conditions(summary: Mapping[str, Any]) -> list[str]:
    """The benchmark conditions (`corruption/severity`) absent from per_condition."""
    m = condition_matrix(summary)
    return [f"{c}/{s}" for c in BENCHMARK_CORRUPTIONS for s in SEVERITIES
            if s not in m.get(c, {})]


def recompute(summary: Mapping[str, Any]) -> dict[str, Any]:
    """mPC, per-corruption means and rPC recomputed from per_condition over the benchmark
    conditions present (percent). mPC averages per-corruption means (AdvMix eq. 1)."""
    m = condition_matrix(summary)
    per_corruption = {c: sum(m[c].get(s, 0.0) for s in SEVERITIES if s in m[c])
                      / sum(1 for s in SEVERITIES if s in m[c])
                      for c in BENCHMARK_CORRUPTIONS
                      if c in m and any(s in m[c] for s in SEVERITIES)}
    mpc = (sum(per_corruption.values()) / len(per_corruption)) if per_corruption else None
    clean = summary.get("clean")
    rpc = 100.0 * mpc / clean if (mpc is not None and _num(clean) and clean > 0) else None
    return {"mPC": mpc, "rPC": rpc, "per_corruption": per_corruption}


def check_summary(summary: Mapping[str, Any], where: str = "summary.json", *,
                  allow_partial: bool = False, need_corruptions: bool = True,
                  need_attacks: bool = False, manifest: str | Path | None = None) -> list[str]:
    """Problems of a summary for the leaderboard (empty list = usable).

    Checks the schema of COMMON.md (types, units percent), all 75 benchmark conditions
    (unless allow_partial), mPC/rPC consistent with per_condition, the versions and the
    manifest hash, and - when `manifest` (a manifest file or a rendered benchmark folder) is
    given - that the recorded hash equals the sha256 of that manifest file.
    """
    errs: list[str] = []

    def err(msg: str) -> None:
        errs.append(f"{where}: {msg}")

    if summary.get("schema_version") != 1:
        err(f"schema_version is {summary.get('schema_version')!r}, expected 1")
    if summary.get("metric") not in ("AP", "PCKh"):
        err(f"metric is {summary.get('metric')!r}, expected 'AP' or 'PCKh'")
    if summary.get("units", "percent") != "percent":
        err(f"units is {summary.get('units')!r}, expected 'percent'")
    clean = summary.get("clean")
    if not _num(clean) or not 0 < clean <= 100:
        err(f"clean is {clean!r}, expected a number in (0, 100] (percent)")
        clean = None

    model = summary.get("model")
    if not isinstance(model, Mapping) or not isinstance(model.get("name"), str) \
            or not model.get("name"):
        err("model.name missing (expected model: {name, spec, method, backbone, input_size, "
            "params})")
    else:
        size = model.get("input_size")
        if size is not None and not (isinstance(size, list | tuple) and len(size) == 2
                                     and all(isinstance(v, int) and v > 0 for v in size)):
            err(f"model.input_size is {size!r}, expected [width, height] in pixels")
        params = model.get("params")
        if params is not None and not (isinstance(params, int) and params >= 0):
            err(f"model.params is {params!r}, expected a parameter count")
    dataset = summary.get("dataset")
    if not isinstance(dataset, Mapping) or not isinstance(dataset.get("name"), str):
        err("dataset.name missing")
    if not isinstance(summary.get("boxes"), str) or not summary.get("boxes"):
        err("boxes missing (expected 'gt' or a detection file name)")
    protocol = summary.get("protocol")
    if not isinstance(protocol, Mapping) or not isinstance(protocol.get("name"), str):
        err("protocol.name missing")
    elif protocol.get("seed") is not None and not isinstance(protocol.get("seed"), int):
        err(f"protocol.seed is {protocol.get('seed')!r}, expected an integer")
    versions = summary.get("versions")
    if not isinstance(versions, Mapping) or not versions.get("robustpose_bench"):
        err("versions.robustpose_bench missing: cannot record which version measured the row")
    man = summary.get("manifest")
    sha = man.get("sha256") if isinstance(man, Mapping) else None
    if not isinstance(sha, str) or not _SHA_RE.match(sha):
        err(f"manifest.sha256 is {sha!r}, expected the 64-hex sha256 of the benchmark "
            "manifest")
    elif manifest is not None:
        errs.extend(f"{where}: {m}" for m in manifest_mismatch(man, manifest))
    created = summary.get("created")
    if created is not None and _parse_date(created) is None:
        err(f"created is {created!r}, expected an ISO-8601 date/time")

    if need_corruptions:
        per = summary.get("per_condition")
        if not isinstance(per, Mapping):
            err("per_condition missing (expected {corruption: {'1'..'5': value}})")
        else:
            for c, sev in per.items():
                if not isinstance(sev, Mapping):
                    err(f"per_condition[{c!r}] is not an object of severities")
                    continue
                for s, v in sev.items():
                    if str(s) not in {str(x) for x in SEVERITIES}:
                        err(f"per_condition[{c!r}] has severity {s!r}, expected '1'..'5'")
                    elif not _num(v) or not 0 <= v <= 100:
                        err(f"per_condition[{c!r}][{s!r}] = {v!r}, expected a percentage")
            missing = missing_conditions(summary)
            if missing and not allow_partial:
                shown = ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else "")
                err(f"{len(missing)} of 75 benchmark conditions missing ({shown}); "
                    "finish the evaluation or pass --allow-partial")
            if summary.get("partial") and not allow_partial:
                err("summary is marked partial; pass --allow-partial to add it anyway")
            if len(missing) == 75:
                err("no benchmark condition in per_condition")
            else:
                rec = recompute(summary)
                for key in ("mPC", "rPC"):
                    v = summary.get(key)
                    if not _num(v):
                        err(f"{key} is {v!r}, expected a number (percent)")
                    elif rec[key] is not None and abs(v - rec[key]) > 0.01:
                        err(f"{key} = {v} but per_condition gives {rec[key]:.4f}")
    if need_attacks:
        attacks = summary.get("attacks")
        if not isinstance(attacks, Mapping) or not attacks:
            err("no attacks in the summary (expected attacks: {'<mode>/<target>': {AP: ..}})")
        else:
            for k, v in attacks.items():
                if "/" not in str(k):
                    err(f"attack key {k!r} is not '<mode>/<target>'")
                if not isinstance(v, Mapping) or not _num(v.get("AP")):
                    err(f"attacks[{k!r}].AP missing or not a number")
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


def _parse_date(value: Any) -> _dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return _dt.datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        try:
            return _dt.date.fromisoformat(value[:10])
        except ValueError:
            return None


# Spellings of the methods as the papers print them (the evaluator records lower case ids).
METHOD_NAMES = {"standard": "Standard", "advmix": "AdvMix", "asda": "ASDA",
                "stable_heatmap": "StableHeatmap", "occlusion_aug": "OcclusionAug"}


def method_name(method: Any) -> str:
    """Display name of a training method id (`advmix` -> `AdvMix`); unknown ids unchanged,
    missing -> `Standard`."""
    if not method:
        return "Standard"
    return METHOD_NAMES.get(str(method).lower(), str(method))


def _identity(summary: Mapping[str, Any], name: str | None, method: str | None,
              date: str | None) -> dict[str, str]:
    model = summary.get("model") or {}
    size = model.get("input_size")
    protocol = summary.get("protocol") or {}
    seed = protocol.get("seed")
    created = _parse_date(summary.get("created"))
    if date is None:
        date = (created or _dt.date.today()).isoformat()
    return {
        "model": name or str(model.get("name", "")),
        "method": method or method_name(model.get("method")),
        "backbone": str(model.get("backbone") or ""),
        "input_size": f"{size[1]}x{size[0]}" if size else "",
        "params": str(model["params"]) if isinstance(model.get("params"), int) else "",
        "metric": str(summary.get("metric", "")),
        "clean": format_measured(float(summary["clean"])),
        "boxes": str(summary.get("boxes", "")),
        "protocol": str(protocol.get("name", "")),
        "seed": "" if seed is None else str(seed),
        "source": "measured",
        "version": str((summary.get("versions") or {}).get("robustpose_bench", "")),
        "manifest_sha256": str((summary.get("manifest") or {}).get("sha256", "")),
        "paper": "",
        "table": "",
        "date": date,
    }


def corruption_row(summary: Mapping[str, Any], name: str | None = None,
                   method: str | None = None, date: str | None = None) -> dict[str, str]:
    """A measured row of the corruption schema from a checked summary.

    mPC / rPC / per-corruption cells are recomputed from per_condition (2 decimals), so the
    row is consistent in itself; a partial run gets empty cells and a note.
    """
    row = _identity(summary, name, method, date)
    rec = recompute(summary)
    clean = float(summary["clean"])
    for c in BENCHMARK_CORRUPTIONS:
        v = rec["per_corruption"].get(c)
        row[c] = "" if v is None else format_measured(v)
    row["mPC"] = format_measured(rec["mPC"])
    row["rPC"] = format_measured(100.0 * rec["mPC"] / clean)
    missing = missing_conditions(summary)
    row["notes"] = f"partial: {75 - len(missing)}/75 conditions" if missing else ""
    return {k: row.get(k, "") for k in CORRUPTION_SCHEMA.names}


def parse_attack_key(key: str) -> tuple[str, str, str | None, float | None]:
    """`<mode>/<target>[@r<radius>]` (target may be `kind:name`) -> (mode, target name,
    kind or None, radius or None); the ids of robustpose_bench.occlusion.targets.AttackSpec."""
    mode, _, rest = str(key).partition("/")
    target, _, radius = rest.partition("@r")
    kind = None
    if ":" in target:
        kind, _, target = target.partition(":")
    try:
        r = float(radius) if radius else None
    except ValueError:
        r = None
    return mode, target, kind, r


def attack_kind(target: str, dataset: str | None) -> str:
    """"keypoint" or "part" for an attack target (or attack key) of a data set (COCO layout
    by default)."""
    if "/" in target:
        _, target, kind, _ = parse_attack_key(target)
        if kind in ("keypoint", "part"):
            return kind
    meta = KNOWN_METAS.get((dataset or "").lower(), COCO)
    if target in meta.keypoint_names:
        return "keypoint"
    if target in meta.part_groups:
        return "part"
    if target in COCO.keypoint_names:
        return "keypoint"
    return "part"


def occlusion_row(summary: Mapping[str, Any], name: str | None = None,
                  method: str | None = None, date: str | None = None,
                  schema: Schema = OCCLUSION_SCHEMA) -> dict[str, str]:
    """A measured row of the occlusion schema from the `attacks` of a checked summary."""
    row = _identity(summary, name, method, date)
    everything = {str(k): float(v["AP"]) for k, v in (summary.get("attacks") or {}).items()}
    # radius sweeps (`@r<radius>` ids) stay out of the means: they would weigh differently
    attacks = {k: v for k, v in everything.items() if parse_attack_key(k)[3] is None} \
        or everything
    dataset = (summary.get("dataset") or {}).get("name")
    kp = [v for k, v in attacks.items() if attack_kind(k, dataset) == "keypoint"]
    part = [v for k, v in attacks.items() if attack_kind(k, dataset) == "part"]
    mean = sum(attacks.values()) / len(attacks)
    row["attacked"] = format_measured(mean)
    row["rel_attacked"] = format_measured(100.0 * mean / float(summary["clean"]))
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
    modes = sorted({parse_attack_key(k)[0] for k in attacks} - set(ATTACK_MODES))
    notes = [f"modes outside {list(ATTACK_MODES)}: {modes}"] if modes else []
    if len(everything) > len(attacks):
        notes.append(f"{len(everything) - len(attacks)} radius-sweep attacks not in the means")
    row["notes"] = "; ".join(notes)
    return {k: row.get(k, "") for k in schema.names}
