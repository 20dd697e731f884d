"""Test adapters written the way a user writes one: a plain class with `predict`.

OracleAdapter knows the GT file and answers each box with the keypoints of the GT person
whose box it is (plus a pixel-dependent jitter, so corrupted pixels change predictions).
BrokenAdapter returns whatever the test asks for.
"""
from __future__ import annotations

import json

import numpy as np


class OracleAdapter:
    def __init__(self, ann: str, jitter: float = 0.0):
        data = json.load(open(ann))
        self.boxes = np.array([a["bbox"] for a in data["annotations"]], dtype=float).reshape(-1, 4)
        self.kps = np.array([a["keypoints"] for a in data["annotations"]], dtype=float)
        self.kps = self.kps.reshape(len(self.kps), -1, 3)
        self.jitter = float(jitter)
        self.num_keypoints = self.kps.shape[1]

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        out = np.zeros((len(boxes), self.num_keypoints, 3))
        for i, b in enumerate(boxes):
            j = int(np.abs(self.boxes - b).sum(axis=1).argmin())
            out[i, :, :2] = self.kps[j, :, :2]
            out[i, :, 2] = 0.9
            if self.jitter:
                # brightness-dependent shift: a corruption moves the prediction
                x0, y0 = int(max(b[0], 0)), int(max(b[1], 0))
                patch = image[y0:y0 + 8, x0:x0 + 8].astype(float)
                out[i, :, 0] += self.jitter * (patch.std() / 64.0 if patch.size else 0.0)
        return out


class BrokenAdapter:
    def __init__(self, mode: str):
        self.mode = mode

    def predict(self, image: np.ndarray, boxes: np.ndarray):
        n = len(boxes)
        if self.mode == "shape":
            return np.zeros((n, 17, 2))
        if self.mode == "k":
            return np.zeros((n, 16, 3))
        out = np.zeros((n, 17, 3))
        out[0, 3, 0] = np.nan
        return out


class BottomUpOracle:
    """A bottom-up adapter: finds every GT person of the image (by image size + order)."""

    bottom_up = True

    def __init__(self, ann: str):
        data = json.load(open(ann))
        self.by_image: dict[tuple, list] = {}
        for a in data["annotations"]:
            if a.get("num_keypoints", 1) > 0 and not a.get("iscrowd"):
                self.by_image.setdefault(a["image_id"], []).append(a["keypoints"])
        self.order = [im["id"] for im in data["images"]]
        self.calls = 0

    def predict(self, image: np.ndarray, boxes):
        assert boxes is None
        image_id = self.order[self.calls % len(self.order)]
        self.calls += 1
        kps = np.array(self.by_image.get(image_id, []), dtype=float).reshape(-1, 17, 3)
        kps[..., 2] = 1.0
        return kps, np.ones(len(kps))
