"""SynthPose writer: renders a split in parallel chunks and writes the images, part masks and the
COCO / MPII / MPII-gt.mat / detection-result files (layout of docs/synthpose.md).

Image i of a split is rendered from numpy's SeedSequence([seed, crc32(split), i]) alone, so the
bytes written do not depend on the number of jobs or on the chunking.
"""
from __future__ import annotations

import io
import logging
import re
import zlib
from pathlib import Path

import cv2
import numpy as np

from robustpose_bench.datasets.meta import COCO_KEYPOINTS, COCO_SKELETON
from robustpose_bench.datasets.synthpose.render import render_image
from robustpose_bench.io import atomic_write_bytes, atomic_write_json

log = logging.getLogger(__name__)

SPLITS = ("val", "train")
DEFAULT_IMAGES = {"val": 100, "train": 2000}
DEFAULT_SEED = {"val": 0, "train": 1}
JPEG_QUALITY = 90
PNG_COMPRESSION = 6
CHUNK = 25
# Annotation ids: image_id * ANN_ID_STRIDE + k (k = 0..3, the person's index in the image), so
# ids are fixed by the image alone, whatever the chunking.
ANN_ID_STRIDE = 10
# MPII joint short names of the evaluation .mat (`dataset_joints`), in MPII order.
MPII_MAT_NAMES = ("rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thor", "neck", "head",
                  "rwri", "relb", "rsho", "lsho", "lelb", "lwri")
MAT_HEADER = b"MATLAB 5.0 MAT-file, written by robustpose-bench SynthPose"


def _r(x: float, nd: int = 2) -> float:
    return float(round(float(x), nd))


def image_file_name(split: str, index: int) -> str:
    return f"{split}_{index:06d}.jpg"


def _file_pattern(split: str) -> re.Pattern:
    return re.compile(rf"^{re.escape(split)}_\d{{6}}\.jpg$")


def image_seed(seed: int, split: str, index: int) -> np.random.SeedSequence:
    """The SeedSequence of image `index` of `split` (scene, then detections spawned from it)."""
    return np.random.SeedSequence([int(seed), zlib.crc32(split.encode()), int(index)])


def _fake_detections(rng: np.random.Generator, image_id: int, width: int, height: int,
                     anns: list[dict]) -> list[dict]:
    """Noisy boxes of the annotated persons plus a few false positives, COCO results format."""
    dets = []
    for a in anns:
        x, y, w, h = a["bbox"]
        nk = max(1, a["num_keypoints"])
        quality = float((np.asarray(a["keypoints"][2::3]) == 2).sum()) / nk
        if rng.random() < 0.03 + 0.15 * (1 - quality) ** 2:
            continue  # missed
        bx = x + rng.normal(0, 0.06) * w
        by = y + rng.normal(0, 0.06) * h
        bw = w * float(np.exp(rng.normal(0, 0.08)))
        bh = h * float(np.exp(rng.normal(0, 0.08)))
        score = float(np.clip(0.35 + 0.6 * quality + rng.normal(0, 0.08), 0.02, 1.0))
        dets.append((bx, by, bw, bh, score))
    for _ in range(int(rng.choice([0, 1, 2], p=[0.5, 0.35, 0.15]))):
        bw = rng.uniform(0.08, 0.5) * width
        bh = rng.uniform(0.15, 0.8) * height
        bx, by = rng.uniform(0, width - bw), rng.uniform(0, height - bh)
        dets.append((bx, by, bw, bh, float(rng.uniform(0.02, 0.45))))
    out = []
    for bx, by, bw, bh, score in dets:
        x1, y1 = max(0.0, bx), max(0.0, by)
        x2, y2 = min(float(width), bx + bw), min(float(height), by + bh)
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        out.append({"image_id": image_id, "category_id": 1,
                    "bbox": [_r(x1), _r(y1), _r(x2 - x1), _r(y2 - y1)],
                    "score": max(0.0001, _r(score, 4))})
    out.sort(key=lambda d: -d["score"])
    return out


def _render_one(root: Path, split: str, seed: int, index: int) -> dict:
    """Render image `index`, write its JPEG and part masks, return its annotation records."""
    from pycocotools import mask as mask_utils

    scene_ss, det_ss = image_seed(seed, split, index).spawn(2)
    rendered = render_image(np.random.default_rng(scene_ss))
    image_id = index + 1
    file_name = image_file_name(split, index)
    h, w = rendered.height, rendered.width
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(rendered.image, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY, cv2.IMWRITE_JPEG_OPTIMIZE, 0,
                            cv2.IMWRITE_JPEG_PROGRESSIVE, 0])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for {file_name}")
    atomic_write_bytes(root / "images" / split / file_name, jpg.tobytes())
    anns, mpii = [], []
    for k, p in enumerate(rendered.persons):
        ann_id = image_id * ANN_ID_STRIDE + k
        visible = (p.mask > 0).astype(np.uint8)
        rle = mask_utils.encode(np.asfortranarray(visible))
        bbox = [float(v) for v in mask_utils.toBbox(rle)]
        area = float(mask_utils.area(rle))
        rle["counts"] = rle["counts"].decode("ascii")
        kps = p.keypoints
        flat: list[float] = []
        for x, y, v in kps:
            flat += [_r(x), _r(y), int(v)]
        anns.append({
            "id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
            "bbox": [_r(v) for v in bbox], "area": _r(area), "num_keypoints": int((kps[:, 2] > 0).sum()),
            "keypoints": flat, "segmentation": {"size": [int(v) for v in rle["size"]],
                                                "counts": rle["counts"]},
        })
        ok, png = cv2.imencode(".png", p.mask, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
        if not ok:
            raise RuntimeError(f"PNG encoding failed for mask {ann_id}")
        atomic_write_bytes(root / "masks" / split / f"{ann_id}.png", png.tobytes())
        x1, y1, x2, y2 = p.full_box
        scale = max(x2 - x1, y2 - y1) / 200.0
        # centre such that the reference MPII crop (centre.y + 15 * scale) is the box centre
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 - 15.0 * scale
        mj = p.mpii
        mpii.append({
            "joints_vis": [int(v) for v in mj[:, 2]],
            "joints": [[_r(x + 1), _r(y + 1)] if v > 0 else [-1.0, -1.0] for x, y, v in mj],
            "image": file_name,
            "scale": _r(scale, 4),
            "center": [_r(cx + 1), _r(cy + 1)],
            "headbox": [_r(v + 1) for v in p.head_box],
        })
    dets = _fake_detections(np.random.default_rng(det_ss), image_id, w, h, anns)
    return {"image": {"id": image_id, "file_name": file_name, "width": w, "height": h},
            "annotations": anns, "mpii": mpii, "detections": dets}


def _render_chunk(root: Path, split: str, seed: int, indices: list[int]) -> list[dict]:
    return [_render_one(root, split, seed, i) for i in indices]


def _mat_bytes(mpii: list[dict]) -> bytes:
    """The MPII evaluation .mat (pos_gt_src (16, 2, N), jnt_missing (16, N), headboxes_src
    (2, 2, N), dataset_joints (1, 16) cell), 1-based like the reference files; the header's
    time stamp is replaced by a fixed text so the bytes are reproducible."""
    from scipy.io import savemat

    n = len(mpii)
    pos = np.zeros((16, 2, n))
    missing = np.zeros((16, n))
    heads = np.zeros((2, 2, n))
    for i, rec in enumerate(mpii):
        pos[:, :, i] = np.asarray(rec["joints"], np.float64)
        missing[:, i] = 1.0 - np.asarray(rec["joints_vis"], np.float64)
        hb = rec["headbox"]
        heads[0, :, i] = hb[:2]
        heads[1, :, i] = hb[2:]
    names = np.empty((1, 16), dtype=object)
    for k, nm in enumerate(MPII_MAT_NAMES):
        names[0, k] = nm
    buf = io.BytesIO()
    savemat(buf, {"dataset_joints": names, "jnt_missing": missing, "pos_gt_src": pos,
                  "headboxes_src": heads}, format="5", do_compression=False, oned_as="row")
    data = bytearray(buf.getvalue())
    data[:116] = MAT_HEADER.ljust(116, b" ")
    return bytes(data)


def _coco_categories() -> list[dict]:
    return [{"supercategory": "person", "id": 1, "name": "person",
             "keypoints": list(COCO_KEYPOINTS),
             "skeleton": [[a + 1, b + 1] for a, b in COCO_SKELETON]}]


def _remove_stale(folder: Path, keep: set[str], pattern: re.Pattern) -> int:
    n = 0
    if folder.is_dir():
        for p in folder.iterdir():
            if p.is_file() and pattern.match(p.name) and p.name not in keep:
                p.unlink()
                n += 1
    return n


def generate(out_dir: str | Path, split: str = "val", num_images: int | None = None,
             seed: int | None = None, jobs: int = 1, progress: bool = False) -> dict[str, Path]:
    """Synthesise the SynthPose `split` under `out_dir`; returns the paths written.

    num_images: default 100 (val) / 2000 (train). seed: default 0 (val) / 1 (train).
    jobs: parallel worker processes (joblib); the output bytes do not depend on it.
    Returns {"root", "ann_file" (COCO json), "image_root", "mpii_file", "mpii_gt_mat",
    "detections", "mask_root"}. Re-running with the same arguments rewrites identical bytes;
    stale `<split>_NNNNNN.jpg` images and mask PNGs of an earlier, larger run are removed.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown SynthPose split {split!r}; valid: {', '.join(SPLITS)}")
    n = DEFAULT_IMAGES[split] if num_images is None else int(num_images)
    s = DEFAULT_SEED[split] if seed is None else int(seed)
    if n < 1:
        raise ValueError(f"num_images must be at least 1, got {num_images}")
    if s < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if int(jobs) < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    root = Path(out_dir)
    chunks = [list(range(i, min(n, i + CHUNK))) for i in range(0, n, CHUNK)]
    log.info("SynthPose %s: %d images, seed %d, %d job(s) -> %s", split, n, s, jobs, root)
    if int(jobs) == 1:
        results = []
        it = chunks
        if progress:
            from tqdm import tqdm
            it = tqdm(chunks, desc=f"synthpose {split}", unit="chunk")
        for c in it:
            results.append(_render_chunk(root, split, s, c))
    else:
        from joblib import Parallel, delayed
        results = Parallel(n_jobs=int(jobs), verbose=5 if progress else 0)(
            delayed(_render_chunk)(root, split, s, c) for c in chunks)
    records = [r for chunk in results for r in chunk]

    images = [r["image"] for r in records]
    anns = [a for r in records for a in r["annotations"]]
    mpii = [m for r in records for m in r["mpii"]]
    dets = [d for r in records for d in r["detections"]]
    coco = {
        "info": {"description": f"SynthPose {split} (robustpose-bench procedural people)",
                 "version": "1.0", "seed": s, "num_images": n},
        "licenses": [],
        "images": images,
        "annotations": anns,
        "categories": _coco_categories(),
    }
    ann_dir = root / "annotations"
    paths = {
        "root": root,
        "ann_file": ann_dir / f"synthpose_{split}.json",
        "image_root": root / "images" / split,
        "mpii_file": ann_dir / f"synthpose_{split}_mpii.json",
        "mpii_gt_mat": ann_dir / f"synthpose_{split}_mpii_gt.mat",
        "detections": root / "person_detection_results" / f"synthpose_{split}_detections.json",
        "mask_root": root / "masks" / split,
    }
    atomic_write_json(paths["ann_file"], coco, indent=None)
    atomic_write_json(paths["mpii_file"], mpii, indent=None)
    atomic_write_bytes(paths["mpii_gt_mat"], _mat_bytes(mpii))
    atomic_write_json(paths["detections"], dets, indent=None)
    stale = _remove_stale(paths["image_root"], {im["file_name"] for im in images},
                          _file_pattern(split))
    stale += _remove_stale(paths["mask_root"], {f"{a['id']}.png" for a in anns},
                           re.compile(r"^\d+\.png$"))
    if stale:
        log.info("removed %d stale files of an earlier run", stale)
    log.info("SynthPose %s: %d images, %d persons", split, len(images), len(anns))
    return paths


__all__ = ["DEFAULT_IMAGES", "DEFAULT_SEED", "SPLITS", "generate",
           "image_file_name", "image_seed"]
