"""Drawing one attack (keypoint circle or part rectangle, any mode) for one person on one
frame, plus the per-person status record and counters; Pytel et al., PROTOCOL.md section 7.

Units: radii and blur kernels of an AttackSpec are model-input (crop) pixels. A frame with
`pixel_scale` s model-input pixels per frame pixel (s = 1 on the crop itself; s =
crop_pixel_scale(matrix) for the full image, see `image.py`) gets radius r / s, blur sigma
sigma / s and blur half-width round(((k - 1) / 2) / s).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from robustpose_bench.datasets.meta import DatasetMeta
from robustpose_bench.datasets.types import Person
from robustpose_bench.occlusion.keypoint import DEFAULT_MIN_VISIBILITY, keypoint_circle
from robustpose_bench.occlusion.modes import Canvas, GaussianSpec, fill_region
from robustpose_bench.occlusion.part import part_rect
from robustpose_bench.occlusion.region import Region
from robustpose_bench.occlusion.targets import (
    DEFAULT_RADIUS,
    PART_BLUR_KERNEL,
    AttackSpec,
    Target,
    get_target,
)

# Per-person (crop mode: per-box) outcomes.
ATTACKED = "attacked"
NOT_VISIBLE = "not_visible"  # keypoint target not labelled (v < min_visibility)
TOO_FEW_KEYPOINTS = "too_few_keypoints"  # part target with < 2 labelled keypoints
OUTSIDE = "outside"  # region lies entirely outside the frame (no pixel changed)
UNMATCHED = "unmatched"  # crop mode: box matched no GT person
NO_SCALE = "no_scale"  # image mode: no usable box to convert model-input pixels
STATUSES = (ATTACKED, NOT_VISIBLE, TOO_FEW_KEYPOINTS, OUTSIDE, UNMATCHED, NO_SCALE)

#: Part blur of the reference: `cv2.GaussianBlur(img, (31, 31), 0)`, i.e. sigma 5.0.
PART_BLUR = GaussianSpec(PART_BLUR_KERNEL, 0.0)


@dataclass
class AttackCounts:
    """How many persons (image mode) or boxes (crop mode) ended in each status."""

    attacked: int = 0
    not_visible: int = 0
    too_few_keypoints: int = 0
    outside: int = 0
    unmatched: int = 0
    no_scale: int = 0

    def add(self, status: str, n: int = 1) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown attack status {status!r}; valid: {', '.join(STATUSES)}")
        setattr(self, status, getattr(self, status) + n)

    def merge(self, other: AttackCounts) -> AttackCounts:
        """Add `other` into self (returns self)."""
        for s in STATUSES:
            self.add(s, getattr(other, s))
        return self

    @property
    def skipped(self) -> int:
        return self.total - self.attacked

    @property
    def total(self) -> int:
        return sum(getattr(self, s) for s in STATUSES)

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "skipped": self.skipped, "total": self.total}


@dataclass(frozen=True)
class PersonAttack:
    """Outcome for one person (image mode) or one box (crop mode).

    index: person index (image mode) or box index (crop mode). person: the GT person index
    whose keypoints placed the attack (None when unmatched). region: the drawn shape in the
    frame's pixels (None when skipped before drawing). pixels: number of frame pixels covered.
    """

    index: int
    status: str
    person: int | None = None
    region: Region | None = None
    pixels: int = 0

    @property
    def attacked(self) -> bool:
        return self.status == ATTACKED

    def as_dict(self) -> dict:
        return {"index": self.index, "person": self.person, "status": self.status,
                "pixels": self.pixels,
                "region": self.region.as_dict() if self.region is not None else None}


def as_spec(target: str | Target | AttackSpec, mode: str | None, meta: DatasetMeta,
            radius: float | None = DEFAULT_RADIUS) -> AttackSpec:
    """Normalise (target name | Target, mode, radius) or a ready AttackSpec."""
    if isinstance(target, AttackSpec):
        return target
    if mode is None:
        raise ValueError("an attack mode is required (blackout, meanout, blur)")
    tgt = get_target(target, meta) if isinstance(target, str) else target
    return AttackSpec(mode, tgt, radius)


def region_for(keypoints: np.ndarray, spec: AttackSpec, pixel_scale: float = 1.0,
               min_visibility: int = DEFAULT_MIN_VISIBILITY) -> tuple[Region | None, str]:
    """The attack region of one person in a frame, or (None, reason).

    keypoints: (K, 3) (x, y, v) in the frame's pixels. pixel_scale: model-input pixels per
    frame pixel (the keypoint radius is spec.radius / pixel_scale frame pixels).
    """
    target = spec.target
    if target.is_keypoint:
        circle = keypoint_circle(keypoints, target.indices[0], spec.radius / pixel_scale,
                                 min_visibility)
        return circle, (ATTACKED if circle is not None else NOT_VISIBLE)
    rect = part_rect(keypoints, target.name, target.indices, min_visibility)
    return rect, (ATTACKED if rect is not None else TOO_FEW_KEYPOINTS)


def blur_spec_for(spec: AttackSpec, pixel_scale: float = 1.0) -> GaussianSpec:
    """Blur of the attack in a frame with `pixel_scale` model-input pixels per frame pixel."""
    base = GaussianSpec.for_radius(spec.radius) if spec.target.is_keypoint else PART_BLUR
    return base.scaled(pixel_scale)


def draw_attack(canvas: Canvas, keypoints: np.ndarray, spec: AttackSpec, *,
                pixel_scale: float = 1.0, min_visibility: int = DEFAULT_MIN_VISIBILITY,
                index: int = 0, person: int | None = None) -> PersonAttack:
    """Draw `spec` for one person on `canvas` (in place) and report what happened.

    keypoints: (K, 3) (x, y, v) of the person in the canvas frame's pixels. pixel_scale:
    model-input pixels per canvas pixel (1 when the canvas is the model-input crop).
    """
    if not np.isfinite(pixel_scale) or pixel_scale <= 0:
        raise ValueError(f"pixel_scale must be > 0, got {pixel_scale}")
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 2 or kp.shape[1] != 3:
        raise ValueError(f"expected keypoints of shape (K, 3), got {kp.shape}")
    region, status = region_for(kp, spec, pixel_scale, min_visibility)
    if region is None:
        return PersonAttack(index, status, person)
    pixels = fill_region(canvas, region, spec.mode, blur_spec_for(spec, pixel_scale))
    return PersonAttack(index, ATTACKED if pixels else OUTSIDE, person, region, pixels)


def persons_arrays(persons: Sequence[Person], num_keypoints: int
                   ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(P', K, 3) keypoints, (P', 4) boxes and the original indices of the non-crowd persons."""
    keep = [i for i, p in enumerate(persons) if not p.iscrowd]
    kps = np.zeros((len(keep), num_keypoints, 3))
    boxes = np.zeros((len(keep), 4))
    for n, i in enumerate(keep):
        kp = np.asarray(persons[i].keypoints, dtype=np.float64)
        if kp.shape != (num_keypoints, 3):
            raise ValueError(f"person {i} (id {persons[i].id}): keypoints of shape {kp.shape}, "
                             f"expected ({num_keypoints}, 3)")
        kps[n] = kp
        boxes[n] = np.asarray(persons[i].bbox, dtype=np.float64)
    return kps, boxes, keep
