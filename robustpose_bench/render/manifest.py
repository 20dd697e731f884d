"""`manifest.json` + `index.sha256` of a rendered benchmark, and `verify`.

The manifest records what was rendered and how (protocol, seed, format, versions, the source
annotation file's sha256, the conditions); the sidecar index lists every rendered file's
sha256 in `sha256sum` format so `robustpose verify` (or `sha256sum -c`) can check it.
"""
from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from robustpose_bench.io import atomic_write_json, atomic_write_text, sha256_file

MANIFEST = "manifest.json"
INDEX = "index.sha256"
_IGNORED = {MANIFEST, INDEX, "attacked_persons.json", "failed.txt"}


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
    return manifest


def read_manifest(root: str | Path) -> dict:
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest; is {root} a folder rendered by "
                                f"`robustpose generate` or `robustpose attack`?")
    return json.loads(path.read_text())


def read_index(root: str | Path) -> dict[str, str]:
    out = {}
    for n, line in enumerate((Path(root) / INDEX).read_text().splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64:
            raise ValueError(f"{Path(root) / INDEX}: line {n} is not `<sha256>  <path>`")
        out[rel] = digest
    return out


@dataclass
class VerifyReport:
    root: Path
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    failed_sources: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.extra or self.failed_sources)

    def summary(self) -> str:
        return (f"{self.root}: {self.checked} files checked, {len(self.missing)} missing, "
                f"{len(self.changed)} changed, {len(self.extra)} extra"
                + (f", {len(self.failed_sources)} source images failed to render"
                   if self.failed_sources else ""))


def verify(root: str | Path, rehash: bool = True) -> VerifyReport:
    """Compare a rendered folder against its index: missing, changed and extra files."""
    root = Path(root)
    manifest = read_manifest(root)
    index = read_index(root)
    report = VerifyReport(root, failed_sources=list(manifest.get("failed", [])))
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
