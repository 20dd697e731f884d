"""Synthetic SynthPose-like scenes for the occlusion tests: textured background, drawn people
with COCO-layout keypoints (x, y, v) in image pixels (fixtures: `scene_factory`, `scene`)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

# A standing person in a 100 x 200 px frame (COCO order), offsets from the top-left corner.
BASE_POSE = np.array([
    [50, 20], [45, 15], [55, 15], [40, 18], [60, 18],          # nose, eyes, ears
    [30, 45], [70, 45], [22, 80], [78, 80], [18, 112], [82, 112],  # shoulders, elbows, wrists
    [38, 110], [62, 110], [36, 150], [64, 150], [35, 190], [65, 190],  # hips, knees, ankles
], dtype=np.float64)
LIMBS = ((5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16),
         (5, 6), (11, 12), (5, 11), (6, 12), (0, 5), (0, 6))


def textured_background(h: int, w: int, seed: int) -> np.ndarray:
    """High-frequency noise in 20..235 (never 0, so blackout is always visible)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(20, 236, size=(h, w, 3), dtype=np.uint8)
    stripes = (np.arange(w)[None, :, None] * 7 + np.arange(h)[:, None, None] * 3) % 50
    return np.clip(noise.astype(np.int16) // 2 + stripes.astype(np.int16) + 60, 20, 235
                   ).astype(np.uint8)


def draw_person(image: np.ndarray, kps: np.ndarray, colour: tuple[int, int, int]) -> None:
    for a, b in LIMBS:
        if kps[a, 2] > 0 and kps[b, 2] > 0:
            cv2.line(image, tuple(int(v) for v in kps[a, :2]), tuple(int(v) for v in kps[b, :2]),
                     colour, 7, cv2.LINE_AA)
    if kps[0, 2] > 0:
        cv2.circle(image, (int(kps[0, 0]), int(kps[0, 1])), 12, colour, -1, cv2.LINE_AA)


def person_keypoints(x0: float, y0: float, scale: float = 1.0) -> np.ndarray:
    kps = np.zeros((17, 3))
    kps[:, :2] = BASE_POSE * scale + np.array([x0, y0])
    kps[:, 2] = 2
    return kps


def box_of(kps: np.ndarray, pad: float = 8.0) -> np.ndarray:
    vis = kps[kps[:, 2] > 0, :2]
    lo, hi = vis.min(axis=0) - pad, vis.max(axis=0) + pad
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])


def make_scene(seed: int = 0, h: int = 320, w: int = 400,
               origins: tuple = ((60.0, 60.0, 1.0), (230.0, 50.0, 1.2))
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image (h, w, 3) uint8, keypoints (P, 17, 3), boxes (P, 4) xywh)."""
    img = textured_background(h, w, seed)
    kps = np.stack([person_keypoints(x, y, s) for x, y, s in origins])
    for p, k in enumerate(kps):
        draw_person(img, k, (200 - 60 * p, 80 + 50 * p, 120))
    boxes = np.stack([box_of(k) for k in kps])
    return img, kps, boxes


@pytest.fixture
def scene_factory():
    """The `make_scene` function (seed, h, w, origins) -> (image, keypoints, boxes)."""
    return make_scene


@pytest.fixture
def scene():
    return make_scene()
