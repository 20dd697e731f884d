"""Throughput of the built-in top-down pipeline: person crops per second of SimpleBaseline
ResNet-50 at 256x192 (PROTOCOL.md section 3 setting), batch sizes 1 / 8 / 32.

Measures the full pipeline (affine crops + normalisation + network + flip test + decoding +
mapping back) on random images with 4 people each, with and without the flip test, plus the
bare network forward. Usage: `python benchmarks/inference.py [--device cpu] [--model sbl_r50]
[--seconds 10] [--json out.json]`; `--training` instead measures the training throughput
of the CPU-sized models at 128x96.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from robustpose_bench.adapters.topdown import HeatmapTopDownAdapter
from robustpose_bench.datasets.meta import COCO
from robustpose_bench.models import create_model, get_model_info


def _images(n: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    items = []
    for _ in range(n):
        image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        xy = rng.uniform(0, 400, (4, 2))
        wh = rng.uniform(60, 220, (4, 2))
        items.append((image, np.concatenate([xy, wh], axis=1)))
    return items


CPU_TIME: dict[str, float] = {}  # last measurement: process CPU seconds per crop


def _rate(fn, crops_per_call: int, seconds: float, min_calls: int = 2) -> float:
    """Crops per wall-clock second; also records CPU seconds per crop in CPU_TIME["last"]
    (less sensitive to other processes on a shared machine)."""
    fn()  # warm-up (allocator, oneDNN kernels)
    calls, start, cpu = 0, time.perf_counter(), time.process_time()
    while calls < min_calls or time.perf_counter() - start < seconds:
        fn()
        calls += 1
    CPU_TIME["last"] = (time.process_time() - cpu) / (calls * crops_per_call)
    return calls * crops_per_call / (time.perf_counter() - start)


def run(model_name: str, device: str, batch_sizes: list[int], seconds: float) -> dict:
    info = get_model_info(model_name)
    w, h = info.input_size
    model = create_model(model_name).eval()
    rng = np.random.default_rng(0)
    rows = []
    for bs in batch_sizes:
        n_images = max(1, bs // 4)
        items = _images(n_images, rng)
        crops = sum(len(b) for _, b in items)
        row = {"batch_size": bs, "crops_per_call": crops}
        for flip in (True, False):
            adapter = HeatmapTopDownAdapter(model, (w, h), COCO.flip_index(), device=device,
                                            batch_size=bs, flip_test=flip)
            if bs == 1:
                image, boxes = items[0]

                def call(a=adapter, image=image, boxes=boxes):
                    return a.predict(image, boxes[:1])
                row["crops_per_call"] = 1
                rate = _rate(call, 1, seconds)
            else:
                rate = _rate(lambda a=adapter, it=items: a.predict_batch(it), crops, seconds)
            key = "pipeline_flip" if flip else "pipeline_noflip"
            row[key] = round(rate, 2)
            row[key + "_cpu_s_per_crop"] = round(CPU_TIME["last"], 4)
        x = torch.randn(bs, 3, h, w, device=device)

        def forward(x=x):
            with torch.inference_mode():
                model.to(device)(x)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
        row["network_only"] = round(_rate(forward, bs, seconds), 2)
        row["network_only_cpu_s_per_crop"] = round(CPU_TIME["last"], 4)
        rows.append(row)
        print(json.dumps(row), flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"model": model_name, "input_size": [w, h], "device": device,
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "load_average_1min": load, "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(), "rows": rows,
            "units": "person crops per second (flip: two network passes per crop)"}


def run_training(models: list[str], batch_size: int, seconds: float) -> list[dict]:
    """Crops/s of the CPU models at their default input (128x96): forward in training mode,
    and a full step (forward + MSE backward + Adam)."""
    rows = []
    for name in models:
        w, h = get_model_info(name).input_size
        model = create_model(name).train()
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        x = torch.randn(batch_size, 3, h, w)

        def forward(model=model, x=x):
            with torch.no_grad():
                model(x)

        def step(model=model, opt=opt, x=x):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
        row = {"model": name, "input_size": [w, h], "batch_size": batch_size,
               "train_forward": round(_rate(forward, batch_size, seconds), 1),
               "train_forward_cpu_s_per_crop": round(CPU_TIME["last"], 5),
               "train_step": round(_rate(step, batch_size, seconds), 1),
               "train_step_cpu_s_per_crop": round(CPU_TIME["last"], 5)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sbl_r50")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=10.0, help="timing per measurement")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--training", action="store_true",
                        help="instead: training throughput of the CPU models (hrnet_w16_small, "
                             "sbl_r18_lite, sbl_r18) at 128x96, batch 32")
    args = parser.parse_args()
    if args.training:
        res = {"training": run_training(["hrnet_w16_small", "sbl_r18_lite", "sbl_r18"], 32,
                                        args.seconds),
               "torch_threads": torch.get_num_threads(),
               "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    else:
        res = run(args.model, args.device, [int(b) for b in args.batch_sizes.split(",")],
                  args.seconds)
    text = json.dumps(res, indent=1)
    print(text)
    if args.json:
        from robustpose_bench.io import atomic_write_text

        atomic_write_text(args.json, text + "\n")


if __name__ == "__main__":
    main()
