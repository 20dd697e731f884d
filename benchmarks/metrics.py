"""Speed (and exactness) of the metric path of a 76-condition sweep: rescoring + OKS-NMS + AP.

A val2017-sized synthetic result set (5,000 images, ~6,000 GT persons with keypoints, ~100,000
top-down detections before NMS, 17 keypoints; robustpose_bench.metrics.synthetic) is scored
for clean + 75 'corrupted' conditions (predictions degraded by growing noise). Timed:

- ours: vectorised rescoring + OKS-NMS (metrics.postprocess) + the native AP backend, from
  arrays, in one process and in `--jobs` processes (conditions spread over them);
- reference: the straightforward path (per-image numpy OKS-NMS as HRNet's lib/nms/nms.py,
  HRNet's rescoring loop, results dicts, pycocotools loadRes + COCOeval), on `--ref-conditions`
  conditions and extrapolated to 76 (stated in the output).

AP of both paths is compared on the reference conditions (all 10 numbers, exact equality).
Only the scoring is timed; generating each condition's synthetic input is not.

    python benchmarks/metrics.py                 # full run (reference on 4 conditions)
    python benchmarks/metrics.py --quick         # smoke run (500 images, 6 conditions)
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from robustpose_bench.datasets.meta import COCO_SIGMAS  # noqa: E402
from robustpose_bench.metrics.coco import METRIC_KEYS, KeypointEvaluator, load_gt  # noqa: E402
from robustpose_bench.metrics.postprocess import rescore_and_nms  # noqa: E402
from robustpose_bench.metrics.synthetic import (  # noqa: E402
    RawPredictions,
    make_coco_gt,
    make_predictions,
)

# the same straightforward reference OKS-NMS the tests use as their oracle
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "metrics"))
from _reference_nms import ref_oks_nms  # noqa: E402


# ----------------------------------------------------------------------------- conditions
class Conditions:
    """clean + corruption x severity conditions as degraded copies of one base prediction set.

    Three fixed noise fields are drawn once; condition c at severity s uses field c % 3
    scaled with s (cheap to make, different per condition)."""

    def __init__(self, base: RawPredictions, n: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.base = base
        self.names = ["clean"] + [f"c{c:02d}/{s}" for c in range(15) for s in range(1, 6)]
        self.names = self.names[:n]
        size = np.sqrt(np.maximum(base.boxes[:, 2] * base.boxes[:, 3], 1.0))
        shape = base.keypoints[..., :2].shape
        self.fields = [rng.normal(0, 1, shape) * size[:, None, None] for _ in range(3)]
        self.conf_fields = [rng.normal(0, 0.05, base.keypoints.shape[:2]) for _ in range(3)]

    def get(self, i: int) -> RawPredictions:
        if i == 0:
            return self.base
        c, s = divmod(i - 1, 5)
        level = (s + 1) * (0.6 + 0.1 * (c % 7))
        kp = self.base.keypoints.copy()
        kp[..., :2] += self.fields[c % 3] * (0.02 * level)
        kp[..., 2] = np.clip(kp[..., 2] * (1 - 0.06 * level) + self.conf_fields[c % 3], 0, 1)
        return RawPredictions(self.base.image_ids, self.base.boxes, self.base.box_scores, kp,
                              self.base.areas)


# ----------------------------------------------------------------------------- our path
def score_ours(ev: KeypointEvaluator, p: RawPredictions) -> list[float]:
    keep, scores = rescore_and_nms(p.keypoints, p.box_scores, p.areas, p.image_ids)
    out = ev.evaluate_arrays(p.image_ids[keep], p.keypoints[keep], scores[keep])
    return [out[k] for k in METRIC_KEYS]


def _worker(gt: dict, base: RawPredictions, n_cond: int, indices: list[int]
            ) -> list[tuple[int, float, float]]:
    conds = Conditions(base, n_cond)
    ev = KeypointEvaluator(load_gt(gt))
    score_ours(ev, conds.get(0))  # warm-up: numba cache load
    out = []
    for i in indices:
        p = conds.get(i)
        t = time.perf_counter()
        ap = score_ours(ev, p)[0]
        out.append((i, time.perf_counter() - t, ap))
    return out


# ----------------------------------------------------------------------------- reference path
def score_reference(coco_gt, p: RawPredictions) -> list[float]:
    """HRNet's evaluate(): group per image, rescore, oks_nms, write dicts, pycocotools."""
    from pycocotools.cocoeval import COCOeval

    per = defaultdict(list)
    for i in range(len(p.image_ids)):
        per[int(p.image_ids[i])].append({"keypoints": p.keypoints[i],
                                         "score": float(p.box_scores[i]),
                                         "area": p.areas[i], "image": int(p.image_ids[i])})
    results = []
    for _img, items in per.items():
        for it in items:
            total, valid = 0, 0
            for j in range(p.keypoints.shape[1]):
                c = it["keypoints"][j][2]
                if c > 0.2:
                    total = total + c
                    valid = valid + 1
            if valid != 0:
                total = total / valid
            it["score"] = total * it["score"]
        keep = ref_oks_nms(items, 0.9, COCO_SIGMAS)
        chosen = [items[k] for k in keep] if keep else items
        results += [{"image_id": c["image"], "category_id": 1,
                     "keypoints": c["keypoints"].reshape(-1).tolist(), "score": c["score"]}
                    for c in chosen]
    with contextlib.redirect_stdout(io.StringIO()):
        dt = coco_gt.loadRes(results)
        ev = COCOeval(coco_gt, dt, "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats]


# ----------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--conditions", type=int, default=76, help="clean + corrupted (max 76)")
    ap.add_argument("--ref-conditions", type=int, default=4,
                    help="conditions timed on the reference path (extrapolated to all)")
    ap.add_argument("--jobs", type=int, default=2, help="processes for the parallel run")
    ap.add_argument("--quick", action="store_true", help="500 images, 6 conditions, ref on 2")
    args = ap.parse_args()
    if args.quick:
        args.images, args.conditions, args.ref_conditions = 500, 6, 2
    n_cond = min(args.conditions, 76)

    t0 = time.perf_counter()
    gt = make_coco_gt(num_images=args.images, seed=0)
    base = make_predictions(gt, seed=0)
    conds = Conditions(base, n_cond)
    n_gt = sum(1 for a in gt["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"])
    print(f"synthetic set: {len(gt['images'])} images, {n_gt} GT persons with keypoints "
          f"({len(gt['annotations'])} annotations incl. crowd / unlabelled), {len(base)} "
          f"detections before NMS, 17 keypoints; {n_cond} conditions "
          f"(generated in {time.perf_counter() - t0:.1f} s, not timed)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
          f"affinity {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}"
          f" CPUs, python {platform.python_version()}, numpy {np.__version__}; load average "
          f"{os.getloadavg()[0]:.1f} (other work on the machine slows wall times)")

    # ours, one process
    ev = KeypointEvaluator(load_gt(gt))
    score_ours(ev, conds.get(0))  # warm-up (numba cache)
    times, ours_ap = [], {}
    cpu0 = time.process_time()
    for i in range(n_cond):
        p = conds.get(i)
        t = time.perf_counter()
        ours_ap[i] = score_ours(ev, p)
        times.append(time.perf_counter() - t)
    cpu = time.process_time() - cpu0
    ours_1 = sum(times)
    print(f"\nours, 1 process : {ours_1:7.2f} s for {n_cond} conditions "
          f"({ours_1 / n_cond:.3f} s per condition; min {min(times):.3f}, max {max(times):.3f})")

    # ours, parallel
    if args.jobs > 1:
        from joblib import Parallel, delayed

        chunks = [list(range(j, n_cond, args.jobs)) for j in range(args.jobs)]
        t = time.perf_counter()
        parts = Parallel(n_jobs=args.jobs)(delayed(_worker)(gt, base, n_cond, c) for c in chunks)
        wall = time.perf_counter() - t
        per_worker = [sum(x[1] for x in part) for part in parts]
        par_ap = {i: a for part in parts for i, _, a in part}
        same = all(par_ap[i] == ours_ap[i][0] for i in par_ap)
        print(f"ours, {args.jobs} processes: {max(per_worker):7.2f} s scoring on the busiest "
              f"process ({wall:.1f} s wall incl. process start-up and input generation); "
              f"AP equal to the 1-process run: {same}")

    # reference on a subset
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
    n_ref = max(1, min(args.ref_conditions, n_cond))
    ref_idx = sorted({int(round(x)) for x in np.linspace(0, n_cond - 1, n_ref)})
    ref_times, ref_cpu, diffs = [], [], []
    for i in ref_idx:
        p = conds.get(i)
        t, c = time.perf_counter(), time.process_time()
        ref = score_reference(coco_gt, p)
        ref_times.append(time.perf_counter() - t)
        ref_cpu.append(time.process_time() - c)
        diffs.append(max(abs(a - b) for a, b in zip(ref, ours_ap[i], strict=True)))
        print(f"reference, condition {conds.names[i]:>8}: {ref_times[-1]:6.2f} s, AP {ref[0]:.6f} "
              f"(ours {ours_ap[i][0]:.6f}), all 10 stats identical: {ref == ours_ap[i]}")
    per_ref = sum(ref_times) / len(ref_times)
    ref_total = per_ref * n_cond
    print(f"reference, {n_cond} conditions: {ref_total:7.1f} s "
          f"(EXTRAPOLATED from {len(ref_idx)} timed conditions, {per_ref:.2f} s each; CPU "
          f"{sum(ref_cpu) / len(ref_cpu):.2f} s each)")
    per_ours_same = sum(times[i] for i in ref_idx) / len(ref_idx)
    print(f"\nspeed-up, 1 process vs 1 process: {ref_total / ours_1:.1f}x over {n_cond} conditions "
          f"({per_ref / per_ours_same:.1f}x on the timed reference conditions; CPU time "
          f"{sum(ref_cpu) / len(ref_cpu) * n_cond / cpu:.1f}x)")
    print(f"target: {n_cond} conditions < 60 s on 2 cores -> ours {ours_1:.1f} s in 1 process "
          f"(CPU {cpu:.1f} s); max |AP difference| on the reference conditions: {max(diffs):.3g}; "
          f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
