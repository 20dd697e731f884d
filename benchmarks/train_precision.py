"""Per-step training time of float32 vs bfloat16 autocast (and channels-last) on this machine.

One training step = forward + MSE loss + backward + Adam step of a zoo model on a random
batch (default: the shipped SynthPose model hrnet_w16_small, 128x96, batch 32), through the
trainer's own `train/precision.py`. The variants are interleaved round by round, so a busy
shared CPU slows them alike; the script prints the median seconds per step and the ratio to
float32, and whether the CPU advertises native bf16 (AVX512-BF16 / AMX-BF16).

Usage: `python benchmarks/train_precision.py [--model hrnet_w16_small] [--batch 32]
[--rounds 5] [--steps 3] [--threads 1] [--json out.json]`.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from robustpose_bench.models import create_model, get_model_info
from robustpose_bench.train.losses import heatmap_mse
from robustpose_bench.train.precision import Precision, cpu_has_native_bf16

VARIANTS = {
    "float32": Precision("cpu", None, False),
    "float32 + channels_last": Precision("cpu", None, True),
    "bfloat16": Precision("cpu", torch.bfloat16, False),
    "bfloat16 + channels_last": Precision("cpu", torch.bfloat16, True),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="hrnet_w16_small")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per variant and round")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    w, h = get_model_info(args.model).input_size
    model = create_model(args.model)
    x = torch.randn(args.batch, 3, h, w)
    target = torch.rand(args.batch, model.num_keypoints, h // 4, w // 4)
    weight = torch.ones(args.batch, model.num_keypoints)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step(p: Precision) -> float:
        model.to(memory_format=torch.channels_last if p.channels_last
                 else torch.contiguous_format)
        with p.autocast():
            out = model(p.images(x))
        loss = heatmap_mse(out, target, weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    times: dict[str, list[float]] = {k: [] for k in VARIANTS}
    for _ in range(args.rounds):
        for name, p in VARIANTS.items():
            step(p)  # warm-up (kernel selection after a format change)
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step(p)
            times[name].append((time.perf_counter() - t0) / args.steps)
    base = statistics.median(times["float32"])
    print(f"{args.model} input {w}x{h} (w x h), batch {args.batch}, {args.threads} thread(s), "
          f"{platform.processor() or platform.machine()}; native bf16: {cpu_has_native_bf16()}")
    rows = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        rows[name] = {"seconds_per_step": med, "ratio_to_float32": med / base}
        print(f"  {name:26s} {med:7.3f} s/step   x{base / med:5.2f} speed vs float32")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"model": args.model, "batch": args.batch, "threads": args.threads,
                       "native_bf16": cpu_has_native_bf16(), "variants": rows}, f, indent=1)


if __name__ == "__main__":
    main()
