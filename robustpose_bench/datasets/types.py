"""The one data model every reader produces: dataset meta + samples + persons.

Coordinates are image pixels, x first, 0-based (pixel centres at integers), for every
reader; MPII's 1-based MATLAB convention is converted on load (see docs/protocol.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robustpose_bench.datasets.meta import DatasetMeta


@dataclass
class Person:
    """One annotated person.

    bbox: (4,) float64 xywh in image pixels. keypoints: (K, 3) float64 (x, y, v) in image
    pixels with COCO visibility v in {0: unlabelled, 1: labelled but occluded, 2: visible}.
    head_box: (4,) x1, y1, x2, y2 (MPII head rectangle) or None. center/scale: the MPII /
    HRNet person centre (image pixels) and scale (box height / 200 px) when the format has them.
    """

    bbox: np.ndarray
    keypoints: np.ndarray
    area: float = 0.0
    iscrowd: bool = False
    id: int = -1
    head_box: np.ndarray | None = None
    center: np.ndarray | None = None
    scale: float | None = None
    segmentation: object | None = None

    @property
    def num_keypoints(self) -> int:
        """Number of labelled keypoints (v > 0)."""
        return int((self.keypoints[:, 2] > 0).sum())


@dataclass
class Sample:
    """One image of a data set and the people annotated in it."""

    image_id: int
    file_name: str
    width: int
    height: int
    persons: list[Person] = field(default_factory=list)


@dataclass
class Dataset:
    """Meta + samples. `image_root` joined with `Sample.file_name` gives the image path."""

    meta: DatasetMeta
    samples: list[Sample]
    image_root: Path | None = None
    ann_file: Path | None = None

    def __len__(self) -> int:
        return len(self.samples)

    def image_path(self, sample: Sample) -> Path:
        if self.image_root is None:
            raise ValueError(f"{self.meta.name}: no image root was given, cannot locate {sample.file_name}")
        return self.image_root / sample.file_name

    @property
    def num_persons(self) -> int:
        return sum(len(s.persons) for s in self.samples)

    def by_image_id(self) -> dict[int, Sample]:
        return {s.image_id: s for s in self.samples}
