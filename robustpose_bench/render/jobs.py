"""Parallel, atomic, resumable rendering of a data set under many conditions.

One task per source image (read once, every condition rendered from it); tasks run in
processes with joblib, or on a Dask cluster through joblib's Dask backend. A re-run keeps a
file only when its bytes hash to the sha256 the folder recorded for it (render/resume.py);
damaged, unrecorded and missing files are rendered again, temp files of a killed run removed.
Callers hold the output root's lock (`robustpose_bench.locking.output_lock`).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
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
from robustpose_bench.render.resume import Journal, default_settings, plan_resume

log = logging.getLogger(__name__)

SIZE_MISMATCH_POLICIES = ("error", "warn")


@dataclass(frozen=True)
class ImageChecks:
    """Checks applied to every source image before rendering.

    max_pixels: refuse images with more pixels (None: `imageio.max_pixels_limit()`).
    size_mismatch: `error` (the image fails, listed like an unreadable one) or `warn` (rendered,
    with a warning) when the decoded width x height differs from the annotation's (the
    keypoints would not match the pixels). Annotations without a size (0) are not checked.
    """

    max_pixels: int | None = None
    size_mismatch: str = "error"

    def __post_init__(self) -> None:
        if self.size_mismatch not in SIZE_MISMATCH_POLICIES:
            raise ValueError(f"size_mismatch={self.size_mismatch!r}; valid: "
                             f"{', '.join(SIZE_MISMATCH_POLICIES)}")
        if self.max_pixels is not None and int(self.max_pixels) < 1:
            raise ValueError(f"max_pixels={self.max_pixels} must be a positive number of pixels")


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
    """What one image's task did. rendered counts every file written; repaired / unrecorded
    count those of them that were present but did not match the folder's record / had none."""

    file_name: str
    hashes: dict[str, str] = field(default_factory=dict)
    rendered: int = 0
    skipped: int = 0
    repaired: int = 0
    unrecorded: int = 0
    attack_info: dict[str, dict] = field(default_factory=dict)
    error: str | None = None
    warning: str | None = None


def _file_sha256(path: Path) -> str | None:
    """sha256 of a present, readable file; None otherwise (it is rendered again)."""
    try:
        return sha256_file(path)
    except OSError:
        return None


def render_image_task(source: Path, file_name: str, out_root: Path,
                      conditions: Sequence[Condition], protocol: Protocol,
                      persons: Sequence[Person] = (), meta: DatasetMeta | None = None,
                      force: bool = False, recorded: Mapping[str, str] | None = None,
                      expected_size: tuple[int, int] = (0, 0),
                      checks: ImageChecks = ImageChecks(), image_id: int | None = None
                      ) -> ImageResult:
    """Render every condition of one source image (runs in a worker process).

    A present file is kept only when its sha256 equals `recorded[rel]`; attack files, which
    are re-rendered in memory anyway for their notes, only when equal to the fresh bytes.
    expected_size: the annotation's (width, height). Problems of this image (unreadable, over
    the pixel limit, wrong size, a write or render failure) end up in `error`, one line.
    """
    result = ImageResult(file_name)
    recorded = recorded or {}
    todo = []
    for cond in conditions:
        rel = condition_relpath(cond, protocol, file_name)
        path = out_root / rel
        have = None if force or cond.kind == "attack" or not path.is_file() else _file_sha256(path)
        if have is not None and have == recorded.get(rel):
            result.hashes[rel] = have
            result.skipped += 1
        else:
            todo.append((cond, rel, path))
    if not todo:
        return result
    try:
        image = read_image(source, checks.max_pixels)
    except ImageReadError as exc:
        result.error = str(exc)
        return result
    width, height = expected_size
    if width > 0 and height > 0 and (image.shape[1], image.shape[0]) != (width, height):
        what = f"image id {image_id}" if image_id is not None else "the annotation"
        msg = (f"{source}: decoded size {image.shape[1]}x{image.shape[0]} differs from the "
               f"annotation's {width}x{height} ({what}); keypoints would not match the pixels")
        if checks.size_mismatch == "error":
            result.error = msg + " (--size-mismatch warn renders it anyway)"
            return result
        result.warning = msg
    for cond, rel, path in todo:
        try:
            data, info = render_bytes(image, cond, protocol, file_name, persons, meta)
        except Exception as exc:  # noqa: BLE001 - one image's failure must not stop the run
            detail = " ".join(str(exc).split()) or type(exc).__name__
            result.error = f"{source}: rendering {cond.id} failed: {detail}"
            return result
        if info:
            result.attack_info[cond.id] = info
        digest = sha256_bytes(data)
        present = path.is_file()
        if present and not force and cond.kind == "attack" and _file_sha256(path) == digest:
            result.hashes[rel] = digest
            result.skipped += 1
            continue
        try:
            atomic_write_bytes(path, data)
        except OutputError as exc:
            result.error = str(exc)
            return result
        result.hashes[rel] = digest
        result.rendered += 1
        if present and not force:
            if cond.kind == "attack" or rel in recorded:
                result.repaired += 1
            else:
                result.unrecorded += 1
    return result


@dataclass
class RenderReport:
    """What a render run did (counts of files; `failed`: source file name -> one-line error).

    conditions: ids of every condition the folder now holds (the folder's earlier ones plus
    the requested ones). removed: files a forced run took out because they belonged to the
    folder's earlier settings only.
    """

    out_root: Path
    hashes: dict[str, str] = field(default_factory=dict)
    rendered: int = 0
    skipped: int = 0
    repaired: int = 0
    unrecorded: int = 0
    removed: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    attack_info: dict[str, dict[str, dict]] = field(default_factory=dict)
    conditions: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """One line of counts, e.g. `12 rendered, re-rendered 2 damaged files, 36 already
        present (sha256 checked), 0 images failed`."""
        def files(n: int, what: str) -> str:
            return f"{n} {what} file{'s' if n != 1 else ''}"

        parts = [f"{self.rendered} rendered"]
        if self.repaired:
            parts.append(f"re-rendered {files(self.repaired, 'damaged')}")
        if self.unrecorded:
            parts.append(f"re-rendered {files(self.unrecorded, 'unrecorded')} (present "
                         f"without a record, e.g. from an interrupted run)")
        parts.append(f"{self.skipped} already present (sha256 checked)")
        if self.removed:
            parts.append(f"removed {files(self.removed, 'stale')} of the earlier settings")
        parts.append(f"{len(self.failed)} images failed")
        return ", ".join(parts)


def check_output_names(dataset: Dataset, out_root: Path, protocol: Protocol) -> None:
    """Refuse, before any work, file names that escape the output folder and images whose
    renders would land on the same file (equal `file_name`s, or names equal after the output
    extension or letter case is applied, e.g. `a.png` and `a.jpg` as jpg)."""
    seen: dict[str, tuple[int, str, str]] = {}
    where = dataset.ann_file or dataset.meta.name
    for s in dataset.samples:
        name = output_name(s.file_name, protocol.format)
        safe_join(out_root, name, "image file name")
        key = name.casefold()
        if key in seen:
            first_id, first_file, first_name = seen[key]
            if first_file == s.file_name:
                how = f"share the file_name {name!r}"
            elif first_name == name:
                how = f"map to the same output {name!r}"
            else:
                how = (f"map to outputs that differ only in letter case ({first_name!r}, "
                       f"{name!r}: one file on case-insensitive file systems)")
            raise ValueError(f"{where}: images id {first_id} ({first_file!r}) and id "
                             f"{s.image_id} ({s.file_name!r}) {how}; their renders would "
                             f"overwrite each other")
        seen[key] = (s.image_id, s.file_name, name)


def run_render(dataset: Dataset, conditions: Sequence[Condition], out_root: str | Path,
               protocol: Protocol, jobs: int = 1, backend: str = "loky",
               scheduler: str | None = None, force: bool = False,
               progress: bool = True, settings: Mapping | None = None,
               checks: ImageChecks = ImageChecks()) -> RenderReport:
    """Render `conditions` for every image of `dataset` under `out_root` (see module doc).

    settings: the folder's pixel settings (render/resume.py `SETTING_KEYS`; default from
    `dataset` and `protocol`): a folder rendered with others is refused unless `force`, which
    re-renders everything. The folder's earlier conditions are rendered (checked) too.
    backend: `loky` (local processes) or `dask` (joblib's Dask backend on the cluster at
    `scheduler`, e.g. `tcp://127.0.0.1:8786`). Images that cannot be rendered are collected
    in `RenderReport.failed` (file -> one-line error) and do not stop the run.
    """
    from joblib import Parallel, delayed, parallel_config

    out_root = Path(out_root)
    if backend not in ("loky", "dask"):
        raise ValueError(f"unknown backend {backend!r}; valid: loky, dask")
    if backend == "loky" and (jobs == 0 or jobs < -1):
        raise ValueError(f"jobs={jobs}: expected a positive number of processes, or -1 for all "
                         f"cores")
    try:
        out_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out_root}: {exc.strerror or exc}") from None
    check_output_names(dataset, out_root, protocol)
    kind = "attack" if any(c.kind == "attack" for c in conditions) else "corruption"
    plan = plan_resume(out_root, settings if settings is not None else
                       default_settings(kind, dataset, protocol), conditions, force)
    conditions = plan.conditions
    stale = remove_stale_parts(out_root)
    if stale:
        log.info("removed %d half-written files left by an earlier run", stale)
    with_persons = any(c.kind == "attack" for c in conditions)
    tasks = []
    for s in dataset.samples:
        rels = [condition_relpath(c, protocol, s.file_name) for c in conditions]
        tasks.append(delayed(render_image_task)(
            dataset.image_path(s), s.file_name, out_root, conditions, protocol,
            s.persons if with_persons else (), dataset.meta, force,
            {r: plan.recorded[r] for r in rels if r in plan.recorded},
            (s.width, s.height), checks, s.image_id))
    report = RenderReport(out_root, conditions=[c.id for c in conditions])
    start = time.perf_counter()
    bar = tqdm(total=len(tasks), unit="img", desc=f"render {out_root.name}", disable=not progress,
               dynamic_ncols=True)
    client = None
    try:
        if backend == "dask":
            from dask.distributed import Client

            client = Client(scheduler) if scheduler else Client(processes=False)
            ctx = parallel_config(backend="dask")
        else:
            ctx = parallel_config(backend="loky" if jobs != 1 else "sequential")
        with ctx, Journal(plan) as journal:
            parallel = Parallel(n_jobs=jobs if backend == "loky" else -1,
                                return_as="generator_unordered", batch_size=1)
            results: Iterable[ImageResult] = parallel(tasks)
            for res in results:
                journal.record(res.hashes)
                _collect(report, res)
                bar.update(1)
    finally:
        bar.close()
        if client is not None:
            client.close()
    if force:
        report.removed = _remove_stale_files(out_root, plan.previous_files - set(report.hashes))
    report.seconds = time.perf_counter() - start
    return report


def _remove_stale_files(root: Path, rels: Iterable[str]) -> int:
    """Remove files the folder's earlier record listed that a forced run did not produce
    (e.g. images of another annotation file); only recorded files are touched."""
    n = 0
    for rel in sorted(rels):
        path = root / rel
        if path.is_file():
            path.unlink()
            n += 1
    if n:
        log.info("%s: removed %d files of the folder's earlier settings", root, n)
    return n


def _collect(report: RenderReport, res: ImageResult) -> None:
    report.hashes.update(res.hashes)
    report.rendered += res.rendered
    report.skipped += res.skipped
    report.repaired += res.repaired
    report.unrecorded += res.unrecorded
    if res.warning:
        report.warnings.append(res.warning)
        log.warning("%s", res.warning)
    if res.error:
        report.failed[res.file_name] = res.error
        log.error("%s", res.error)
    for cid, info in res.attack_info.items():
        report.attack_info.setdefault(cid, {})[res.file_name] = info
