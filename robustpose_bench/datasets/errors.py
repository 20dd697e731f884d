"""The one error type of the readers: names the file, the record and the field at fault."""
from __future__ import annotations

from pathlib import Path


class AnnotationError(ValueError):
    """Malformed annotation input.

    The message reads `<file>: <section>[<index>].<field>: <problem>` so a user can jump to
    the offending record.
    """

    def __init__(self, file: str | Path | None, problem: str, section: str | None = None,
                 index: int | None = None, field: str | None = None):
        self.file = str(file) if file is not None else "<memory>"
        self.section, self.index, self.field, self.problem = section, index, field, problem
        where = ""
        if section is not None:
            where = section + (f"[{index}]" if index is not None else "")
        if field is not None:
            where = f"{where}.{field}" if where else field
        super().__init__(f"{self.file}: {where + ': ' if where else ''}{problem}")
