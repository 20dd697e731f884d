"""Render a whole corrupted or attacked benchmark (COCO-C, MPII-C, OCHuman-C, SynthPose-C,
attack sets) and write its manifest: the library behind `robustpose generate` / `attack`."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from robustpose_bench.datasets.loading import load_dataset
from robustpose_bench.datasets.types import Dataset
from robustpose_bench.definitions import read_definition
from robustpose_bench.io import atomic_write_json, atomic_write_text, sha256_file
from robustpose_bench.locking import output_lock
from robustpose_bench.names import SEVERITIES
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.jobs import ImageChecks, RenderReport, run_render
from robustpose_bench.render.manifest import write_manifest
from robustpose_bench.render.protocol import Protocol, get_protocol
from robustpose_bench.render.resume import engine_versions, settings_of

log = logging.getLogger(__name__)


def parse_corruptions(text: str | Sequence[str] | None, allow_extra: bool = True) -> list[str]:
    """Comma list / sequence of corruption names, `all` (the 15), `extra` (the 4 held-out) or
    `all+extra`; unknown names are rejected with the valid list."""
    from robustpose_bench.corruptions import ALL_CORRUPTIONS, CORRUPTIONS, EXTRA_CORRUPTIONS

    if text is None:
        return list(CORRUPTIONS)
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    out: list[str] = []
    for item in items:
        if item == "all":
            out += CORRUPTIONS
        elif item == "extra":
            out += EXTRA_CORRUPTIONS
        elif item == "all+extra":
            out += ALL_CORRUPTIONS
        elif item in ALL_CORRUPTIONS and (allow_extra or item in CORRUPTIONS):
            out.append(item)
        else:
            raise ValueError(f"unknown corruption {item!r}; valid: {', '.join(ALL_CORRUPTIONS)} "
                             f"(or all, extra, all+extra)")
    return list(dict.fromkeys(out))


def parse_severities(text: str | Sequence[int] | None) -> list[int]:
    if text is None:
        return list(SEVERITIES)
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for item in items:
        try:
            sev = int(str(item).strip())
        except ValueError:
            sev = -1
        if sev not in SEVERITIES:
            raise ValueError(f"invalid severity {item!r}; valid: 1, 2, 3, 4, 5")
        out.append(sev)
    return sorted(set(out))


def _manifest_base(kind: str, dataset: Dataset, protocol: Protocol, conditions: list[Condition],
                   name: str | None) -> dict:
    return {
        "schema_version": 1,
        "kind": kind,
        "benchmark": name or f"{dataset.meta.name}-{'c' if kind == 'corruption' else 'attack'}",
        "dataset": dataset.meta.name,
        "ann_file": str(dataset.ann_file),
        "ann_sha256": sha256_file(dataset.ann_file) if dataset.ann_file else None,
        "image_root": str(dataset.image_root),
        "num_images": len(dataset),
        "protocol": protocol.name,
        "seed": protocol.seed,
        "per_image_seed": protocol.per_image_seed,
        "format": protocol.format,
        "quality": protocol.quality if protocol.format == "jpg" else None,
        "severity_folders": {str(s): protocol.severity_folder(s) for s in SEVERITIES},
        "conditions": [c.id for c in conditions],
        "engine": engine_versions(),
    }


def _finish(out: Path, base: dict, report: RenderReport) -> dict:
    base["conditions"] = report.conditions  # the folder's earlier conditions stay listed
    base["failed"] = sorted(report.failed)
    if report.failed:
        atomic_write_text(out / "failed.txt",
                          "".join(f"{k}\t{v}\n" for k, v in sorted(report.failed.items())))
    elif (out / "failed.txt").exists():
        (out / "failed.txt").unlink()
    return write_manifest(out, base, report.hashes)


def generate_benchmark(dataset: Dataset, out: str | Path, corruptions: Sequence[str],
                       severities: Sequence[int], protocol: Protocol, jobs: int = 1,
                       backend: str = "loky", scheduler: str | None = None,
                       name: str | None = None, force: bool = False,
                       progress: bool = True,
                       extra_conditions: Sequence[Condition] = (),
                       checks: ImageChecks = ImageChecks()) -> tuple[dict, RenderReport]:
    """Render `<out>/<corruption>/<severity>/<file_name>` for every image of the grid
    corruptions x severities (plus `extra_conditions`, e.g. held-out corruptions at one
    severity); returns the manifest written and the run's report (failed images in both).
    Holds the lock of `out`; other settings than the folder's are refused unless `force`."""
    out = Path(out)
    conditions = [Condition.corruption(c, s) for c in corruptions for s in severities]
    conditions += [c for c in extra_conditions if c not in conditions]
    base = _manifest_base("corruption", dataset, protocol, conditions, name)
    with output_lock(out):
        report = run_render(dataset, conditions, out, protocol, jobs=jobs, backend=backend,
                            scheduler=scheduler, force=force, progress=progress,
                            settings=settings_of(base), checks=checks)
        manifest = _finish(out, base, report)
    return manifest, report


def attack_benchmark(dataset: Dataset, out: str | Path, conditions: Sequence[Condition],
                     protocol: Protocol | None = None, jobs: int = 1, name: str | None = None,
                     force: bool = False, progress: bool = True,
                     checks: ImageChecks = ImageChecks()) -> tuple[dict, RenderReport]:
    """Render image-mode occlusion attacks `<out>/<mode>/<target>/<file_name>` plus
    `attacked_persons.json` (per condition and image: which persons were attacked/skipped).
    protocol None: lossless PNG, so the files hold the attack's exact pixels."""
    out = Path(out)
    protocol = protocol or get_protocol("robustpose").with_overrides(format="png")
    base = _manifest_base("attack", dataset, protocol, list(conditions), name)
    with output_lock(out):
        report = run_render(dataset, list(conditions), out, protocol, jobs=jobs, force=force,
                            progress=progress, settings=settings_of(base), checks=checks)
        atomic_write_json(out / "attacked_persons.json", report.attack_info)
        manifest = _finish(out, base, report)
    return manifest, report


def load_benchmark_definition(source: str | Path) -> dict:
    """A benchmark definition (what to render and score): a packaged name (`coco-c`,
    `synthpose-c`, see `definitions.list_definitions`) or a YAML path. Raises ValueError
    naming the file and the missing field."""
    spec, where = read_definition(source)
    required = ("name", "annotations", "images")
    for key in required:
        if key not in spec:
            raise ValueError(f"{where}: missing field {key!r} (required: {', '.join(required)})")
    return spec


def synthesize_definition(spec: dict, root: str | Path, progress: bool = False) -> Path:
    """Generate the embedded SynthPose split of a definition's `synthesize` block (split,
    num_images, seed) under `root/synthpose`; returns the data root. Deterministic: the same
    block gives the same files byte for byte."""
    from robustpose_bench.datasets.synthpose import generate

    synth = spec.get("synthesize")
    if spec.get("dataset") != "synthpose" or not isinstance(synth, dict):
        raise ValueError(f"benchmark {spec['name']}: `synthesize` is for the SynthPose data "
                         "set, a mapping of split, num_images, seed")
    root = Path(root)
    generate(root / "synthpose", split=synth.get("split", "val"),
             num_images=synth.get("num_images"), seed=synth.get("seed"), progress=progress)
    return root


def dataset_from_definition(spec: dict, root: str | Path) -> Dataset:
    """The data set of a definition under the data root its paths are relative to. A
    definition with a `synthesize` block (SynthPose-C) whose annotation file is not under
    the root yet is synthesised there first."""
    root = Path(root)
    if spec.get("synthesize") and not (root / spec["annotations"]).exists():
        log.info("%s not found: synthesising %s under %s", spec["annotations"],
                    spec["name"], root)
        synthesize_definition(spec, root)
    gt_mat = spec.get("gt_mat")
    return load_dataset(root / spec["annotations"], root / spec["images"],
                        dataset_name=spec.get("dataset"),
                        gt_mat=(root / gt_mat) if gt_mat else None)
