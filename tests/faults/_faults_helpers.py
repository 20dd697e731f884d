"""Helpers of the fault tests: a small COCO-format set on disk (real JPEG files), the CLI run
in a subprocess (exit code, stdout, stderr as a user sees them). A uniquely named module (not
`conftest`, which other test folders also have) so test modules can import it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from robustpose_bench.datasets.meta import COCO

ROBUSTPOSE = [sys.executable, "-m", "robustpose_bench.cli.main"]


def run_cli(*args, **kw) -> subprocess.CompletedProcess:
    """`robustpose ARGS` in a fresh process."""
    return subprocess.run([*ROBUSTPOSE, *map(str, args)], capture_output=True, text=True, **kw)


def make_set(root: Path, n: int = 4, size: tuple[int, int] = (48, 64)) -> tuple[Path, Path]:
    """n textured JPEG images of (h, w) = size, one labelled person each (`sub/` holds the
    odd ones); returns (annotation file, image folder)."""
    rng = np.random.default_rng(1)
    images_dir = root / "images"
    (images_dir / "sub").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n):
        base = (np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], axis=2)).astype(int)
        pix = np.clip(base + rng.integers(-30, 30, (h, w, 3)), 0, 255).astype(np.uint8)
        name = f"sub/img_{i:03d}.jpg" if i % 2 else f"img_{i:03d}.jpg"
        Image.fromarray(pix).save(images_dir / name, quality=90)
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        kp = []
        for j in range(17):
            kp += [w * (0.3 + 0.02 * j), h * (0.2 + 0.04 * j), 2]
        anns.append({"id": 100 + i, "image_id": i + 1, "category_id": 1, "keypoints": kp,
                     "bbox": [w * 0.2, h * 0.1, w * 0.6, h * 0.8], "area": w * h * 0.48,
                     "iscrowd": 0, "num_keypoints": 17})
    cat = {"id": 1, "name": "person", "keypoints": list(COCO.keypoint_names),
           "skeleton": [[a + 1, b + 1] for a, b in COCO.skeleton]}
    ann = root / "person_keypoints_faults.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns, "categories": [cat]}))
    return ann, images_dir
