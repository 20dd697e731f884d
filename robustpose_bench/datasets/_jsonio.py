"""Reading annotation json with errors that name the file (truncated, malformed, missing)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from robustpose_bench.datasets.errors import AnnotationError


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(path, "file not found" if not path.exists() else "not a file")
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read())
    except json.JSONDecodeError as exc:
        hint = " (truncated file?)" if exc.pos >= max(0, path.stat().st_size - 2) else ""
        raise AnnotationError(path, f"invalid JSON at line {exc.lineno} column {exc.colno}: "
                                    f"{exc.msg}{hint}") from None
    except UnicodeDecodeError as exc:
        raise AnnotationError(path, f"not UTF-8 text ({exc.reason})") from None


def require(record: Any, key: str, file: str | Path, section: str, index: int,
            types: type | tuple[type, ...] | None = None) -> Any:
    """`record[key]`, or an AnnotationError naming file, record and field."""
    if not isinstance(record, dict):
        raise AnnotationError(file, f"expected an object, got {type(record).__name__}", section,
                              index)
    if key not in record:
        raise AnnotationError(file, "missing field", section, index, key)
    value = record[key]
    if types is not None and (not isinstance(value, types) or isinstance(value, bool)):
        names = types.__name__ if isinstance(types, type) else "/".join(t.__name__ for t in types)
        raise AnnotationError(file, f"expected {names}, got {type(value).__name__} ({value!r:.40})",
                              section, index, key)
    return value
