"""Atomic file writes and safe paths: every file the project writes goes through here.

A write lands under its final name only when complete (temp file in the same folder, fsync,
rename), so a killed job never leaves a half-written file that looks finished.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def _default_mode() -> int:
    """Permissions of a new file under the process umask (mkstemp would give 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _default_mode()


class OutputError(OSError):
    """An output path that cannot be written (read-only, full disk, escapes its root)."""


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically (temp file + fsync + rename); creates parent folders."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 1) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def safe_join(root: str | Path, relative: str, what: str = "file name") -> Path:
    """`root / relative`, refusing absolute paths and `..` that would escape `root`."""
    rel = Path(relative)
    if rel.is_absolute() or relative.startswith(("/", "\\")):
        raise ValueError(f"{what} {relative!r} is an absolute path; expected a path inside {root}")
    root_resolved = Path(root).resolve()
    full = (root_resolved / rel).resolve()
    if full != root_resolved and root_resolved not in full.parents:
        raise ValueError(f"{what} {relative!r} escapes the folder {root}")
    return Path(root) / rel


def remove_stale_parts(folder: str | Path) -> int:
    """Delete temp files left by killed writers (`.<name>.*.part`); returns how many."""
    n = 0
    for p in Path(folder).rglob(".*.part"):
        p.unlink(missing_ok=True)
        n += 1
    return n
