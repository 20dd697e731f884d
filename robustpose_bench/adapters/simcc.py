"""SimCC top-down models on ONNX Runtime: RTMPose, DWPose and RTMW (body subset through the
keypoint-order mapping), decoded as MMPose's `SimCCLabel` codec / rtmlib's RTMPose do
(Li et al., SimCC, ECCV 2022; Jiang et al., RTMPose, 2023) (issue 13, part 2).

A SimCC graph takes (B, 3, h, w) float32 crops and returns two classification vectors per
keypoint, simcc_x (B, K, Wx) and simcc_y (B, K, Wy) with Wx = w * split_ratio. A keypoint
is at (argmax x, argmax y) / split_ratio in crop pixels.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from robustpose_bench.adapters.base import AdapterError, CropHook
from robustpose_bench.adapters.keypoint_order import model_to_dataset
from robustpose_bench.adapters.onnx import model_input_size, open_session, run_batched, static_dim
from robustpose_bench.adapters.topdown import CropBatch, make_crops
from robustpose_bench.geometry import affine_points

logger = logging.getLogger(__name__)

# RTMPose's data preprocessor (MMPose configs: mean / std in 0-255 RGB, bgr_to_rgb=True).
RTMPOSE_MEAN = (123.675, 116.28, 103.53)
RTMPOSE_STD = (58.395, 57.12, 57.375)
# How the per-keypoint confidence combines the maxima of the x and y vectors: MMPose's
# `get_simcc_maximum` takes the smaller one; rtmlib (0.0.16) their mean.
SCORE_MODES = ("min", "mean", "max")


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float,
                 score: str = "min") -> tuple[np.ndarray, np.ndarray]:
    """SimCC vectors (N, K, Wx), (N, K, Wy) -> (keypoints (N, K, 2) float32 in crop pixels,
    x first; scores (N, K) float32).

    Location = (argmax_x, argmax_y) / split_ratio; score = min (MMPose), mean (rtmlib) or
    max of the two vector maxima; keypoints whose score is <= 0 get location -1 / split_ratio
    as in MMPose (so they fall outside the crop).
    """
    x = np.asarray(simcc_x, dtype=np.float32)
    y = np.asarray(simcc_y, dtype=np.float32)
    if x.ndim != 3 or y.ndim != 3 or x.shape[:2] != y.shape[:2]:
        raise AdapterError(f"SimCC outputs must be (N, K, Wx) and (N, K, Wy), got {x.shape} "
                           f"and {y.shape}")
    if score not in SCORE_MODES:
        raise AdapterError(f"score={score!r}: choose one of {', '.join(SCORE_MODES)}")
    locs = np.stack([x.argmax(axis=2), y.argmax(axis=2)], axis=-1).astype(np.float32)
    mx, my = x.max(axis=2), y.max(axis=2)
    vals = {"min": np.minimum, "max": np.maximum}.get(score, lambda a, b: 0.5 * (a + b))(mx, my)
    locs[vals <= 0] = -1.0
    return locs / np.float32(split_ratio), vals.astype(np.float32)


def crop_to_image(points: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Crop-pixel points (N, K, 2) -> image pixels through the inverse of each person's
    (2, 3) image -> crop matrix (the crop geometry of `adapters.topdown.make_crops`)."""
    out = np.empty(points.shape, dtype=np.float64)
    for i, m in enumerate(matrices):
        out[i] = affine_points(points[i], cv2.invertAffineTransform(np.asarray(m, np.float64)))
    return out


class SimCCOnnxAdapter:
    """Top-down adapter for a SimCC ONNX graph (RTMPose / DWPose / RTMW exports, as rtmlib
    runs them).

    path: the .onnx file. input_size: (width, height), read from the graph's input when
    static. split_ratio: Wx / width, read from the graph's outputs when static (RTMPose: 2).
    mean / std: per channel, 0-255 scale, in the channel order fed to the network. bgr: feed
    BGR instead of RGB (MMPose's RTMPose configs convert BGR to RGB, so RGB is the default;
    rtmlib passes its image unchanged). score: `min` (MMPose), `mean` (rtmlib) or `max`.
    keypoint_order: the model's order (e.g. `coco_wholebody` for DWPose / RTMW, `halpe26`);
    by default the data set's when the counts agree, else the one known order of that size.
    Crops are those of the built-in pipeline (box padded to the input aspect ratio, x1.25),
    which is RTMPose's `bbox_xyxy2cs(padding=1.25)` + `top_down_affine`. No flip test (as
    rtmlib). Accepts a `crop_hook` (crop-mode attacks).
    """

    bottom_up = False

    def __init__(self, path: str | Path, meta: Any = None, device: str | None = None,
                 input_size: tuple[int, int] | str | None = None,
                 split_ratio: float | None = None,
                 mean: Sequence[float] = RTMPOSE_MEAN, std: Sequence[float] = RTMPOSE_STD,
                 bgr: bool = False, score: str = "min", batch_size: int = 32,
                 keypoint_order: Any = None, name: str | None = None,
                 method: str | None = None, threads: int = 0) -> None:
        path = Path(path)
        self.session = open_session(path, device, threads)
        self.input_size = model_input_size(self.session, path, input_size)
        outs = self.session.get_outputs()
        if len(outs) != 2 or any(len(o.shape) != 3 for o in outs):
            raise AdapterError(f"ONNX model {path}: a SimCC graph has two (B, K, W) outputs, "
                               f"got {[list(o.shape) for o in outs]}")
        wx, wy = static_dim(outs[0].shape[2]), static_dim(outs[1].shape[2])
        if split_ratio is None:
            if wx is None:
                raise AdapterError(f"ONNX model {path}: SimCC length is not static; pass "
                                   "--model-arg split_ratio=2.0")
            split_ratio = wx / self.input_size[0]
        self.split_ratio = float(split_ratio)
        for got, side, what in ((wx, self.input_size[0], "x"), (wy, self.input_size[1], "y")):
            if got is not None and abs(got - side * self.split_ratio) > 1e-6:
                raise AdapterError(f"ONNX model {path}: simcc_{what} has {got} bins but input "
                                   f"{self.input_size[0]}x{self.input_size[1]} at split ratio "
                                   f"{self.split_ratio:g} gives {side * self.split_ratio:g}")
        if score not in SCORE_MODES:
            raise AdapterError(f"score={score!r}: choose one of {', '.join(SCORE_MODES)}")
        if len(mean) != 3 or len(std) != 3 or min(float(s) for s in std) <= 0:
            raise AdapterError(f"mean / std must be 3 values each, std > 0; got {mean}, {std}")
        if batch_size < 1:
            raise AdapterError(f"batch_size must be >= 1, got {batch_size}")
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.bgr, self.score, self.batch_size = bool(bgr), score, int(batch_size)
        k = static_dim(outs[0].shape[1])
        if k is None:
            k = int(self._infer(np.zeros((1, self.input_size[1], self.input_size[0], 3),
                                         np.uint8))[0].shape[1])
        self.model_order, self.mapping = model_to_dataset(None, k, meta, keypoint_order,
                                                          f"ONNX model {path.name}")
        self.num_keypoints = len(self.mapping.target) if self.mapping else k
        self.keypoint_order = self.mapping.target if self.mapping else self.model_order
        self.path, self.name, self.method = path, name or path.name, method
        self.backbone, self.num_params = "SimCC (ONNX)", None

    def _infer(self, crops: np.ndarray) -> list[np.ndarray]:
        x = crops[..., ::-1] if self.bgr else crops
        x = (x.astype(np.float32) - self.mean) / self.std
        return run_batched(self.session, x.transpose(0, 3, 1, 2), self.batch_size)

    def predict_crops(self, batch: CropBatch) -> np.ndarray:
        """(N, K, 3) keypoints (x, y image px, confidence) in the data set's order."""
        k = len(self.model_order) if self.model_order else self.num_keypoints
        if len(batch) == 0:
            kp = np.zeros((0, k, 3))
        else:
            sx, sy = self._infer(batch.crops)
            locs, vals = decode_simcc(sx, sy, self.split_ratio, self.score)
            kp = np.concatenate([crop_to_image(locs, batch.matrices),
                                 vals[..., None].astype(np.float64)], axis=-1)
        return self.mapping.apply(kp) if self.mapping else kp

    def predict(self, image: np.ndarray, boxes: np.ndarray,
                crop_hook: CropHook | None = None) -> np.ndarray:
        """(N, K, 3) keypoints for `boxes` (N, 4) xywh of `image` (H, W, 3) uint8 RGB."""
        return self.predict_crops(make_crops(image, boxes, self.input_size, crop_hook))

    def predict_batch(self, items: Sequence[tuple], crop_hook: CropHook | None = None
                      ) -> list[np.ndarray]:
        """Persons of several (image, boxes[, crop_hook]) items in shared network batches."""
        batches = [make_crops(it[0], it[1], self.input_size,
                              it[2] if len(it) == 3 else crop_hook) for it in items]
        kp = self.predict_crops(CropBatch.concat(batches, self.input_size))
        bounds = np.cumsum([0] + [len(b) for b in batches])
        return [kp[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
