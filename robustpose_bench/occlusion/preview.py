"""Example sheet of every attack family on one SynthPose person (docs/attacks_examples.png):
keypoint and part attacks in crop mode (Pytel et al.'s protocol) and image mode."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from robustpose_bench.datasets.meta import SYNTHPOSE
from robustpose_bench.geometry import box_to_center_scale, get_affine_transform, warp_crop
from robustpose_bench.io import atomic_write_bytes
from robustpose_bench.occlusion.crop import attack_crop
from robustpose_bench.occlusion.image import attack_image
from robustpose_bench.occlusion.modes import list_modes
from robustpose_bench.occlusion.targets import DEFAULT_INPUT_SIZE, AttackSpec, get_target

HEADER = 26


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    out = np.full((tile.shape[0] + HEADER, tile.shape[1], 3), 255, np.uint8)
    out[HEADER:] = tile
    cv2.putText(out, text, (6, HEADER - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                cv2.LINE_AA)
    return out


def _fit(tile: np.ndarray, width: int, height: int) -> np.ndarray:
    f = min(width / tile.shape[1], height / tile.shape[0])
    t = cv2.resize(tile, (int(tile.shape[1] * f), int(tile.shape[0] * f)),
                   interpolation=cv2.INTER_NEAREST if f >= 1 else cv2.INTER_AREA)
    out = np.full((height, width, 3), 255, np.uint8)
    y, x = (height - t.shape[0]) // 2, (width - t.shape[1]) // 2
    out[y:y + t.shape[0], x:x + t.shape[1]] = t
    return out


def _pick_scene(seed: int, split: str, index: int, max_tries: int = 50):
    """First SynthPose image from `index` on with a person whose nose and both arms are
    labelled; returns (image, persons keypoints (P, 17, 3), boxes (P, 4) xywh of the labelled
    keypoints, index of the tallest such person)."""
    from robustpose_bench.datasets.synthpose import image_seed, render_image

    for idx in range(index, index + max_tries):
        r = render_image(np.random.default_rng(image_seed(seed, split, idx).spawn(2)[0]))
        kps = np.stack([p.keypoints for p in r.persons]) if r.persons else np.zeros((0, 17, 3))
        boxes = []
        for k in kps:
            vis = k[k[:, 2] > 0, :2]
            lo, hi = vis.min(0), vis.max(0)
            boxes.append([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])
        good = [p for p, k in enumerate(kps) if k[0, 2] > 0 and (k[5:11, 2] > 0).all()]
        if good:
            best = max(good, key=lambda p: boxes[p][3])
            return r.image, kps, np.asarray(boxes, float), best
    raise RuntimeError("no suitable SynthPose person found")


def attack_examples(seed: int = 0, split: str = "val", index: int = 19, keypoint: str = "nose",
                    part: str = "upper_body", scale: float = 1.5) -> np.ndarray:
    """(H, W, 3) uint8 RGB sheet. Rows: keypoint attacks on `keypoint` (r = 6) and part attacks
    on `part`, both on the tallest person's 256x192 model-input crop (crop mode), then image
    mode (every person attacked; shown zoomed on the people). Columns: clean, blackout,
    meanout, blur. SynthPose image `index` of `split` (seed `seed`) or the next suitable one."""
    image, kps, boxes, p = _pick_scene(seed, split, index)
    w, h = DEFAULT_INPUT_SIZE
    c, s = box_to_center_scale(boxes[p], w / h)
    m = get_affine_transform(c, s, 0.0, (w, h))
    crop = warp_crop(image, m, (w, h))
    tw, th = int(w * scale), int(h * scale)
    rows = []
    for target in (keypoint, part):
        tgt = get_target(target, SYNTHPOSE)
        tiles = [_label(_fit(crop, tw, th), f"crop: clean ({target})")]
        for mode in list_modes():
            out, _ = attack_crop(crop, kps[p], m, AttackSpec(mode, tgt))
            what = f"{target} r=6" if tgt.is_keypoint else target
            tiles.append(_label(_fit(out, tw, th), f"{mode} {what}"))
        rows.append(np.hstack(tiles))
    lo = np.maximum(0, (boxes[:, :2] - 20).min(0)).astype(int)
    hi = np.minimum(image.shape[1::-1], (boxes[:, :2] + boxes[:, 2:] + 20).max(0)).astype(int)
    zoom = (slice(lo[1], hi[1]), slice(lo[0], hi[0]))
    tiles = [_label(_fit(image[zoom], tw, th), "image mode: clean")]
    for mode, target in zip(list_modes(), ("head", "left_arm", "right_side"), strict=True):
        out, _ = attack_image(image, kps, AttackSpec(mode, get_target(target, SYNTHPOSE)),
                              boxes=boxes)
        tiles.append(_label(_fit(out[zoom], tw, th), f"{mode} {target}, all persons"))
    rows.append(np.hstack(tiles))
    return np.vstack(rows)


def save_attack_examples(path: str | Path, **kwargs) -> Path:
    """Write `attack_examples(**kwargs)` as a PNG (atomic)."""
    ok, png = cv2.imencode(".png", cv2.cvtColor(attack_examples(**kwargs), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError(f"PNG encoding failed for {path}")
    return atomic_write_bytes(path, png.tobytes())
