"""Left/right swaps of a trained model on SynthPose val: how often the prediction of a left
joint lies on the right one and vice versa, for persons facing the camera vs. without a
visible face (back views).

For every GT person (GT boxes, the checkpoint's own inference settings, flip test) and every
left/right keypoint pair with both joints labelled, the pair counts as swapped when the
crossed assignment is closer: |p_l - g_r| + |p_r - g_l| < |p_l - g_l| + |p_r - g_r|. A person
has a visible face when its nose is visible (`v = 2`; back views have `v = 1` eyes and nose,
docs/synthpose.md). Prints the swap rate per group and per pair, and the COCO OKS AP of the
predictions as they are and with every crossed pair uncrossed (an oracle that fixes all
left/right swaps; person score = mean keypoint confidence above 0.2, no NMS with GT boxes),
which bounds what the swaps cost.

Usage: `python benchmarks/leftright_swaps.py CHECKPOINT.safetensors [--data DIR]` (DIR holds
a SynthPose val split, generated there when missing; default runs/data/synthpose).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from robustpose_bench.adapters.loading import load_adapter
from robustpose_bench.datasets.loading import load_dataset
from robustpose_bench.datasets.synthpose import generate
from robustpose_bench.metrics.coco import evaluate_keypoints
from robustpose_bench.train.data import read_rgb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--data", default="runs/data/synthpose")
    args = ap.parse_args()
    root = Path(args.data)
    ann = root / "annotations" / "synthpose_val.json"
    if not ann.is_file():
        generate(root, split="val")
    ds = load_dataset(ann, root / "images" / "val")
    meta = ds.meta
    adapter = load_adapter(args.checkpoint, meta=meta, device="cpu")
    nose = meta.keypoint_names.index("nose")
    pairs = [(a, b) for a, b in meta.flip_pairs]
    counts = {g: np.zeros((len(pairs), 2), dtype=np.int64) for g in ("face", "no_face")}
    results: dict[str, list[dict]] = {"as predicted": [], "swaps fixed (oracle)": []}
    for sample in ds.samples:
        persons = [p for p in sample.persons if not p.iscrowd and p.num_keypoints > 0]
        if not persons:
            continue
        pred = adapter.predict(read_rgb(ds.image_path(sample)),
                               np.array([p.bbox for p in persons]))
        for p, kp in zip(persons, pred, strict=True):
            gt = p.keypoints
            fixed = kp.copy()
            group = "face" if gt[nose, 2] == 2 else "no_face"
            for i, (a, b) in enumerate(pairs):
                if gt[a, 2] == 0 or gt[b, 2] == 0:
                    continue
                straight = (np.linalg.norm(kp[a, :2] - gt[a, :2])
                            + np.linalg.norm(kp[b, :2] - gt[b, :2]))
                crossed = (np.linalg.norm(kp[a, :2] - gt[b, :2])
                           + np.linalg.norm(kp[b, :2] - gt[a, :2]))
                counts[group][i] += (int(crossed < straight), 1)
                if crossed < straight:
                    fixed[[a, b]] = kp[[b, a]]
            for key, k in (("as predicted", kp), ("swaps fixed (oracle)", fixed)):
                conf = k[:, 2][k[:, 2] > 0.2]
                results[key].append({"image_id": sample.image_id, "category_id": 1,
                                     "keypoints": k.ravel().tolist(),
                                     "score": float(conf.mean()) if len(conf) else 0.0})
    print(f"{args.checkpoint}: left/right swaps on {ann}")
    for group, c in counts.items():
        total = c.sum(axis=0)
        print(f"  {group:8s} {100.0 * total[0] / max(total[1], 1):5.1f} % of {total[1]} pairs")
        for i, (a, _) in enumerate(pairs):
            name = meta.keypoint_names[a].removeprefix("left_")
            print(f"    {name:9s} {100.0 * c[i, 0] / max(c[i, 1], 1):5.1f} % of {c[i, 1]}")
    for key, res in results.items():
        ap = evaluate_keypoints(str(ann), res, sigmas=meta.sigmas)["AP"]
        print(f"  AP {key}: {100.0 * ap:.2f}")


if __name__ == "__main__":
    main()
