"""The evaluation pipeline's ceiling: how fast the sweep runs when the model costs nothing.

A no-op adapter (`CentreHeatmapAdapter`: the built-in top-down pipeline whose heatmaps peak at
the crop centre, so keypoints land on the box centres) runs the SynthPose-C sweep (clean + the
15 corruptions at one severity, images rendered in memory) with `--workers 0/1/2`, on
SynthPose val and on COCO-sized images (SynthPose images upscaled to 640x480, ~20 person boxes
each: every person repeated at other places). Per run: image-conditions/s and crops/s (wall
clock), crops per CPU second of all processes (per-core rate), the CPU seconds per stage
(decode, corrupt, JPEG round trip, crop warp, model call, postprocess, scoring) and the load
average; first, the machine's own ceiling (the same independent per-image work in 1 process
and in `cores` processes at once). Then the same sweep with a trained model (the shipped `synthpose_hrnet_w16_standard`,
or `--model`) for the share of time outside the model. Every setting is measured `--repeats`
times, the settings interleaved, and the scaling ratios are taken within each repeat.

    python benchmarks/pipeline.py                 # SynthPose val 24 images, COCO-sized 8
    python benchmarks/pipeline.py --quick         # smoke run (numbers not meaningful)
    python benchmarks/pipeline.py --json out.json --markdown  # also the docs table
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from robustpose_bench.adapters.topdown import CentreHeatmapAdapter
from robustpose_bench.datasets import load_dataset
from robustpose_bench.datasets.synthpose import generate
from robustpose_bench.evaluation.boxes import boxes_for_dataset
from robustpose_bench.evaluation.pipeline import available_cores
from robustpose_bench.evaluation.predict import LocalPredictor
from robustpose_bench.evaluation.settings import RunSettings
from robustpose_bench.evaluation.store import MemoryStore
from robustpose_bench.evaluation.sweep import Sweep
from robustpose_bench.io import atomic_write_json
from robustpose_bench.names import CORRUPTIONS
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.protocol import get_protocol

COCO_SIZE = (640, 480)  # width, height
STAGES = ("decode", "corrupt", "jpeg", "warp", "model", "postprocess", "scoring")
PER_IMAGE = ("decode", "corrupt", "jpeg", "warp")  # the work a worker does per image


def coco_sized(source: dict, out: Path, num_images: int, boxes_per_image: int = 20,
               seed: int = 0) -> tuple[Path, Path]:
    """SynthPose images upscaled to 640x480 (JPEG quality 95) with `boxes_per_image` persons
    each: the image's persons scaled, then copies of them shifted to other places (keypoints
    moved with their box). Returns (annotation file, image folder)."""
    data = json.loads(Path(source["ann_file"]).read_text())
    rng = np.random.default_rng(seed)
    by_image: dict[int, list[dict]] = {}
    for a in data["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    images_out = out / "images"
    images_out.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    w, h = COCO_SIZE
    for info in data["images"][:num_images]:
        pixels = cv2.imread(str(Path(source["image_root"]) / info["file_name"]))
        sx, sy = w / pixels.shape[1], h / pixels.shape[0]
        cv2.imwrite(str(images_out / info["file_name"]),
                    cv2.resize(pixels, (w, h), interpolation=cv2.INTER_LINEAR),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append({**info, "width": w, "height": h})
        persons = by_image.get(info["id"], [])
        for n in range(boxes_per_image if persons else 0):
            a = persons[n % len(persons)]
            x, y, bw, bh = a["bbox"]
            bw, bh = bw * sx, bh * sy
            if n < len(persons):
                dx, dy = 0.0, 0.0
            else:  # a copy somewhere else in the image
                dx = rng.uniform(0, max(1.0, w - bw)) - x * sx
                dy = rng.uniform(0, max(1.0, h - bh)) - y * sy
            kp = np.asarray(a["keypoints"], dtype=float).reshape(-1, 3)
            vis = kp[:, 2] > 0
            kp[vis, 0] = kp[vis, 0] * sx + dx
            kp[vis, 1] = kp[vis, 1] * sy + dy
            anns.append({"id": len(anns) + 1, "image_id": info["id"], "category_id": 1,
                         "iscrowd": 0, "bbox": [x * sx + dx, y * sy + dy, bw, bh],
                         "area": float(a["area"]) * sx * sy, "num_keypoints": int(vis.sum()),
                         "keypoints": [round(float(v), 2) for v in kp.ravel()]})
    ann = out / "coco_sized.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns,
                               "categories": data["categories"]}))
    return ann, images_out


class GpuSampler:
    """GPU utilisation (percent) sampled every 0.5 s with nvidia-smi while the block runs
    (nothing on CPU devices or without nvidia-smi)."""

    def __init__(self, device: str):
        self.device, self.samples = device, []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu",
                                      "--format=csv,noheader,nounits"], capture_output=True,
                                     text=True, timeout=5).stdout.split()
            except (OSError, subprocess.SubprocessError):
                return
            if out:
                self.samples.append(float(out[0]))

    def __enter__(self) -> GpuSampler:
        if self.device.startswith("cuda") and shutil.which("nvidia-smi"):
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def summary(self) -> dict:
        s = sorted(self.samples)
        return {"mean": round(statistics.fmean(s), 1), "median": s[len(s) // 2],
                "samples": len(s)}


class TimedSweep(Sweep):
    """The sweep with the wall and CPU seconds of its prediction step, so that scoring is
    what run_unit spends outside it."""

    predict_cpu = 0.0

    def predictions(self, condition: Condition):
        t0 = time.process_time()
        try:
            return super().predictions(condition)
        finally:
            self.predict_cpu += time.process_time() - t0


def _cpu() -> tuple[float, float]:
    t = os.times()
    return t.user + t.system, t.children_user + t.children_system


def run_once(adapter, dataset, conditions: list[Condition], workers: int, batch_size: int,
             threads: int | None) -> dict:
    """One in-memory sweep; rates, CPU seconds and the stage split."""
    boxes = boxes_for_dataset(dataset, None, adapter.inference_protocol)
    settings = RunSettings(protocol=get_protocol("robustpose"), conditions=conditions,
                           metric="AP", batch_size=batch_size, workers=workers,
                           allow_partial=True, inference_protocol=adapter.inference_protocol,
                           model={"input_size": list(adapter.input_size)})
    predictor = LocalPredictor(adapter, dataset, boxes, settings, threads=threads)
    sweep = TimedSweep(dataset, settings, predictor, MemoryStore(), boxes)
    load = os.getloadavg()[0]
    self0, child0 = _cpu()
    t0 = time.perf_counter()
    sweep.run()
    wall = time.perf_counter() - t0
    self1, child1 = _cpu()
    cpu_self, cpu_children = self1 - self0, child1 - child0
    times = predictor.times
    n_units = len(settings.all_conditions())
    image_conditions = n_units * len(dataset)
    crops = n_units * sum(len(b) for b in boxes)
    seconds = dict(times.seconds)
    seconds["scoring"] = max(0.0, cpu_self - sweep.predict_cpu)
    per_image_cpu = sum(seconds[s] for s in PER_IMAGE)
    return {
        "workers": workers, "threads": predictor.threads, "wall_s": round(wall, 3),
        "load_1min": round(load, 2), "load_1min_after": round(os.getloadavg()[0], 2),
        "image_conditions": image_conditions, "crops": crops,
        "image_conditions_per_s": round(image_conditions / wall, 2),
        "crops_per_s": round(crops / wall, 1),
        "cpu_s": round(cpu_self + cpu_children, 3),
        "cpu_s_model_process": round(cpu_self, 3), "cpu_s_workers": round(cpu_children, 3),
        "crops_per_cpu_s": round(crops / max(1e-9, cpu_self + cpu_children), 1),
        "per_image_crops_per_cpu_s": round(crops / max(1e-9, per_image_cpu), 1),
        "prerendered_crops_per_cpu_s": round(
            crops / max(1e-9, seconds["decode"] + seconds["warp"]), 1),
        "stage_cpu_s": {k: round(seconds.get(k, 0.0), 3) for k in STAGES},
    }


def _corrupt_loop(n: int) -> float:
    """Wall seconds of n (corruption + JPEG round trip) of one 640x480 image, one thread."""
    from robustpose_bench.corruptions import corrupt

    cv2.setNumThreads(1)
    image = np.random.default_rng(0).integers(0, 256, (COCO_SIZE[1], COCO_SIZE[0], 3),
                                              dtype=np.uint8)
    t0 = time.perf_counter()
    for i in range(n):
        out = corrupt(image, CORRUPTIONS[i % len(CORRUPTIONS)], 3, seed=i)
        cv2.imdecode(cv2.imencode(".jpg", out)[1], cv2.IMREAD_COLOR)
    return time.perf_counter() - t0


def parallel_ceiling(processes: int, n: int = 45, repeats: int = 2) -> dict:
    """The machine's own scaling for the workers' kind of work: the same independent CPU
    work (a worker's per-image stages) in 1 process, then in `processes` at once; the ratio
    of the rates bounds what `--workers` can gain here (vCPUs that share a physical core, or
    other jobs on the machine, give less than `processes`x)."""
    import multiprocessing as mp

    _corrupt_loop(len(CORRUPTIONS))  # warm-up
    ratios = []
    for _ in range(repeats):
        one = n / _corrupt_loop(n)
        with mp.get_context("fork").Pool(processes) as pool:
            t0 = time.perf_counter()
            pool.map(_corrupt_loop, [n] * processes)
            many = processes * n / (time.perf_counter() - t0)
        ratios.append(round(many / one, 2))
    return {"processes": processes, "ratios": ratios, "load_1min": round(os.getloadavg()[0], 2)}


def parse_settings(text: str, threads: int | None) -> list[tuple[int, int | None]]:
    """`0,1,2` or `0,0:1,2` (workers, or workers:threads) -> [(workers, threads)]."""
    out = []
    for item in text.split(","):
        w, _, t = item.partition(":")
        out.append((int(w), int(t) if t else threads))
    return out


def _label(workers: int, threads: int | None) -> str:
    return f"{workers}" if threads is None else f"{workers}:{threads}"


def sweep_table(name: str, adapter_factory, dataset, conditions,
                settings: list[tuple[int, int | None]], repeats: int, batch_size: int) -> dict:
    """Every (workers, threads) setting `repeats` times, interleaved; medians and the
    within-repeat ratios to the first setting."""
    labels = [_label(w, t) for w, t in settings]
    runs: dict[str, list[dict]] = {k: [] for k in labels}
    # warm-up (kernel selection, caches, first imports): two images, untimed
    warm = dataclasses.replace(dataset, samples=dataset.samples[:2])
    run_once(adapter_factory(), warm, conditions[:2], 0, batch_size, settings[0][1])
    for rep in range(repeats):
        for label, (w, t) in zip(labels, settings, strict=True):
            row = run_once(adapter_factory(), dataset, conditions, w, batch_size, t)
            row["repeat"] = rep
            runs[label].append(row)
            print(json.dumps({"set": name, **row}), flush=True)
    summary = {}
    for w, rows in runs.items():
        med = {k: statistics.median(r[k] for r in rows)
               for k in ("wall_s", "image_conditions_per_s", "crops_per_s", "crops_per_cpu_s",
                         "per_image_crops_per_cpu_s", "prerendered_crops_per_cpu_s",
                         "load_1min")}
        stage = {s: statistics.median(r["stage_cpu_s"][s] for r in rows) for s in STAGES}
        summary[w] = {**med, "stage_cpu_s": stage, "threads": rows[0]["threads"],
                      "image_conditions": rows[0]["image_conditions"],
                      "crops": rows[0]["crops"]}
    base = labels[0]
    for w in labels[1:]:
        ratios = [runs[w][r]["image_conditions_per_s"] / runs[base][r]["image_conditions_per_s"]
                  for r in range(repeats)]
        summary[w][f"speedup_vs_{base}"] = [round(x, 2) for x in ratios]
    return {"set": name, "images": len(dataset), "boxes": int(sum(
        len(b) for b in boxes_for_dataset(dataset, None))), "conditions": len(conditions) + 1,
        "by_workers": summary, "runs": runs}


def markdown(results: list[dict]) -> str:
    """The docs table: one row per (set, workers)."""
    lines = ["| images | model | workers | threads | image-cond/s | crops/s | speedup | "
             "crops per CPU s | decode | corrupt | JPEG | warp | model | postproc | scoring "
             "| load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        for w, row in res["by_workers"].items():
            sp = next((v for k, v in row.items() if k.startswith("speedup")), None)
            st = row["stage_cpu_s"]
            total = sum(st.values()) or 1.0
            pct = " | ".join(f"{100 * st[s] / total:.0f}%" for s in STAGES)
            lines.append(
                f"| {res['set']} | {res['model']} | {w.split(':')[0]} | {row['threads']} | "
                f"{row['image_conditions_per_s']:.1f} | {row['crops_per_s']:.0f} | "
                f"{'x' + '/'.join(f'{v:.2f}' for v in sp) if sp else '1'} | "
                f"{row['crops_per_cpu_s']:.0f} | {pct} | {row['load_1min']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=24, help="SynthPose val images")
    ap.add_argument("--coco-images", type=int, default=8, help="COCO-sized images (640x480)")
    ap.add_argument("--boxes-per-image", type=int, default=20)
    ap.add_argument("--severity", type=int, default=3, help="severity of the 15 corruptions")
    ap.add_argument("--workers", default="0,0:1,1,2",
                    help="comma list of workers or workers:threads; the first is the base")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads of the model process (default: cores - workers)")
    ap.add_argument("--model", default="synthpose_hrnet_w16_standard",
                    help="model for the share of time outside the model: a shipped name or "
                         "any --model spec of evaluate, e.g. zoo:hrnet_w32 ('' skips)")
    ap.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                    help="model argument (repeatable), e.g. input_size=192x256")
    ap.add_argument("--model-workers", default="0,0:1,2")
    ap.add_argument("--model-only", action="store_true",
                    help="skip the no-op sweeps (e.g. on a GPU machine)")
    ap.add_argument("--device", default="cpu", help="device of --model (cuda: fp16 autocast, "
                    "crops cut on the device, GPU utilisation sampled with nvidia-smi)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 + 2 images, 3 "
                    "conditions, 1 repeat")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--markdown", action="store_true", help="print the docs table")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    corruptions = list(CORRUPTIONS)
    if args.quick:
        args.images, args.coco_images, args.repeats = 4, 2, 1
        corruptions = ["gaussian_noise", "contrast"]
    conditions = [Condition.corruption(c, args.severity) for c in corruptions]
    workers = parse_settings(args.workers, args.threads)
    results = []
    cores = available_cores()
    ceiling = parallel_ceiling(cores)
    print(json.dumps({"parallel_ceiling": ceiling}), flush=True)
    with tempfile.TemporaryDirectory(prefix="rpb-pipeline-") as tmp:
        sp = generate(Path(tmp) / "synthpose", split="val", num_images=args.images, seed=0)
        synth = load_dataset(sp["ann_file"], sp["image_root"], dataset_name="synthpose")
        ann, img = coco_sized(sp, Path(tmp) / "coco_sized", min(args.coco_images, args.images),
                              args.boxes_per_image)
        coco = load_dataset(ann, img, dataset_name="coco")

        def noop(meta=synth.meta):
            return CentreHeatmapAdapter(meta, input_size=(192, 256), batch_size=args.batch_size)

        sets = ((f"COCO-sized 640x480, {args.boxes_per_image} boxes", coco),
                ("SynthPose val", synth))
        for name, ds in sets if not args.model_only else ():
            res = sweep_table(name, noop, ds, conditions, workers, args.repeats,
                              args.batch_size)
            res["model"] = "no-op 256x192"
            results.append(res)
        if args.model:
            from robustpose_bench.adapters.args import parse_model_args
            from robustpose_bench.evaluation.resolve import resolve_model

            model_args = parse_model_args(args.model_arg)

            def model(meta=synth.meta):
                return resolve_model(args.model, meta, device=args.device,
                                     model_args=model_args).adapter

            mw = parse_settings(args.model_workers, args.threads)
            for name, ds in sets if args.model_only else sets[1:]:
                with GpuSampler(args.device) as gpu:
                    res = sweep_table(name, model, ds, conditions, mw, args.repeats,
                                      args.batch_size)
                m = model()
                res["model"] = f"{args.model} {m.input_size[1]}x{m.input_size[0]}"
                res["device"] = args.device
                if gpu.samples:
                    res["gpu_utilisation_percent"] = gpu.summary()
                for row in res["by_workers"].values():
                    st = row["stage_cpu_s"]
                    row["share_outside_model"] = round(
                        1 - st["model"] / (sum(st.values()) or 1), 3)
                results.append(res)
    out = {"results": results, "cores": cores, "cpu_count": os.cpu_count(),
           "parallel_ceiling": ceiling,
           "severity": args.severity, "corruptions": corruptions,
           "machine": platform.processor() or platform.machine(),
           "units": "rates per wall-clock second; crops per CPU second of all processes; "
                    "stage_cpu_s: CPU seconds summed over processes"}
    print(json.dumps({r["set"] + " / " + r["model"]: {w: {k: v for k, v in row.items()
                                                          if k != "stage_cpu_s"}
                                                      for w, row in r["by_workers"].items()}
                      for r in results}, indent=1))
    if args.markdown:
        print(markdown(results))
        print(f"\nThe machine's ceiling: {cores} processes doing independent per-image work "
              f"run at x{'/'.join(str(r) for r in ceiling['ratios'])} the rate of one "
              f"(load {ceiling['load_1min']}).")
    if args.json:
        atomic_write_json(args.json, out)


if __name__ == "__main__":
    main()
