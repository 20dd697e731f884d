"""DARK decoding's zero-padded Gaussian blur: two banded-matrix products
(`models.codec.blur_zero_padded`) vs two 1-channel conv2d passes over the padded maps (the
previous implementation), on heatmap batches of the sizes evaluation decodes (SynthPose
128x96 -> 32x24 maps, COCO 256x192 -> 64x48), 17 keypoints. Interleaved rounds; prints the
median seconds per call and the speed-up, and the largest absolute difference of the outputs.

Usage: `python benchmarks/dark_blur.py [--rounds 7] [--threads 1]`.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from robustpose_bench.models.codec import _gaussian_kernel, blur_zero_padded


def blur_conv2d(hm: torch.Tensor, kernel: int = 11) -> torch.Tensor:
    """The conv2d formulation: zero-pad, then a row and a column 1-channel convolution."""
    n, k, h, w = hm.shape
    g = _gaussian_kernel(kernel, hm.device)
    pad = kernel // 2
    x = F.pad(hm.reshape(n * k, 1, h, w), (pad, pad, pad, pad))
    x = F.conv2d(x, g.view(1, 1, 1, -1))
    x = F.conv2d(x, g.view(1, 1, -1, 1))
    return x.reshape(n, k, h, w)


def timed(fn, x: torch.Tensor) -> float:
    t0 = time.perf_counter()
    fn(x)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    for n, h, w in ((64, 32, 24), (256, 32, 24), (64, 64, 48)):
        x = torch.rand(n, 17, h, w, generator=gen)
        diff = (blur_zero_padded(x) - blur_conv2d(x)).abs().max().item()
        times: dict[str, list[float]] = {"conv2d": [], "matmul": []}
        for _ in range(args.rounds):
            times["conv2d"].append(timed(blur_conv2d, x))
            times["matmul"].append(timed(blur_zero_padded, x))
        conv, mat = (statistics.median(times[k]) for k in ("conv2d", "matmul"))
        print(f"N={n:4d} K=17 {h}x{w}: conv2d {conv * 1e3:8.2f} ms  matmul {mat * 1e3:8.2f} ms  "
              f"speed-up {conv / mat:5.2f}x  max |diff| {diff:.2e}")


if __name__ == "__main__":
    main()
