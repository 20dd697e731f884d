"""The predictions of one condition: per image, the persons' keypoints with the boxes and box
scores they were predicted from. What the prediction step hands to the evaluators and what
the store keeps (`raw.npz`: the unit of resumption and of shard merging)."""
from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ImagePrediction:
    """The persons predicted in one image (sample `index` of the data set).

    keypoints: (N, K, 3) x, y in image pixels (0-based) and confidence. boxes: (N, 4) xywh
    image pixels (the model's input boxes; bottom-up: the keypoint extents). scores: (N,)
    box scores (GT boxes: 1).
    """

    index: int
    keypoints: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray


@dataclass
class Predictions:
    """Sample index -> keypoints (N_i, K, 3), boxes (N_i, 4), box scores (N_i,)."""

    keypoints: dict[int, np.ndarray] = field(default_factory=dict)
    boxes: dict[int, np.ndarray] = field(default_factory=dict)
    scores: dict[int, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keypoints)

    def add(self, pred: ImagePrediction) -> None:
        self.keypoints[pred.index] = pred.keypoints
        self.boxes[pred.index] = pred.boxes
        self.scores[pred.index] = pred.scores

    def update(self, other: Predictions) -> None:
        """Add every image of `other` (shard merging)."""
        self.keypoints.update(other.keypoints)
        self.boxes.update(other.boxes)
        self.scores.update(other.scores)

    def images(self) -> Iterator[ImagePrediction]:
        """Per-image predictions in sample order."""
        for i in sorted(self.keypoints):
            yield ImagePrediction(i, self.keypoints[i], self.boxes[i], self.scores[i])

    def to_npz(self) -> bytes:
        """Flattened arrays (sample_index, counts, keypoints, boxes, box_scores) as npz bytes."""
        order = sorted(self.keypoints)
        counts = np.array([len(self.keypoints[i]) for i in order], dtype=np.int64)
        k = next((p.shape[1] for p in self.keypoints.values() if p.ndim == 3), 0)
        buf = io.BytesIO()
        np.savez_compressed(
            buf, sample_index=np.array(order, dtype=np.int64), counts=counts,
            keypoints=(np.concatenate([self.keypoints[i] for i in order]) if order
                       else np.zeros((0, k, 3))),
            boxes=np.concatenate([self.boxes[i] for i in order]) if order else np.zeros((0, 4)),
            box_scores=(np.concatenate([self.scores[i] for i in order]) if order
                        else np.zeros(0)))
        return buf.getvalue()

    @classmethod
    def from_npz(cls, source) -> Predictions:
        """Inverse of `to_npz` (a path or a file object)."""
        with np.load(source) as z:
            idx, counts = z["sample_index"], z["counts"]
            kp, bx, sc = z["keypoints"], z["boxes"], z["box_scores"]
        keys = idx.tolist()
        if not keys:
            return cls()
        splits = np.cumsum(counts)[:-1]
        return cls(dict(zip(keys, np.split(kp, splits), strict=True)),
                   dict(zip(keys, np.split(bx, splits), strict=True)),
                   dict(zip(keys, np.split(sc, splits), strict=True)))
