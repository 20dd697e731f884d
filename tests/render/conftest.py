"""A tiny COCO-format data set on disk (real JPEG files) for the rendering tests."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustpose_bench.datasets.meta import COCO


def make_tiny_coco(root: Path, n: int = 4, size: tuple[int, int] = (48, 64)) -> tuple[Path, Path]:
    """n JPEG images (h, w = size) with one person each; returns (ann_file, image_dir)."""
    rng = np.random.default_rng(0)
    images_dir = root / "images"
    (images_dir / "sub").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(n):
        h, w = size
        pix = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        name = f"sub/img_{i:03d}.jpg" if i % 2 else f"img_{i:03d}.jpg"
        Image.fromarray(pix).save(images_dir / name, quality=90)
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        kp = []
        for j in range(17):
            kp += [10.0 + j, 8.0 + 2 * j, 2]
        anns.append({"id": 100 + i, "image_id": i + 1, "category_id": 1, "keypoints": kp,
                     "bbox": [8.0, 6.0, 30.0, 38.0], "area": 900.0, "iscrowd": 0,
                     "num_keypoints": 17})
    cat = {"id": 1, "name": "person", "keypoints": list(COCO.keypoint_names),
           "skeleton": [[a + 1, b + 1] for a, b in COCO.skeleton]}
    ann = root / "person_keypoints_tiny.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns, "categories": [cat]}))
    return ann, images_dir


@pytest.fixture
def tiny_coco(tmp_path):
    return make_tiny_coco(tmp_path)


@pytest.fixture(name="make_tiny_coco")
def make_tiny_coco_fixture():
    """The factory itself, for tests that need other sizes or counts."""
    return make_tiny_coco
