"""What a re-run of `generate` / `attack` may keep from an output folder, and the one set of
settings a folder belongs to.

A file is kept only when its bytes hash to the sha256 the folder recorded for it: in
`index.sha256` (the last finished run) or in the journal `.journal.sha256`, to which a running
render appends each finished image's files, so a run killed by SIGKILL resumes without
redoing them. A run whose pixel settings differ from the folder's is refused (one line naming
each difference) unless forced; equal settings with new conditions extend the folder.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from robustpose_bench.datasets.types import Dataset
from robustpose_bench.io import OutputError, atomic_write_text, sha256_file
from robustpose_bench.render.conditions import Condition, parse_condition
from robustpose_bench.render.manifest import (
    JOURNAL,
    MANIFEST,
    parse_hash_lines,
    read_index,
    read_manifest,
)
from robustpose_bench.render.protocol import Protocol

log = logging.getLogger(__name__)

_JOURNAL_TAG = "# robustpose render journal "

# Distributions whose code computes or encodes the pixels of a rendered file.
ENGINE_PACKAGES = ("robustpose-bench", "numpy", "pillow", "opencv-python-headless", "scipy",
                   "scikit-image")
# Every setting that changes the pixels of a folder (its manifest records them all).
SETTING_KEYS = ("kind", "dataset", "ann_sha256", "protocol", "seed", "per_image_seed", "format",
                "quality", "engine")


class SettingsMismatchError(ValueError):
    """A run whose pixel settings differ from those of the folder it would write into."""


def engine_versions() -> dict[str, str]:
    """Installed versions of `ENGINE_PACKAGES` (absent ones left out)."""
    import importlib.metadata as md

    out = {}
    for dist in ENGINE_PACKAGES:
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            continue
    return out


def settings_of(manifest: Mapping) -> dict:
    """The pixel settings recorded by a manifest (older manifests without `engine`: the engine
    packages' entries of their `versions`)."""
    out = {k: manifest.get(k) for k in SETTING_KEYS if k != "engine"}
    engine = manifest.get("engine")
    if engine is None:
        versions = manifest.get("versions") or {}
        engine = {k: versions[k] for k in ENGINE_PACKAGES if k in versions}
    out["engine"] = dict(engine)
    return out


def default_settings(kind: str, dataset: Dataset, protocol: Protocol) -> dict:
    """The pixel settings of rendering `dataset` with `protocol` (the keys a manifest records,
    render/benchmark.py `_manifest_base`)."""
    return {"kind": kind, "dataset": dataset.meta.name,
            "ann_sha256": sha256_file(dataset.ann_file) if dataset.ann_file else None,
            "protocol": protocol.name, "seed": protocol.seed,
            "per_image_seed": protocol.per_image_seed, "format": protocol.format,
            "quality": protocol.quality if protocol.format == "jpg" else None,
            "engine": engine_versions()}


def _short(key: str, value: object) -> str:
    if key == "ann_sha256" and isinstance(value, str):
        return value[:12]
    return "none" if value is None else str(value)


def settings_differences(folder: Mapping, now: Mapping) -> list[str]:
    """Human-readable differences, e.g. `seed 0 in the folder, 5 now`; [] when equal."""
    diffs = []
    for key in SETTING_KEYS:
        old, new = folder.get(key), now.get(key)
        if key == "engine":
            old, new = old or {}, new or {}
            for dist in sorted(set(old) | set(new)):
                if old.get(dist) != new.get(dist):
                    diffs.append(f"engine {dist} {old.get(dist, 'absent')} in the folder, "
                                 f"{new.get(dist, 'absent')} now")
        elif old != new:
            diffs.append(f"{key} {_short(key, old)} in the folder, {_short(key, new)} now")
    return diffs


def _read_manifest(root: Path) -> dict | None:
    """The folder's manifest, None when absent; a damaged one raises ValueError."""
    if not (root / MANIFEST).is_file():
        return None
    return read_manifest(root)


def read_journal(root: Path) -> tuple[dict | None, dict[str, str]]:
    """(header, hashes) of the journal of an unfinished run; (None, {}) when there is none or
    its header is unreadable (then nothing it lists is trusted)."""
    path = root / JOURNAL
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None, {}
    except OSError as exc:
        raise OutputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    first, _, rest = text.partition("\n")
    header = None
    if first.startswith(_JOURNAL_TAG):
        try:
            header = json.loads(first[len(_JOURNAL_TAG):])
        except json.JSONDecodeError:
            header = None
    if not isinstance(header, dict) or not isinstance(header.get("settings"), dict):
        log.warning("%s: unreadable journal header; its entries are ignored", path)
        return None, {}
    return header, parse_hash_lines(rest.splitlines(), path, skip_torn=True)


@dataclass
class ResumePlan:
    """What a run into an existing folder does: the conditions it renders (the folder's plus
    the requested ones), the recorded sha256 a kept file must match, and the files the
    folder's record listed before (removed after a forced run if no longer produced)."""

    root: Path
    settings: dict
    conditions: list[Condition]
    recorded: dict[str, str] = field(default_factory=dict)
    previous_files: set[str] = field(default_factory=set)


def plan_resume(root: str | Path, settings: Mapping, conditions: Sequence[Condition],
                force: bool = False) -> ResumePlan:
    """Compare `settings` with the folder's (its unfinished run's journal, else its manifest).

    Different settings raise SettingsMismatchError naming each difference and the way out,
    unless `force` (then nothing recorded is kept and the folder's conditions are re-rendered
    under the new settings). Equal settings keep every recorded hash whose settings match and
    extend the folder: the conditions already there stay part of it.
    """
    root = Path(root)
    now = dict(settings)
    try:
        manifest = _read_manifest(root)
        index = read_index(root) if manifest is not None else {}
    except ValueError as exc:
        if not force:
            raise OutputError(f"{exc}; re-render the folder with --force or choose another "
                              f"output folder") from None
        log.warning("%s; --force: rendering the folder anew", exc)
        manifest, index = None, {}
    header, journal = read_journal(root)
    manifest_settings = settings_of(manifest) if manifest is not None else None
    folder_settings = header["settings"] if header is not None else manifest_settings
    if folder_settings is not None and not force:
        diffs = settings_differences(folder_settings, now)
        if diffs:
            raise SettingsMismatchError(
                f"{root} was rendered with other settings ({'; '.join(diffs)}); re-render "
                f"everything with --force, or choose another output folder")
    previous = [str(c) for c in (manifest or {}).get("conditions") or []]
    previous += [str(c) for c in (header or {}).get("conditions") or []]
    try:
        kept = [parse_condition(i) for i in dict.fromkeys(previous)]
    except ValueError as exc:
        raise OutputError(f"{root / MANIFEST}: {exc}; re-render with --force or choose another "
                          f"output folder") from None
    kept = [c for c in kept if c.kind == now.get("kind")]
    kept_ids = {c.id for c in kept}
    added = [c for c in conditions if c.id not in kept_ids]
    plan = ResumePlan(root, now, kept + added, previous_files=set(index) | set(journal))
    if not force:
        if manifest_settings is not None and not settings_differences(manifest_settings, now):
            plan.recorded.update(index)
        if header is not None and not settings_differences(header["settings"], now):
            plan.recorded.update(journal)
    if kept and added:
        log.info("%s: extending the folder's %d conditions with %d new ones", root, len(kept),
                 len(added))
    return plan


class Journal:
    """Append-only record of the files a running render finished (`sha256  path` lines after a
    JSON header with the run's settings and conditions). Entering the context rewrites it with
    the plan's header and the entries still valid; `write_manifest` removes it once the index
    of a finished run is written."""

    def __init__(self, plan: ResumePlan):
        self.path = plan.root / JOURNAL
        self.plan = plan
        self._fd: int | None = None

    def __enter__(self) -> Journal:
        header = {"settings": self.plan.settings,
                  "conditions": [c.id for c in self.plan.conditions]}
        lines = [_JOURNAL_TAG + json.dumps(header, sort_keys=True) + "\n"]
        lines += [f"{h}  {rel}\n" for rel, h in sorted(self.plan.recorded.items())]
        atomic_write_text(self.path, "".join(lines))
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        return self

    def record(self, hashes: Mapping[str, str]) -> None:
        """Append one image's finished files in a single write (a kill tears at most the
        last line, which the reader skips)."""
        if not hashes or self._fd is None:
            return
        data = "".join(f"{h}  {rel}\n" for rel, h in sorted(hashes.items())).encode("utf-8")
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
