"""Cost of a checked resume vs rendering: `generate` into a finished folder re-hashes every
file against the folder's record before keeping it (docs/corruptions.md, "Resuming").

Default: SynthPose val, 100 images x 76 conditions (15 corruptions x 5 severities + one
held-out corruption at severity 3) = 7,600 JPEG files. Prints the time to render them, the
time of a re-run that checks and keeps them all (settings check, index read, sha256 of every
file, journal and manifest written), the bare sha256 pass over the files, and their ratios.

    python benchmarks/resume.py [--images 100] [--jobs 1] [--keep DIR]
"""
from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

from robustpose_bench.datasets import load_dataset
from robustpose_bench.datasets.synthpose import generate
from robustpose_bench.io import sha256_file
from robustpose_bench.render.benchmark import generate_benchmark, parse_corruptions
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.manifest import read_index
from robustpose_bench.render.protocol import get_protocol


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None,
                    help="Work in this folder and keep it (default: a temporary folder).")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = args.keep or Path(tempfile.mkdtemp(prefix="robustpose-resume-"))
    try:
        paths = generate(work / "synthpose", split="val", num_images=args.images, seed=0)
        dataset = load_dataset(paths["ann_file"], paths["image_root"])
        names = parse_corruptions("all")
        extra = [Condition.corruption("speckle_noise", 3)]
        proto = get_protocol("robustpose")
        out = work / "synthpose-c"
        n_files = len(dataset) * (len(names) * 5 + len(extra))

        t0 = time.perf_counter()
        _, first = generate_benchmark(dataset, out, names, [1, 2, 3, 4, 5], proto, jobs=args.jobs,
                                      progress=False, extra_conditions=extra)
        t_render = time.perf_counter() - t0
        assert first.rendered == n_files and not first.failed, first.summary()

        t0 = time.perf_counter()
        _, again = generate_benchmark(dataset, out, names, [1, 2, 3, 4, 5], proto,
                                      jobs=args.jobs, progress=False, extra_conditions=extra)
        t_resume = time.perf_counter() - t0
        assert again.skipped == n_files and again.rendered == 0, again.summary()

        index = read_index(out)
        t0 = time.perf_counter()
        for rel, digest in index.items():
            assert sha256_file(out / rel) == digest
        t_hash = time.perf_counter() - t0
        size_mb = sum((out / rel).stat().st_size for rel in index) / 1e6

        print(f"{len(dataset)} SynthPose images x {n_files // len(dataset)} conditions = "
              f"{n_files} files ({size_mb:.0f} MB), jobs={args.jobs}")
        print(f"render:                 {t_render:8.2f} s  ({1e3 * t_render / n_files:.2f} ms/file)")
        print(f"resume with check:      {t_resume:8.2f} s  ({1e3 * t_resume / n_files:.3f} ms/file)"
              f"  = {100 * t_resume / t_render:.2f} % of rendering, rendering is "
              f"{t_render / t_resume:.0f}x slower")
        print(f"  of which sha256 pass: {t_hash:8.2f} s  ({1e3 * t_hash / n_files:.3f} ms/file, "
              f"single process)")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
