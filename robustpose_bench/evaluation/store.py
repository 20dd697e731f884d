"""Where the sweep keeps each condition's outputs: on disk (`DiskStore`, resumable, readable by
people) or in memory (`MemoryStore`, `evaluate(..., out=None)`: nothing is written).

Disk layout, per condition `<out>/conditions/<condition id>/`:
`fingerprint.json` what the condition was measured with ({sha256, fields} of the run's
fingerprint, evaluation/fingerprint.py; written before anything else, so every stored output
has one); `raw.npz` the predictions before post-processing (`Predictions`), the unit of
resumption and of shard merging; `score.json` the metrics of the condition (its presence
marks the condition finished); `results.json` the prediction file the metrics were computed
from (COCO results json, MPII predictions); `attack_counts.json`, `heatmap_stats.json` side
data of the prediction step.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Protocol

from robustpose_bench.evaluation.predictions import Predictions
from robustpose_bench.io import atomic_write_bytes, atomic_write_json
from robustpose_bench.render.conditions import Condition
from robustpose_bench.results import (
    CONDITIONS_DIR,
    FINGERPRINT_FILE,
    condition_fingerprints,
    fingerprint_digest,
)

RAW = "raw.npz"
SCORE = "score.json"


class ResultStore(Protocol):
    """Per-condition storage used by the sweep (see DiskStore / MemoryStore)."""

    def load_score(self, condition: Condition) -> dict | None: ...

    def save_score(self, condition: Condition, score: dict) -> None: ...

    def has_predictions(self, condition: Condition) -> bool: ...

    def load_predictions(self, condition: Condition) -> Predictions | None: ...

    def save_predictions(self, condition: Condition, predictions: Predictions) -> None: ...

    def load_json(self, condition: Condition, name: str) -> Any | None: ...

    def save_json(self, condition: Condition, name: str, obj: Any) -> None: ...

    def write_file(self, condition: Condition, name: str, obj: Any,
                   indent: int | None = 1) -> None: ...

    def save_fingerprint(self, condition: Condition, fields: dict) -> None: ...

    def fingerprints(self) -> dict[str, dict | None]: ...

    def remove(self, condition_id: str) -> None: ...


def condition_dir(out: str | Path, condition: Condition | str) -> Path:
    cid = condition if isinstance(condition, str) else condition.id
    return Path(out) / CONDITIONS_DIR / cid


class DiskStore:
    """Files under `<out>/conditions/<condition id>/`, written atomically."""

    def __init__(self, out: str | Path):
        self.out = Path(out)

    def dir(self, condition: Condition) -> Path:
        return condition_dir(self.out, condition)

    def load_score(self, condition: Condition) -> dict | None:
        return self.load_json(condition, SCORE)

    def save_score(self, condition: Condition, score: dict) -> None:
        atomic_write_json(self.dir(condition) / SCORE, score)

    def has_predictions(self, condition: Condition) -> bool:
        return (self.dir(condition) / RAW).is_file()

    def load_predictions(self, condition: Condition) -> Predictions | None:
        path = self.dir(condition) / RAW
        return Predictions.from_npz(path) if path.is_file() else None

    def save_predictions(self, condition: Condition, predictions: Predictions) -> None:
        atomic_write_bytes(self.dir(condition) / RAW, predictions.to_npz())

    def load_json(self, condition: Condition, name: str) -> Any | None:
        path = self.dir(condition) / name
        return json.loads(path.read_text()) if path.is_file() else None

    def save_json(self, condition: Condition, name: str, obj: Any) -> None:
        atomic_write_json(self.dir(condition) / name, obj)

    def write_file(self, condition: Condition, name: str, obj: Any,
                   indent: int | None = 1) -> None:
        atomic_write_json(self.dir(condition) / name, obj, indent=indent)

    def save_fingerprint(self, condition: Condition, fields: dict) -> None:
        """Record what the condition is measured with (before its outputs are written)."""
        atomic_write_json(self.dir(condition) / FINGERPRINT_FILE,
                          {"sha256": fingerprint_digest(fields), "fields": fields})

    def fingerprints(self) -> dict[str, dict | None]:
        """condition id -> stored fingerprint (None: missing) of every stored condition."""
        return condition_fingerprints(self.out)

    def remove(self, condition_id: str) -> None:
        """Delete a condition's folder (a forced run drops what another run measured)."""
        folder = condition_dir(self.out, condition_id)
        if folder.resolve().is_relative_to((self.out / CONDITIONS_DIR).resolve()):
            shutil.rmtree(folder, ignore_errors=True)


class MemoryStore:
    """The same interface in memory. Predictions are kept only for the conditions in `keep`
    (the sweep needs the clean ones again for stability); `write_file` documents (results
    files for people) are dropped."""

    def __init__(self, keep: set[Condition] | None = None):
        self.keep = set(keep or ())
        self.scores: dict[Condition, dict] = {}
        self.predictions: dict[Condition, Predictions] = {}
        self.json: dict[tuple[Condition, str], Any] = {}

    def load_score(self, condition: Condition) -> dict | None:
        return self.scores.get(condition)

    def save_score(self, condition: Condition, score: dict) -> None:
        self.scores[condition] = score

    def has_predictions(self, condition: Condition) -> bool:
        return condition in self.predictions

    def load_predictions(self, condition: Condition) -> Predictions | None:
        return self.predictions.get(condition)

    def save_predictions(self, condition: Condition, predictions: Predictions) -> None:
        if condition in self.keep:
            self.predictions[condition] = predictions

    def load_json(self, condition: Condition, name: str) -> Any | None:
        return self.json.get((condition, name))

    def save_json(self, condition: Condition, name: str, obj: Any) -> None:
        self.json[(condition, name)] = obj

    def write_file(self, condition: Condition, name: str, obj: Any,
                   indent: int | None = 1) -> None:
        return None

    def save_fingerprint(self, condition: Condition, fields: dict) -> None:
        return None

    def fingerprints(self) -> dict[str, dict | None]:
        return {}

    def remove(self, condition_id: str) -> None:
        for table in (self.scores, self.predictions):
            for cond in [c for c in table if c.id == condition_id]:
                del table[cond]
