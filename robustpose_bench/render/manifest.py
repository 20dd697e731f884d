"""`manifest.json` + `index.sha256` of a rendered benchmark, and `verify`.

The manifest records what was rendered and how (protocol, seed, format, quality, the engine's
versions, the source annotation file's sha256, the conditions); the sidecar index lists every
rendered file's sha256 in `sha256sum` format so `robustpose verify` (or `sha256sum -c`) can
check it. A run in progress keeps a journal of the files it finished (render/resume.py).
"""
from __future__ import annotations

import hashlib
import json
import platform
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from robustpose_bench.io import atomic_write_json, atomic_write_text, sha256_file
from robustpose_bench.locking import LOCK_FILE

MANIFEST = "manifest.json"
INDEX = "index.sha256"
JOURNAL = ".journal.sha256"  # files finished by a run in progress (render/resume.py)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_IGNORED = {MANIFEST, INDEX, JOURNAL, LOCK_FILE, "attacked_persons.json", "failed.txt"}


def versions() -> dict[str, str]:
    """Versions of what produces pixels and numbers (for provenance)."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("robustpose-bench", "numpy", "opencv-python-headless", "pillow", "scipy",
                 "scikit-image", "numba", "torch", "pycocotools", "xtcocotools", "faster-coco-eval"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            continue
    return out


def benchmark_sha256(definition: dict) -> str:
    """Hash of what defines a benchmark's pixels (protocol, seed, format, quality, conditions,
    source annotations): two renders with the same hash must give the same files."""
    keys = ("protocol", "seed", "format", "quality", "conditions", "ann_sha256")
    canon = json.dumps({k: definition.get(k) for k in keys}, sort_keys=True)
    return hashlib.sha256(canon.encode()).hexdigest()


def write_manifest(root: Path, manifest: dict, hashes: dict[str, str]) -> dict:
    manifest = dict(manifest)
    manifest.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    manifest["versions"] = versions()
    manifest["benchmark_sha256"] = benchmark_sha256(manifest)
    manifest["num_files"] = len(hashes)
    manifest["index"] = INDEX
    lines = "".join(f"{h}  {rel}\n" for rel, h in sorted(hashes.items()))
    atomic_write_text(root / INDEX, lines)
    atomic_write_json(root / MANIFEST, manifest)
    # the index now records every file: the journal of the run is no longer needed
    (root / JOURNAL).unlink(missing_ok=True)
    return manifest


def read_manifest(root: str | Path) -> dict:
    """The manifest of a rendered folder; a missing or damaged one raises FileNotFoundError /
    ValueError with a one-line message naming it."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest; is {root} a folder rendered by "
                                f"`robustpose generate` or `robustpose attack`?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a manifest (expected a JSON object)")
    return data


def parse_hash_lines(lines: Iterable[str], where: Path, skip_torn: bool = False
                     ) -> dict[str, str]:
    """`<sha256>  <relative path>` lines (sha256sum format; `#` lines are comments). A
    malformed line raises ValueError naming `where` and the line number, unless `skip_torn`
    (a journal, whose last line may be torn by a kill): then it is skipped."""
    out: dict[str, str] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, sep, rel = line.partition("  ")
        if not sep or not rel or not _SHA256.fullmatch(digest):
            if not skip_torn:
                raise ValueError(f"{where}: line {n} is not `<sha256>  <path>`")
            continue
        if rel.startswith(("/", "\\")) or ".." in rel.replace("\\", "/").split("/"):
            if not skip_torn:
                raise ValueError(f"{where}: line {n}: path {rel!r} leaves the folder")
            continue
        out[rel] = digest
    return out


def read_index(root: str | Path) -> dict[str, str]:
    """The index of a rendered folder (relative path -> sha256); {} when there is none."""
    path = Path(root) / INDEX
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read ({exc})") from None
    return parse_hash_lines(text.splitlines(), path)


@dataclass
class VerifyReport:
    root: Path
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    failed_sources: list[str] = field(default_factory=list)
    unfinished: bool = False  # a run was interrupted after the last manifest (journal left)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.extra or self.failed_sources
                    or self.unfinished)

    def summary(self) -> str:
        return (f"{self.root}: {self.checked} files checked, {len(self.missing)} missing, "
                f"{len(self.changed)} changed, {len(self.extra)} extra"
                + (f", {len(self.failed_sources)} source images failed to render"
                   if self.failed_sources else "")
                + (f"; an interrupted run left {JOURNAL}: re-run the same command to finish it"
                   if self.unfinished else ""))


def verify(root: str | Path, rehash: bool = True) -> VerifyReport:
    """Compare a rendered folder against its index: missing, changed and extra files, source
    images that failed to render, and a run interrupted since the manifest was written."""
    root = Path(root)
    if not (root / MANIFEST).is_file() and (root / JOURNAL).is_file():
        raise FileNotFoundError(f"{root}: an interrupted run left no manifest yet; re-run the "
                                f"same command to finish it")
    manifest = read_manifest(root)
    if not (root / INDEX).is_file():
        raise FileNotFoundError(f"{root / INDEX}: missing; the folder's file list is gone "
                                f"(re-run the command that rendered it)")
    index = read_index(root)
    report = VerifyReport(root, failed_sources=list(manifest.get("failed", [])),
                          unfinished=(root / JOURNAL).is_file())
    for rel, digest in index.items():
        path = root / rel
        if not path.is_file():
            report.missing.append(rel)
            continue
        report.checked += 1
        if rehash and sha256_file(path) != digest:
            report.changed.append(rel)
    for path in root.rglob("*"):
        if path.is_file():
            rel = path.relative_to(root).as_posix()
            if rel not in index and rel not in _IGNORED:
                report.extra.append(rel)
    report.extra.sort()
    return report
