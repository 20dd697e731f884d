"""Speed (and exactness) of the corruption engine against the reference `imagecorruptions` 1.1.2.

For one natural 480x640 RGB image (scikit-image's bundled `coffee`, resized) and one thread,
times every corruption x severity with our engine and with the stock package (made importable
by the test shim in tests/corruptions/_corruption_reference.py), prints a table, the ratio over
the 15 x 5 = 75-condition benchmark grid, and how many pixels differ from the reference.

    python benchmarks/corruptions.py            # full run (the reference takes ~40 s)
    python benchmarks/corruptions.py --quick    # smoke run on a small image (a few seconds)
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 96x128 image, 1 repeat (numbers are not meaningful)")
    ap.add_argument("--size", default="480x640", help="image size HxW (default 480x640)")
    ap.add_argument("--repeats", type=int, default=5,
                    help="timed calls of ours per condition (the minimum is reported)")
    ap.add_argument("--ref-repeats", type=int, default=5,
                    help="timed calls of the reference per condition (minimum reported; a "
                         "condition taking over 1 s is timed once)")
    ap.add_argument("--timer", choices=("cpu", "wall"), default="cpu",
                    help="cpu: process CPU time (robust on a busy machine; = wall time for "
                         "single-threaded code on an idle one); wall: perf_counter")
    ap.add_argument("--corruptions", default="all",
                    help="comma list (default: all 19; the grid ratio uses the 15)")
    ap.add_argument("--cold-jit", action="store_true",
                    help="compile the numba kernels from scratch (empty cache dir) to time JIT")
    ap.add_argument("--no-reference", action="store_true", help="time ours only")
    ap.add_argument("--json", type=Path, help="also write the measurements to this file")
    return ap.parse_args()


def main() -> int:
    args = _parse()
    if args.cold_jit:
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="numba-cold-")
    import cv2
    import numpy as np
    import skimage.data

    cv2.setNumThreads(1)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests" / "corruptions"))
    from robustpose_bench.corruptions import ALL_CORRUPTIONS, CORRUPTIONS, corrupt

    h, w = (96, 128) if args.quick else tuple(int(v) for v in args.size.lower().split("x"))
    repeats = 1 if args.quick else max(1, args.repeats)
    ref_repeats = 1 if args.quick else max(1, args.ref_repeats)
    names = ALL_CORRUPTIONS if args.corruptions == "all" else tuple(args.corruptions.split(","))
    clock = time.process_time if args.timer == "cpu" else time.perf_counter
    image = cv2.resize(skimage.data.coffee(), (w, h), interpolation=cv2.INTER_AREA)

    reference = None
    if not args.no_reference:
        from _corruption_reference import reference_corrupt

        reference = reference_corrupt

    # numba: first call of each corruption compiles (or loads from the on-disk cache)
    t0 = time.perf_counter()
    for name in names:
        corrupt(image, name, 1, seed=0)
    jit_s = time.perf_counter() - t0

    rows = []
    for name in names:
        for sev in range(1, 6):
            ours_t = []
            for r in range(repeats):
                t = clock()
                out = corrupt(image, name, sev, seed=r)
                ours_t.append(clock() - t)
            row = {"corruption": name, "severity": sev, "ours_ms": 1e3 * min(ours_t)}
            if reference is not None:
                ref_t = []
                for _ in range(ref_repeats):
                    t = clock()
                    ref = reference(image, name, sev, repeats - 1)
                    ref_t.append(clock() - t)
                    if ref_t[-1] > 1.0:
                        break
                row["ref_ms"] = 1e3 * min(ref_t)
                row["speedup"] = row["ref_ms"] / row["ours_ms"]
                diff = np.abs(out.astype(np.int16) - ref.astype(np.int16))
                row["max_diff"] = int(diff.max())
                row["pct_identical"] = 100.0 * float((diff == 0).mean())
            rows.append(row)
            _print_row(row)

    grid = [r for r in rows if r["corruption"] in CORRUPTIONS]
    ours_total = sum(r["ours_ms"] for r in grid)
    if reference is not None:
        _print_summary(rows, CORRUPTIONS)
    print()
    print(f"image {h}x{w} (skimage coffee), 1 thread, timer={args.timer}, ours: min of "
          f"{repeats}, reference: min of {ref_repeats} (1 where a call takes > 1 s)")
    print(f"numba warm-up (first call of each corruption: JIT compile or cache load): "
          f"{jit_s:.2f} s{' (cold compile)' if args.cold_jit else ''}")
    summary = {"image": [h, w], "timer": args.timer, "repeats": repeats,
               "ref_repeats": ref_repeats, "jit_warmup_s": jit_s,
               "python": platform.python_version(), "machine": platform.machine(),
               "grid_conditions": len(grid), "ours_grid_s": ours_total / 1e3, "rows": rows}
    if reference is not None:
        ref_total = sum(r["ref_ms"] for r in grid)
        slower = [f"{r['corruption']}/{r['severity']}" for r in rows if r["speedup"] < 1]
        not_exact = [f"{r['corruption']}/{r['severity']}" for r in rows
                     if r["max_diff"] > 1 and r["corruption"] != "impulse_noise"]
        summary.update(ref_grid_s=ref_total / 1e3, grid_speedup=ref_total / ours_total,
                       slower_conditions=slower, conditions_off_by_more_than_1=not_exact)
        print(f"grid of {len(grid)} conditions: ours {ours_total / 1e3:.3f} s, reference "
              f"{ref_total / 1e3:.2f} s, speed-up {ref_total / ours_total:.1f}x")
        print(f"conditions slower than the reference: {', '.join(slower) or 'none'}")
        print(f"conditions differing by more than 1 grey level (impulse_noise excluded, it "
              f"cannot be seeded in the reference): {', '.join(not_exact) or 'none'}")
    else:
        print(f"grid of {len(grid)} conditions: ours {ours_total / 1e3:.3f} s")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")
    return 0


def _print_summary(rows: list[dict], benchmark: tuple[str, ...]) -> None:
    """Per corruption: ms per severity (ours / reference) and the speed-up of the 5 together."""
    print()
    print("| corruption | set | ours ms, severity 1-5 | reference ms, severity 1-5 | speed-up "
          "(min..max) | speed-up (sum) |")
    print("|---|---|---|---|---|---|")
    for name in dict.fromkeys(r["corruption"] for r in rows):
        rs = [r for r in rows if r["corruption"] == name]
        ours = " / ".join(f"{r['ours_ms']:.1f}" for r in rs)
        ref = " / ".join(f"{r['ref_ms']:.0f}" if r["ref_ms"] >= 100 else f"{r['ref_ms']:.1f}"
                         for r in rs)
        sp = [r["speedup"] for r in rs]
        tot = sum(r["ref_ms"] for r in rs) / sum(r["ours_ms"] for r in rs)
        print(f"| {name} | {'benchmark' if name in benchmark else 'extra'} | {ours} | {ref} | "
              f"{min(sp):.1f}..{max(sp):.1f} | {tot:.1f} |")


_HEADER_DONE = False


def _print_row(row: dict) -> None:
    global _HEADER_DONE
    has_ref = "ref_ms" in row
    if not _HEADER_DONE:
        cols = "| corruption | sev | ours ms |" + (" reference ms | speed-up | identical % |"
                                                  if has_ref else "")
        print(cols)
        print("|" + "---|" * (cols.count("|") - 1))
        _HEADER_DONE = True
    line = f"| {row['corruption']} | {row['severity']} | {row['ours_ms']:.1f} |"
    if has_ref:
        line += f" {row['ref_ms']:.1f} | {row['speedup']:.1f} | {row['pct_identical']:.3f} |"
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
