"""`robustpose merge`: the predictions of `evaluate --shard i/n` runs combined and scored as
one unsharded run would be (same settings, same fingerprint, same numbers)."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from robustpose_bench.evaluation.boxes import boxes_for_dataset
from robustpose_bench.evaluation.fingerprint import differences, without_shard
from robustpose_bench.evaluation.predictions import Predictions
from robustpose_bench.evaluation.settings import RunSettings
from robustpose_bench.evaluation.store import DiskStore
from robustpose_bench.evaluation.sweep import ATTACK_COUNTS, Sweep
from robustpose_bench.locking import output_lock
from robustpose_bench.results import Summary, condition_fields, fingerprint_digest


def _add_counts(total: dict, counts: dict) -> dict:
    """Sum the numeric attack counters of several shards."""
    for key, value in counts.items():
        if isinstance(value, int | float):
            total[key] = total.get(key, 0) + value
    return total


def merge_shards(shards: Sequence[str | Path], out: str | Path,
                 progress: bool = False, force: bool = False) -> Summary:
    """Combine the shard folders (all i of one i/n split of the same run) into `out` (locked
    for the merge) and write its summary. Raises ValueError naming the shard that is missing
    or differs: other run settings, another fingerprint (model, checkpoint, boxes, benchmark,
    metric options), or conditions stored with another fingerprint than their run's. An `out`
    holding another run's conditions is refused (RunMismatchError) unless `force`."""
    out = Path(out)
    runs = [RunSettings.load(s) for s in shards]
    if not runs:
        raise ValueError("no shard folders given")
    shard_ids = sorted(r.shard for r in runs if r.shard)
    if len(shard_ids) != len(runs):
        raise ValueError("every folder given to merge must come from `evaluate --shard i/n`")
    n = shard_ids[0][1]
    if sorted(i for i, _ in shard_ids) != list(range(n)) or any(m != n for _, m in shard_ids):
        raise ValueError(f"shards {shard_ids} do not cover 0..{n - 1} of one {n}-way split")
    base = dataclasses.replace(runs[0], shard=None,
                               fingerprint=without_shard(runs[0].fingerprint))
    if not base.fingerprint:
        raise ValueError(f"{shards[0]}: its run.json has no fingerprint (written by an older "
                         "robustpose); re-run the shards")

    def same(r: RunSettings) -> dict:  # what must agree (workers / batch size may differ)
        return dataclasses.replace(r, shard=None, workers=0, batch_size=1,
                                   fingerprint=without_shard(r.fingerprint)).to_json()

    for s, r in zip(shards, runs, strict=True):
        diffs = differences(base.fingerprint, without_shard(r.fingerprint),
                            (f"in {shards[0]}", f"in {s}"))
        if diffs:
            raise ValueError(f"{s}: not a shard of the run of {shards[0]}: its fingerprint "
                             f"differs ({'; '.join(diffs[:6])})")
        if same(r) != same(runs[0]):
            raise ValueError(f"{s}: its run settings differ from those of {shards[0]} "
                             "(not shards of one run)")
    dataset = base.data.load()
    detections = None
    if base.boxes != "gt":
        from robustpose_bench.datasets import load_detections

        detections = load_detections(base.boxes, [s.image_id for s in dataset.samples])
    boxes = boxes_for_dataset(dataset, detections, base.inference_protocol)
    with output_lock(out):
        store = DiskStore(out)
        sweep = Sweep(dataset, base, None, store, boxes, force=force, progress=progress)
        sweep.check_store(out)
        for cond in base.all_conditions():
            merged, counts = Predictions(), None
            for s, r in zip(shards, runs, strict=True):
                want = fingerprint_digest(condition_fields(r.fingerprint, cond.id))
                shard_store = DiskStore(s)
                part = shard_store.load_predictions(cond)
                if part is None:
                    raise ValueError(f"{shard_store.dir(cond) / 'raw.npz'} is missing: shard {s} "
                                     f"did not finish condition {cond.id}")
                fp = shard_store.fingerprints().get(cond.id)
                if fp is None or fp.get("sha256") != want:
                    raise ValueError(f"{shard_store.dir(cond)}: stored with another fingerprint "
                                     f"than its run's ({(fp or {}).get('sha256', 'none')[:12]} "
                                     f"vs {want[:12]}); re-run shard {s} with --force")
                merged.update(part)
                c = shard_store.load_json(cond, ATTACK_COUNTS)
                if c is not None:
                    counts = _add_counts(counts or {}, c)
            store.save_fingerprint(cond, sweep.condition_fields(cond))
            store.save_predictions(cond, merged)
            if counts is not None:
                store.save_json(cond, ATTACK_COUNTS, counts)
        summary = sweep.run(out)
    assert summary is not None  # not a shard run
    return summary
