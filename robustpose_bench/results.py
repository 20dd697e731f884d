"""The result of one evaluation run: `Summary`, the one definition of `summary.json`.

The sweep (`robustpose_bench.evaluation`) builds and writes it; the leaderboard and the report
read it with `Summary.load` and check it with `Summary.validate`. Scores are percent
(`units`), the layout is `schema_version` 1:

    schema_version, metric ("AP" | "PCKh"), units, clean, clean_metrics,
    mPC, rPC (percent), gap_to_clean, per_corruption, per_severity, per_category, extras,
    num_conditions, partial, missing (the aggregates of metrics.robustness.aggregate),
    per_condition {corruption: {"1".."5": score}}, attacks {"<mode>/<target>": {AP, ...}},
    stability {"<corruption>/<severity>": {R, RUC, ...}}, model, dataset, boxes, protocol,
    metric_options {use_area, oks_nms_area, stability_set, ...}, manifest {benchmark, sha256},
    fingerprint {sha256, fields}, versions, created

A run's conditions live under `<results>/conditions/<condition id>/`, each with
`fingerprint.json` ({sha256, fields}: what it was measured with, evaluation/fingerprint.py);
`condition_fingerprints` reads them and `fingerprint_problems` checks them against the
summary (the leaderboard refuses a folder whose conditions were measured by different runs).

`Summary.from_dict` keeps the values as they are (a hand-edited or foreign file is reported
by `validate`, not rejected on load); keys this version does not know are kept in `extra`.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from robustpose_bench.datasets.meta import COCO, KNOWN_METAS
from robustpose_bench.io import atomic_write_json
from robustpose_bench.names import CORRUPTIONS, SEVERITIES
from robustpose_bench.render.conditions import Condition

SCHEMA_VERSION = 1
SUMMARY_FILE = "summary.json"
CONDITIONS_DIR = "conditions"
FINGERPRINT_FILE = "fingerprint.json"
#: Fingerprint fields that concern only some conditions: field -> condition id prefix.
CONDITION_SCOPED_FIELDS = {"attack_mode": "attack/"}
METRICS = ("AP", "PCKh")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_NUM_BENCHMARK = len(CORRUPTIONS) * len(SEVERITIES)


class SummaryError(ValueError):
    """A summary (results folder) that cannot be read or used; the message names the file."""


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def parse_date(value: Any) -> _dt.date | None:
    """The date of an ISO-8601 date/time string, or None."""
    if not isinstance(value, str):
        return None
    try:
        return _dt.datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        try:
            return _dt.date.fromisoformat(value[:10])
        except ValueError:
            return None


def fingerprint_digest(fields: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys) of fingerprint `fields`."""
    canon = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def condition_fields(run_fields: Mapping[str, Any], condition_id: str) -> dict[str, Any]:
    """The fingerprint fields of one condition of a run: the run's, less the fields that do
    not concern it (`CONDITION_SCOPED_FIELDS`: the attack mode only for attacks)."""
    return {k: v for k, v in run_fields.items()
            if k not in CONDITION_SCOPED_FIELDS
            or condition_id.startswith(CONDITION_SCOPED_FIELDS[k])}


def condition_fingerprints(results: str | Path) -> dict[str, dict | None]:
    """condition id -> its stored fingerprint ({sha256, fields}; None when the file is missing
    or unreadable) for every condition folder under `<results>/conditions` that holds
    outputs (predictions or a score)."""
    root = Path(results) / CONDITIONS_DIR
    out: dict[str, dict | None] = {}
    if not root.is_dir():
        return out
    folders = {p.parent for pattern in ("raw.npz", "score.json", FINGERPRINT_FILE)
               for p in root.rglob(pattern)}
    for folder in sorted(folders):
        cid = folder.relative_to(root).as_posix()
        try:
            data = json.loads((folder / FINGERPRINT_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            data = None
        out[cid] = data if isinstance(data, dict) and isinstance(data.get("sha256"), str) \
            else None
        if out[cid] is None and not ((folder / "raw.npz").exists()
                                     or (folder / "score.json").exists()):
            del out[cid]  # a damaged fingerprint file alone: nothing was measured there
    return out


def fingerprint_problems(summary: Summary, results: str | Path) -> list[str]:
    """Problems when the conditions stored under `results` were not all measured by the run
    that wrote the summary (each condition's fingerprint must be the summary's)."""
    fp = summary.fingerprint
    stored = condition_fingerprints(results)
    if not isinstance(fp, Mapping) or not isinstance(fp.get("fields"), Mapping):
        if stored and len({(d or {}).get("sha256") for d in stored.values()}) > 1:
            return [f"{summary.source}: no fingerprint, and the conditions under {results} "
                    "were measured by different runs"]
        return []
    errs = []
    for cid, data in stored.items():
        want = fingerprint_digest(condition_fields(fp["fields"], cid))
        if data is None:
            errs.append(f"{Path(results) / CONDITIONS_DIR / cid}: no {FINGERPRINT_FILE}: not "
                        "measured by the run of this summary")
        elif data["sha256"] != want:
            errs.append(f"{Path(results) / CONDITIONS_DIR / cid}: measured with fingerprint "
                        f"{data['sha256'][:12]}, the summary's run has {want[:12]} (another "
                        "model or other settings): re-run the evaluation with --force")
    return errs


def summary_path(results: str | Path) -> Path:
    """`results` itself when it is a file, else `results/summary.json`."""
    p = Path(results)
    return p if p.is_file() else p / SUMMARY_FILE


@dataclass(repr=False)
class Summary:
    """Clean score, robustness aggregates, per-condition scores and provenance of one run.

    Fields follow the summary.json keys (see the module docstring; None = absent); `extra`
    holds unknown keys. All scores are percent.
    """

    metric: Any = None
    clean: Any = None
    clean_metrics: Any = None
    mPC: Any = None
    rPC: Any = None
    gap_to_clean: Any = None
    per_corruption: Any = None
    per_severity: Any = None
    per_category: Any = None
    extras: Any = None
    num_conditions: Any = None
    partial: Any = None
    missing: Any = None
    per_condition: Any = None
    attacks: Any = None
    stability: Any = None
    model: Any = None
    dataset: Any = None
    boxes: Any = None
    protocol: Any = None
    metric_options: Any = None
    manifest: Any = None
    fingerprint: Any = None
    versions: Any = None
    created: Any = None
    schema_version: Any = None
    units: Any = "percent"
    extra: dict = field(default_factory=dict)
    source: str = field(default=SUMMARY_FILE, compare=False)  # where it was read (messages)
    absent: frozenset = field(default=frozenset(), compare=False)  # keys the file lacked

    # ----------------------------------------------------------------- json
    _ORDER = ("schema_version", "metric", "units", "clean", "clean_metrics", "mPC", "rPC",
              "gap_to_clean", "per_corruption", "per_severity", "per_category", "extras",
              "num_conditions", "partial", "missing", "per_condition", "attacks", "stability",
              "model", "dataset", "boxes", "protocol", "metric_options", "manifest",
              "fingerprint", "versions", "created")
    _OPTIONAL = ("attacks", "stability", "metric_options", "fingerprint")

    def to_json(self) -> dict[str, Any]:
        """The summary.json object (key order fixed; attacks / stability only when present)."""
        out: dict[str, Any] = {}
        for key in self._ORDER:
            value = getattr(self, key)
            if key in self.absent or (key in self._OPTIONAL and not value):
                continue
            out[key] = value
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = SUMMARY_FILE) -> Summary:
        """A Summary holding `data`'s values as they are (checked by `validate`)."""
        names = {f.name for f in fields(cls)} - {"extra", "source", "absent"}
        known = {k: v for k, v in data.items() if k in names}
        return cls(**known, extra={k: v for k, v in data.items() if k not in names},
                   source=source, absent=frozenset(names - set(data)))

    @classmethod
    def load(cls, results: str | Path) -> Summary:
        """Read `summary.json` of a results folder (or the file itself). Raises SummaryError
        naming the file when it is missing, unreadable or not a json object."""
        path = summary_path(results)
        if not path.exists():
            raise SummaryError(f"{path}: no summary.json (is {results} a results folder of "
                               "`robustpose evaluate`?)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SummaryError(f"{path}: cannot read summary: {exc}") from exc
        if not isinstance(data, dict):
            raise SummaryError(f"{path}: expected a json object, got {type(data).__name__}")
        return cls.from_dict(data, source=str(path))

    def save(self, out: str | Path) -> Path:
        """Write `<out>/summary.json` atomically; returns its path."""
        return atomic_write_json(Path(out) / SUMMARY_FILE, self.to_json())

    # ----------------------------------------------------------------- reading
    def __getitem__(self, key: str) -> Any:
        """`summary["mPC"]`: the summary.json value of `key` (KeyError when absent)."""
        data = self.to_json()
        return data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_json().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.to_json()

    @property
    def model_name(self) -> str:
        model = self.model if isinstance(self.model, Mapping) else {}
        return str(model.get("name") or "")

    @property
    def dataset_name(self) -> str | None:
        ds = self.dataset if isinstance(self.dataset, Mapping) else {}
        name = ds.get("name")
        return str(name) if name is not None else None

    def condition_matrix(self) -> dict[str, dict[int, float]]:
        """per_condition as {corruption: {severity: value}} (benchmark corruptions and extras
        alike; non-numeric entries skipped)."""
        out: dict[str, dict[int, float]] = {}
        per = self.per_condition
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

    def missing_conditions(self) -> list[str]:
        """The benchmark conditions (`corruption/severity`) absent from per_condition."""
        m = self.condition_matrix()
        return [f"{c}/{s}" for c in CORRUPTIONS for s in SEVERITIES if s not in m.get(c, {})]

    def recompute(self) -> dict[str, Any]:
        """mPC, per-corruption means and rPC recomputed from per_condition over the benchmark
        conditions present (percent). mPC averages per-corruption means (AdvMix eq. 1)."""
        m = self.condition_matrix()
        per_corruption = {c: sum(m[c][s] for s in SEVERITIES if s in m[c])
                          / sum(1 for s in SEVERITIES if s in m[c])
                          for c in CORRUPTIONS if c in m and any(s in m[c] for s in SEVERITIES)}
        mpc = (sum(per_corruption.values()) / len(per_corruption)) if per_corruption else None
        clean = self.clean
        rpc = 100.0 * mpc / clean if (mpc is not None and _num(clean) and clean > 0) else None
        return {"mPC": mpc, "rPC": rpc, "per_corruption": per_corruption}

    def attack_conditions(self) -> dict[str, Condition]:
        """Attack key -> its Condition, for the keys of `attacks` that parse (see validate)."""
        out = {}
        for key in (self.attacks or {}) if isinstance(self.attacks, Mapping) else ():
            try:
                out[str(key)] = Condition.from_id(f"attack/{key}")
            except ValueError:
                continue
        return out

    def attack_scores(self, key: str = "AP") -> dict[str, float]:
        """Attack key -> its `key` score (numeric entries only)."""
        attacks = self.attacks if isinstance(self.attacks, Mapping) else {}
        return {str(k): float(v[key]) for k, v in attacks.items()
                if isinstance(v, Mapping) and _num(v.get(key))}

    def attack_kind(self, key: str) -> str:
        """"keypoint" or "part": the kind of an attack key's target in the summary's keypoint
        layout (COCO's when the data set is unknown; unknown names count as parts)."""
        try:
            cond = Condition.from_id(f"attack/{key}")
        except ValueError:
            return "part"
        return target_kind(cond, self.dataset_name)

    # ----------------------------------------------------------------- checking
    def validate(self, *, allow_partial: bool = False, need_corruptions: bool = True,
                 need_attacks: bool = False) -> list[str]:
        """Problems of this summary (empty list = usable), each prefixed by `source`.

        Checks the schema (types, units percent), all 75 benchmark conditions (unless
        allow_partial), mPC/rPC consistent with per_condition, the model / data set / boxes /
        protocol / versions / manifest hash provenance, and the attacks when `need_attacks`.
        """
        errs: list[str] = []

        def err(msg: str) -> None:
            errs.append(f"{self.source}: {msg}")

        if self.schema_version != SCHEMA_VERSION:
            err(f"schema_version is {self.schema_version!r}, expected {SCHEMA_VERSION}")
        if self.metric not in METRICS:
            err(f"metric is {self.metric!r}, expected 'AP' or 'PCKh'")
        if self.units != "percent":
            err(f"units is {self.units!r}, expected 'percent'")
        if not _num(self.clean) or not 0 < self.clean <= 100:
            err(f"clean is {self.clean!r}, expected a number in (0, 100] (percent)")
        model = self.model
        if not isinstance(model, Mapping) or not isinstance(model.get("name"), str) \
                or not model.get("name"):
            err("model.name missing (expected model: {name, spec, method, backbone, "
                "input_size, params})")
        else:
            size = model.get("input_size")
            if size is not None and not (isinstance(size, list | tuple) and len(size) == 2
                                         and all(isinstance(v, int) and v > 0 for v in size)):
                err(f"model.input_size is {size!r}, expected [width, height] in pixels")
            params = model.get("params")
            if params is not None and not (isinstance(params, int) and params >= 0):
                err(f"model.params is {params!r}, expected a parameter count")
        if not isinstance(self.dataset, Mapping) or not isinstance(self.dataset.get("name"), str):
            err("dataset.name missing")
        if not isinstance(self.boxes, str) or not self.boxes:
            err("boxes missing (expected 'gt' or a detection file name)")
        protocol = self.protocol
        if not isinstance(protocol, Mapping) or not isinstance(protocol.get("name"), str):
            err("protocol.name missing")
        elif protocol.get("seed") is not None and not isinstance(protocol.get("seed"), int):
            err(f"protocol.seed is {protocol.get('seed')!r}, expected an integer")
        if not isinstance(self.versions, Mapping) or not self.versions.get("robustpose_bench"):
            err("versions.robustpose_bench missing: cannot record which version measured "
                "the row")
        sha = self.manifest.get("sha256") if isinstance(self.manifest, Mapping) else None
        if not isinstance(sha, str) or not _SHA_RE.match(sha):
            err(f"manifest.sha256 is {sha!r}, expected the 64-hex sha256 of the benchmark "
                "manifest")
        fp = self.fingerprint
        if fp is not None:
            fsha = fp.get("sha256") if isinstance(fp, Mapping) else None
            if not isinstance(fp, Mapping) or not isinstance(fp.get("fields"), Mapping) \
                    or not isinstance(fsha, str) or not _SHA_RE.match(fsha):
                err("fingerprint is not {sha256, fields} (evaluation/fingerprint.py)")
            elif fingerprint_digest(fp["fields"]) != fsha:
                err(f"fingerprint.sha256 {fsha[:12]} is not the hash of fingerprint.fields "
                    f"({fingerprint_digest(fp['fields'])[:12]}): the file was edited")
        if self.created is not None and parse_date(self.created) is None:
            err(f"created is {self.created!r}, expected an ISO-8601 date/time")
        if need_corruptions:
            self._validate_corruptions(err, allow_partial)
        if need_attacks:
            attacks = self.attacks
            if not isinstance(attacks, Mapping) or not attacks:
                err("no attacks in the summary (expected attacks: {'<mode>/<target>': "
                    "{AP: ..}})")
            else:
                for k, v in attacks.items():
                    try:
                        Condition.from_id(f"attack/{k}")
                    except ValueError:
                        err(f"attack key {k!r} is not '<mode>/<target>[@r<radius>]'")
                    if not isinstance(v, Mapping) or not _num(v.get("AP")):
                        err(f"attacks[{k!r}].AP missing or not a number")
        return errs

    def _validate_corruptions(self, err, allow_partial: bool) -> None:
        per = self.per_condition
        if not isinstance(per, Mapping):
            err("per_condition missing (expected {corruption: {'1'..'5': value}})")
            return
        for c, sev in per.items():
            if not isinstance(sev, Mapping):
                err(f"per_condition[{c!r}] is not an object of severities")
                continue
            for s, v in sev.items():
                if str(s) not in {str(x) for x in SEVERITIES}:
                    err(f"per_condition[{c!r}] has severity {s!r}, expected '1'..'5'")
                elif not _num(v) or not 0 <= v <= 100:
                    err(f"per_condition[{c!r}][{s!r}] = {v!r}, expected a percentage")
        missing = self.missing_conditions()
        if missing and not allow_partial:
            shown = ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else "")
            err(f"{len(missing)} of {_NUM_BENCHMARK} benchmark conditions missing ({shown}); "
                "finish the evaluation or pass --allow-partial")
        if self.partial and not allow_partial:
            err("summary is marked partial; pass --allow-partial to add it anyway")
        if len(missing) == _NUM_BENCHMARK:
            err("no benchmark condition in per_condition")
            return
        rec = self.recompute()
        for key in ("mPC", "rPC"):
            v = getattr(self, key)
            if not _num(v):
                err(f"{key} is {v!r}, expected a number (percent)")
            elif rec[key] is not None and abs(v - rec[key]) > 0.01:
                err(f"{key} = {v} but per_condition gives {rec[key]:.4f}")

    # ----------------------------------------------------------------- display
    def __repr__(self) -> str:
        return f"Summary({self})"

    def __str__(self) -> str:
        """One line: model, data set, metric, clean / mPC / rPC, conditions."""
        def f(v: Any) -> str:
            return f"{v:.2f}" if _num(v) else "-"

        parts = [f"{self.model_name or '?'} on {self.dataset_name or '?'}",
                 f"{self.metric} clean {f(self.clean)}"]
        if self.per_condition:
            parts.append(f"mPC {f(self.mPC)}, rPC {f(self.rPC)}"
                         + (" (partial)" if self.partial else ""))
        if self.attacks:
            parts.append(f"{len(self.attacks)} attacks")
        if self.stability:
            parts.append(f"{len(self.stability)} stability conditions")
        return ", ".join(parts)


def target_kind(condition: Condition, dataset: str | None) -> str:
    """"keypoint" or "part" for an attack condition in the layout of data set `dataset` (COCO
    when unknown): the target's `kind:` prefix, else its name in the layout, else COCO's
    keypoint names, else "part"."""
    if condition.target_kind in ("keypoint", "part"):
        return condition.target_kind
    name = condition.target_name
    meta = KNOWN_METAS.get((dataset or "").lower(), COCO)
    if name in meta.keypoint_names:
        return "keypoint"
    if name in meta.part_groups:
        return "part"
    return "keypoint" if name in COCO.keypoint_names else "part"
