"""Image mode: every annotated person's target attacked in the full image at once, so bottom-up
models and external tools can be evaluated on rendered files (extension of Pytel et al.).

Sizes stay defined in model-input pixels, as in crop mode. Person p's crop is the top-down
crop of its GT box (`geometry.box_to_center_scale`, 1.25 enlargement, padded to the input
aspect ratio); its scale s_p = crop_pixel_scale(matrix) model-input pixels per image pixel,
i.e. s_p = input_height / (scale_h * 200) = input_width / (scale_w * 200). In the image:

    r_img = r_crop / s_p = r_crop * (scale_h * 200) / input_height,
    blur sigma_img = sigma_crop / s_p, blur half-width round(((k - 1) / 2) / s_p).

Part rectangles come from the image-frame keypoints with the same rules as in the crop.
With GT boxes, crop mode and image mode therefore cover the same scene pixels (up to the
pixel grid); meanout differs by design: the colour is the mean of the frame drawn on (the
crop in crop mode, the whole image here). Blur and mean read the unattacked image, so the
persons' order does not matter except where their regions overlap (the later one wins).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robustpose_bench.datasets.meta import DatasetMeta
from robustpose_bench.datasets.types import Person
from robustpose_bench.geometry import box_to_center_scale, crop_pixel_scale, get_affine_transform
from robustpose_bench.occlusion.attack import (
    NO_SCALE,
    AttackCounts,
    PersonAttack,
    as_spec,
    draw_attack,
    persons_arrays,
)
from robustpose_bench.occlusion.keypoint import DEFAULT_MIN_VISIBILITY
from robustpose_bench.occlusion.modes import Canvas
from robustpose_bench.occlusion.targets import (
    DEFAULT_INPUT_SIZE,
    DEFAULT_RADIUS,
    AttackSpec,
    Target,
)


def person_pixel_scale(box_xywh: Sequence[float], input_size: tuple[int, int] = DEFAULT_INPUT_SIZE
                       ) -> float | None:
    """Model-input pixels per image pixel of the top-down crop of box (4,) xywh (image
    pixels) at input_size (width, height); None for an empty or non-finite box."""
    box = np.asarray(box_xywh, dtype=np.float64)
    if box.shape != (4,) or not np.all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
        return None
    w, h = float(input_size[0]), float(input_size[1])
    center, scale = box_to_center_scale(box, w / h)
    return crop_pixel_scale(get_affine_transform(center, scale, 0.0, (w, h)))


def attack_image(image: np.ndarray, persons: np.ndarray | Sequence[Person],
                 target: str | Target | AttackSpec, mode: str | None = None,
                 meta: DatasetMeta | None = None, radius: float | None = DEFAULT_RADIUS, *,
                 boxes: np.ndarray | None = None, pixel_scales: Sequence[float] | None = None,
                 input_size: tuple[int, int] | None = DEFAULT_INPUT_SIZE,
                 min_visibility: int = DEFAULT_MIN_VISIBILITY,
                 person_ids: Sequence[int] | None = None) -> tuple[np.ndarray, dict]:
    """Attack every person's target in the full image.

    image: (H, W[, C]) any dtype (not modified). persons: (P, K, 3) (x, y, v) image pixels, or
    a Sample's list of Person (crowd persons are left out; boxes from Person.bbox; reported
    indices are positions in that list). target/mode/radius: target name or Target + mode
    (blackout | meanout | blur) + radius in model-input pixels (None = 6), or an AttackSpec as
    `target` (mode/radius then ignored). Model-input sizes are converted per person (module
    docstring) with `pixel_scales` (P,) model-input px per image px, else from `boxes` (P, 4)
    xywh at `input_size` (w, h); input_size=None takes radius and blur kernels as image pixels.
    A person whose box is empty is skipped (`no_scale`); unlabelled targets are never attacked
    (`not_visible`). person_ids: indices to report (default 0..P-1).

    Returns (attacked copy, info) with info = {"attack": id, "counts": {attacked,
    not_visible, too_few_keypoints, outside, unmatched, no_scale, skipped, total}, "persons":
    [{"index", "person", "status", "pixels", "region"}, ...]} (JSON-ready).
    """
    if not isinstance(target, AttackSpec) and isinstance(target, str) and meta is None:
        raise ValueError("meta is required to resolve a target name")
    spec = as_spec(target, mode, meta, radius)  # type: ignore[arg-type]
    if isinstance(persons, np.ndarray):
        kps = np.asarray(persons, dtype=np.float64)
        if kps.size == 0:
            kps = kps.reshape(0, 0, 3)
    else:
        if meta is None:
            raise ValueError("meta is required with Person objects")
        kps, pboxes, keep = persons_arrays(persons, meta.num_keypoints)
        if boxes is None and pixel_scales is None:
            boxes = pboxes
        if person_ids is None:
            person_ids = keep
    if kps.ndim != 3 or kps.shape[2] != 3:
        raise ValueError(f"expected persons keypoints of shape (P, K, 3), got {kps.shape}")
    n = len(kps)
    ids = list(range(n)) if person_ids is None else [int(i) for i in person_ids]
    if len(ids) != n:
        raise ValueError(f"{len(ids)} person ids for {n} persons")
    scales: list[float | None]
    if input_size is None:
        scales = [1.0] * n
    elif pixel_scales is not None:
        raw = [float(s) for s in pixel_scales]
        if len(raw) != n:
            raise ValueError(f"{len(raw)} pixel scales for {n} persons")
        scales = [s if np.isfinite(s) and s > 0 else None for s in raw]
    elif boxes is not None:
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if len(b) != n:
            raise ValueError(f"{len(b)} boxes for {n} persons")
        scales = [person_pixel_scale(bx, input_size) for bx in b]
    else:
        raise ValueError("image mode needs boxes or pixel_scales to convert model-input pixels "
                         "to image pixels (or input_size=None for sizes in image pixels)")
    canvas = Canvas(np.array(image, copy=True), source=image)
    counts = AttackCounts()
    results: list[PersonAttack] = []
    for p in range(n):
        if scales[p] is None:
            result = PersonAttack(ids[p], NO_SCALE, ids[p])
        else:
            result = draw_attack(canvas, kps[p], spec, pixel_scale=scales[p],
                                 min_visibility=min_visibility, index=ids[p], person=ids[p])
        results.append(result)
        counts.add(result.status)
    info = {"attack": spec.id, "counts": counts.as_dict(),
            "persons": [r.as_dict() for r in results]}
    return canvas.image, info
