"""SynthPose preview: draws images with their keypoints, skeletons and part masks, for the docs
(docs/synthpose_example.png) and for eyeballing a generated split."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from robustpose_bench.datasets.meta import COCO_SKELETON
from robustpose_bench.datasets.synthpose.render import RenderedImage, render_image
from robustpose_bench.datasets.synthpose.writer import image_seed
from robustpose_bench.io import atomic_write_bytes

# RGB colours of the part labels 0..10 (background black).
PART_COLOURS = np.array([
    [0, 0, 0], [255, 220, 0], [230, 60, 60], [60, 200, 60], [20, 120, 20], [70, 130, 240],
    [20, 50, 160], [240, 150, 40], [160, 90, 10], [200, 80, 220], [110, 30, 130],
], dtype=np.uint8)


def draw_keypoints(image: np.ndarray, keypoints: list[np.ndarray], scale: float = 1.0) -> np.ndarray:
    """Copy of image (H, W, 3) uint8 RGB resized by `scale`, with each person's (17, 3) COCO
    keypoints (image px) drawn: skeleton lines, green dots for v=2, hollow red rings for v=1."""
    out = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) \
        if scale != 1.0 else image.copy()
    for kps in keypoints:
        pts = [(int(round(x * scale * 16)), int(round(y * scale * 16))) for x, y, _ in kps]
        for a, b in COCO_SKELETON:
            if kps[a, 2] > 0 and kps[b, 2] > 0:
                cv2.line(out, pts[a], pts[b], (255, 255, 255), 1, cv2.LINE_AA, 4)
        for (x, y), v in zip(pts, kps[:, 2], strict=True):
            if v == 2:
                cv2.circle(out, (x, y), int(2.5 * 16), (40, 255, 40), -1, cv2.LINE_AA, 4)
            elif v == 1:
                cv2.circle(out, (x, y), int(2.5 * 16), (255, 40, 40), 1, cv2.LINE_AA, 4)
    return out


def colour_parts(rendered: RenderedImage) -> np.ndarray:
    """(H, W, 3) uint8 RGB of all persons' visible part labels (PART_COLOURS)."""
    labels = np.zeros(rendered.image.shape[:2], np.uint8)
    for p in rendered.persons:
        labels = np.where(p.mask > 0, p.mask, labels)
    return PART_COLOURS[labels]


def preview(seed: int = 0, split: str = "val", indices: tuple[int, ...] = (0, 1, 2, 3),
            tile: tuple[int, int] = (400, 300)) -> np.ndarray:
    """(H, W, 3) uint8 RGB sheet: the first image plain, annotated and as part masks, then the
    other images annotated, in rows of three tiles of `tile` (width, height) px."""
    tiles = []
    for n, idx in enumerate(indices):
        r = render_image(np.random.default_rng(image_seed(seed, split, idx).spawn(2)[0]))
        kps = [p.keypoints for p in r.persons]
        if n == 0:
            tiles += [r.image, draw_keypoints(r.image, kps), colour_parts(r)]
        else:
            tiles.append(draw_keypoints(r.image, kps))
    tw, th = tile
    fitted = []
    for t in tiles:
        f = min(tw / t.shape[1], th / t.shape[0])
        t = cv2.resize(t, (int(t.shape[1] * f), int(t.shape[0] * f)), interpolation=cv2.INTER_AREA)
        canvas = np.full((th, tw, 3), 255, np.uint8)
        canvas[:t.shape[0], :t.shape[1]] = t
        fitted.append(canvas)
    while len(fitted) % 3:
        fitted.append(np.full((th, tw, 3), 255, np.uint8))
    rows = [np.hstack(fitted[i:i + 3]) for i in range(0, len(fitted), 3)]
    return np.vstack(rows)


def save_preview(path: str | Path, **kwargs) -> Path:
    """Write `preview(**kwargs)` as a PNG (atomic)."""
    ok, png = cv2.imencode(".png", cv2.cvtColor(preview(**kwargs), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError(f"PNG encoding failed for {path}")
    return atomic_write_bytes(path, png.tobytes())
