"""Adapters of the evaluation fault tests, written as a user writes one (a plain class with
`predict`), loaded by `--model path/to/_fault_adapters.py:Class`.

PoseOracle answers each box with the keypoints of the GT person of that box plus a shift that
depends on the pixels (a corruption moves the prediction) times `jitter`; the environment
variable FAULT_ADAPTER_DELAY (seconds per image) slows it down without changing its
fingerprint (the SIGKILL test needs a run slow enough to be killed half way).
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np


class PoseOracle:
    def __init__(self, ann: str, jitter: float = 0.0):
        data = json.load(open(ann))
        self.boxes = np.array([a["bbox"] for a in data["annotations"]], dtype=float).reshape(-1, 4)
        kps = np.array([a["keypoints"] for a in data["annotations"]], dtype=float)
        self.kps = kps.reshape(len(kps), -1, 3)
        self.jitter = float(jitter)
        self.num_keypoints = self.kps.shape[1]
        self.calls = 0

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        self.calls += 1
        delay = float(os.environ.get("FAULT_ADAPTER_DELAY", "0") or 0)
        if delay:
            time.sleep(delay)
        out = np.zeros((len(boxes), self.num_keypoints, 3))
        for i, b in enumerate(boxes):
            j = int(np.abs(self.boxes - b).sum(axis=1).argmin())
            out[i, :, :2] = self.kps[j, :, :2]
            out[i, :, 2] = 0.9
            if self.jitter:
                patch = image[int(max(b[1], 0)):int(max(b[1], 0)) + 8,
                              int(max(b[0], 0)):int(max(b[0], 0)) + 8].astype(float)
                out[i, :, 0] += self.jitter * (patch.std() / 32.0 if patch.size else 0.0)
                out[i, ::2, 1] -= self.jitter * (patch.mean() / 255.0 if patch.size else 0.0)
        return out


class RaisingAdapter(PoseOracle):
    """Fails on its `fail_at`-th call (1-based) like a model whose kernel breaks."""

    def __init__(self, ann: str, fail_at: int = 2):
        super().__init__(ann)
        self.fail_at = int(fail_at)

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        if self.calls + 1 == self.fail_at:
            self.calls += 1
            raise RuntimeError("CUDA error: an illegal memory access was encountered\n"
                               "CUDA kernel errors might be asynchronously reported")
        return super().predict(image, boxes)


class ExitingAdapter(PoseOracle):
    """Calls sys.exit(0) from predict (a script's habit carried into a library)."""

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        sys.exit(0)


class ExitOnLoad:
    """Calls sys.exit(0) from its constructor."""

    def __init__(self, ann: str):
        sys.exit(0)

    def predict(self, image, boxes):  # pragma: no cover - never constructed
        return np.zeros((len(boxes), 17, 3))
