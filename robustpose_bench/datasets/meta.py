"""Keypoint definitions of the benchmark data sets: names, flip pairs, OKS sigmas, skeletons
and the body-part groups of the occlusion attacks (Pytel et al., PROTOCOL.md section 7)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class DatasetMeta:
    """What a model and a metric need to know about a keypoint layout.

    sigmas: (K,) OKS per-keypoint sigmas (None when the layout has none: PCK-only data sets).
    skeleton: 0-based index pairs for drawing. part_groups: part name -> keypoint indices.
    """

    name: str
    keypoint_names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    sigmas: np.ndarray | None
    skeleton: tuple[tuple[int, int], ...] = ()
    part_groups: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = len(self.keypoint_names)
        if self.sigmas is not None and len(self.sigmas) != k:
            raise ValueError(f"{self.name}: {len(self.sigmas)} OKS sigmas for {k} keypoints")
        for a, b in self.flip_pairs:
            if not (0 <= a < k and 0 <= b < k):
                raise ValueError(f"{self.name}: flip pair ({a}, {b}) outside 0..{k - 1}")

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    def flip_index(self) -> np.ndarray:
        """(K,) permutation that swaps left and right keypoints."""
        idx = np.arange(self.num_keypoints)
        for a, b in self.flip_pairs:
            idx[a], idx[b] = b, a
        return idx

    def keypoint_index(self, name: str) -> int:
        try:
            return self.keypoint_names.index(name)
        except ValueError:
            raise ValueError(
                f"unknown keypoint {name!r} for {self.name}; valid: {', '.join(self.keypoint_names)}"
            ) from None

    def with_name(self, name: str) -> DatasetMeta:
        return DatasetMeta(name, self.keypoint_names, self.flip_pairs, self.sigmas, self.skeleton,
                           self.part_groups)


COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
# Official COCO OKS sigmas (pycocotools COCOeval.computeOks, divided by 10 there).
COCO_SIGMAS = np.array(
    [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87,
     0.89, 0.89]) / 10.0
# COCO skeleton from the annotation file's `categories`, converted to 0-based.
COCO_SKELETON = tuple((a - 1, b - 1) for a, b in (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9),
    (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7)))
# Part groups of Pytel et al. (PROTOCOL.md section 7).
COCO_PARTS: dict[str, tuple[int, ...]] = {
    "head": (0, 1, 2, 3, 4),
    "left_arm": (5, 7, 9),
    "right_arm": (6, 8, 10),
    "hip": (11, 12),
    "left_leg": (11, 13, 15),
    "right_leg": (12, 14, 16),
    "corpus": (5, 6, 11, 12),
    "upper_body": (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
    "lower_body": (11, 12, 13, 14, 15, 16),
    "left_side": (1, 3, 5, 7, 9, 11, 13, 15),
    "right_side": (2, 4, 6, 8, 10, 12, 14, 16),
}


def _pairs_by_name(names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """Flip pairs found by the left_/right_ (or l_/r_) naming convention."""
    pairs = []
    for i, n in enumerate(names):
        for lp, rp in (("left_", "right_"), ("l_", "r_"), ("left", "right")):
            if n.startswith(lp):
                other = rp + n[len(lp):]
                if other in names:
                    pairs.append((i, list(names).index(other)))
                break
    return tuple(pairs)


COCO = DatasetMeta("coco", COCO_KEYPOINTS, _pairs_by_name(COCO_KEYPOINTS), COCO_SIGMAS,
                   COCO_SKELETON, COCO_PARTS)
OCHUMAN = COCO.with_name("ochuman")
SYNTHPOSE = COCO.with_name("synthpose")

MPII_KEYPOINTS = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "pelvis", "thorax", "upper_neck", "head_top",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
)
MPII_SKELETON = ((0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9),
                 (7, 12), (12, 11), (11, 10), (7, 13), (13, 14), (14, 15))
MPII_PARTS: dict[str, tuple[int, ...]] = {
    "head": (8, 9),
    "left_arm": (13, 14, 15),
    "right_arm": (10, 11, 12),
    "hip": (2, 3),
    "left_leg": (3, 4, 5),
    "right_leg": (0, 1, 2),
    "corpus": (2, 3, 12, 13),
    "upper_body": (7, 8, 9, 10, 11, 12, 13, 14, 15),
    "lower_body": (0, 1, 2, 3, 4, 5, 6),
    "left_side": (3, 4, 5, 13, 14, 15),
    "right_side": (0, 1, 2, 10, 11, 12),
}
MPII = DatasetMeta("mpii", MPII_KEYPOINTS, _pairs_by_name(MPII_KEYPOINTS), None, MPII_SKELETON,
                   MPII_PARTS)

CROWDPOSE_KEYPOINTS = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck",
)
# CrowdPose sigmas as used by xtcocotools' crowdpose evaluation.
CROWDPOSE_SIGMAS = np.array(
    [0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89, 0.79, 0.79]) / 10.0
CROWDPOSE = DatasetMeta(
    "crowdpose", CROWDPOSE_KEYPOINTS, _pairs_by_name(CROWDPOSE_KEYPOINTS), CROWDPOSE_SIGMAS,
    ((12, 13), (13, 0), (13, 1), (0, 2), (2, 4), (1, 3), (3, 5), (13, 6), (13, 7), (6, 8), (8, 10),
     (7, 9), (9, 11)),
    {"head": (12, 13), "left_arm": (0, 2, 4), "right_arm": (1, 3, 5), "hip": (6, 7),
     "left_leg": (6, 8, 10), "right_leg": (7, 9, 11), "corpus": (0, 1, 6, 7)})

KNOWN_METAS: dict[str, DatasetMeta] = {
    m.name: m for m in (COCO, OCHUMAN, SYNTHPOSE, MPII, CROWDPOSE)
}


def get_meta(name: str) -> DatasetMeta:
    """Meta of a known data set by name (coco, ochuman, synthpose, mpii, crowdpose)."""
    try:
        return KNOWN_METAS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(KNOWN_METAS)}") from None


def meta_from_category(name: str, category: Mapping, sigmas: Sequence[float] | None = None
                       ) -> DatasetMeta:
    """Meta for a COCO-format file of any K, from its `categories[i]` entry.

    A layout with the COCO or CrowdPose keypoint names reuses that data set's sigmas and parts.
    """
    names = tuple(category.get("keypoints") or ())
    for known in (COCO, CROWDPOSE):
        if names == known.keypoint_names:
            base = known if name.lower() not in KNOWN_METAS else KNOWN_METAS[name.lower()]
            if base.keypoint_names != names:
                base = known
            meta = base.with_name(name)
            if sigmas is not None:
                meta = DatasetMeta(name, names, meta.flip_pairs, np.asarray(sigmas, float),
                                   meta.skeleton, meta.part_groups)
            return meta
    skeleton = tuple((int(a) - 1, int(b) - 1) for a, b in category.get("skeleton") or ())
    sig = np.asarray(sigmas, float) if sigmas is not None else None
    return DatasetMeta(name, names, _pairs_by_name(names), sig, skeleton, {})
