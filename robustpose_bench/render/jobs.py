"""Parallel, atomic, resumable rendering of a data set under many conditions.

One task per source image (read once, every condition rendered from it); tasks run in
processes with joblib, or on a Dask cluster through joblib's Dask backend. A re-run skips
files already under their final name (writes are atomic, so those are complete) and removes
temp files left by a killed run.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from robustpose_bench.datasets.meta import DatasetMeta
from robustpose_bench.datasets.types import Dataset, Person
from robustpose_bench.io import (
    OutputError,
    atomic_write_bytes,
    remove_stale_parts,
    safe_join,
    sha256_bytes,
    sha256_file,
)
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.image import render_bytes
from robustpose_bench.render.imageio import ImageReadError, output_name, read_image
from robustpose_bench.render.protocol import Protocol

log = logging.getLogger(__name__)


def condition_relpath(condition: Condition, protocol: Protocol, file_name: str) -> str:
    """Where a condition's render of `file_name` lives below the output root.

    corruption: `<corruption>/<severity folder>/<file>`; attack: `<mode>/<target>/<file>`.
    """
    name = output_name(file_name, protocol.format)
    if condition.kind == "corruption":
        return f"{condition.name}/{protocol.severity_folder(condition.severity)}/{name}"
    if condition.kind == "attack":
        target = condition.target + (f"@r{condition.radius:g}" if condition.radius is not None else "")
        return f"{condition.name}/{target}/{name}"
    raise ValueError(f"condition {condition.id} is not rendered to disk")


@dataclass
class ImageResult:
    file_name: str
    hashes: dict[str, str] = field(default_factory=dict)
    rendered: int = 0
    skipped: int = 0
    attack_info: dict[str, dict] = field(default_factory=dict)
    error: str | None = None


def render_image_task(source: Path, file_name: str, out_root: Path,
                      conditions: Sequence[Condition], protocol: Protocol,
                      persons: Sequence[Person] = (), meta: DatasetMeta | None = None,
                      force: bool = False) -> ImageResult:
    """Render every condition of one source image (runs in a worker process)."""
    result = ImageResult(file_name)
    todo = []
    for cond in conditions:
        rel = condition_relpath(cond, protocol, file_name)
        path = out_root / rel
        if path.is_file() and not force and cond.kind != "attack":
            result.hashes[rel] = sha256_file(path)
            result.skipped += 1
        else:
            todo.append((cond, rel, path))
    if not todo:
        return result
    try:
        image = read_image(source)
    except ImageReadError as exc:
        result.error = str(exc)
        return result
    for cond, rel, path in todo:
        # attacks are cheap and their notes (who was attacked) are needed again: always redo
        if cond.kind == "attack" and path.is_file() and not force:
            _, info = render_bytes(image, cond, protocol, file_name, persons, meta)
            result.attack_info[cond.id] = info
            result.hashes[rel] = sha256_file(path)
            result.skipped += 1
            continue
        data, info = render_bytes(image, cond, protocol, file_name, persons, meta)
        if info:
            result.attack_info[cond.id] = info
        atomic_write_bytes(path, data)
        result.hashes[rel] = sha256_bytes(data)
        result.rendered += 1
    return result


@dataclass
class RenderReport:
    out_root: Path
    hashes: dict[str, str] = field(default_factory=dict)
    rendered: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    attack_info: dict[str, dict[str, dict]] = field(default_factory=dict)
    seconds: float = 0.0


def run_render(dataset: Dataset, conditions: Sequence[Condition], out_root: str | Path,
               protocol: Protocol, jobs: int = 1, backend: str = "loky",
               scheduler: str | None = None, force: bool = False,
               progress: bool = True) -> RenderReport:
    """Render `conditions` for every image of `dataset` under `out_root` (see module doc).

    backend: `loky` (local processes) or `dask` (joblib's Dask backend on the cluster at
    `scheduler`, e.g. `tcp://127.0.0.1:8786`). Unreadable images are collected in
    `RenderReport.failed` (file -> error) and do not stop the run.
    """
    from joblib import Parallel, delayed, parallel_config

    out_root = Path(out_root)
    try:
        out_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out_root}: {exc.strerror or exc}") from None
    stale = remove_stale_parts(out_root)
    if stale:
        log.info("removed %d half-written files left by an earlier run", stale)
    for s in dataset.samples:  # refuse names escaping the output folder before any work
        safe_join(out_root, output_name(s.file_name, protocol.format), "image file name")
    tasks = [delayed(render_image_task)(
        dataset.image_path(s), s.file_name, out_root, conditions, protocol,
        s.persons if any(c.kind == "attack" for c in conditions) else (), dataset.meta, force)
        for s in dataset.samples]
    report = RenderReport(out_root)
    start = time.perf_counter()
    bar = tqdm(total=len(tasks), unit="img", desc=f"render {out_root.name}", disable=not progress,
               dynamic_ncols=True)
    client = None
    try:
        if backend == "dask":
            from dask.distributed import Client

            client = Client(scheduler) if scheduler else Client(processes=False)
            ctx = parallel_config(backend="dask")
        elif backend == "loky":
            ctx = parallel_config(backend="loky" if jobs != 1 else "sequential")
        else:
            raise ValueError(f"unknown backend {backend!r}; valid: loky, dask")
        with ctx:
            parallel = Parallel(n_jobs=jobs if backend == "loky" else -1,
                                return_as="generator_unordered", batch_size=1)
            results: Iterable[ImageResult] = parallel(tasks)
            for res in results:
                _collect(report, res)
                bar.update(1)
    finally:
        bar.close()
        if client is not None:
            client.close()
    report.seconds = time.perf_counter() - start
    return report


def _collect(report: RenderReport, res: ImageResult) -> None:
    report.hashes.update(res.hashes)
    report.rendered += res.rendered
    report.skipped += res.skipped
    if res.error:
        report.failed[res.file_name] = res.error
        log.error("%s", res.error)
    for cid, info in res.attack_info.items():
        report.attack_info.setdefault(cid, {})[res.file_name] = info
