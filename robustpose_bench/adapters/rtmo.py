"""RTMO (Lu et al., CVPR 2024) and other one-stage ONNX pose graphs as a bottom-up adapter,
run as rtmlib's `RTMO` class does (issue 13, part 2).

The graph takes one (1, 3, H, W) letterboxed image and returns detections (1, N, 5) (x1, y1,
x2, y2, score in input pixels) and keypoints (1, N, K, 3) (x, y, confidence). Letterbox:
scale by r = min(H / h, W / w), resize to (int(w r), int(h r)) bilinear, paste at the top
left of an image filled with 114; outputs are divided by r; then score filter and greedy NMS.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from robustpose_bench.adapters.base import AdapterError
from robustpose_bench.adapters.keypoint_order import model_to_dataset
from robustpose_bench.adapters.onnx import model_input_size, open_session, static_dim

logger = logging.getLogger(__name__)

LETTERBOX_FILL = 114
# MMPose's RTMO test settings (configs/body_2d_keypoint/rtmo: test_cfg score_thr, nms_thr).
RTMO_SCORE_THR = 0.1
RTMO_NMS_THR = 0.65


def letterbox(image: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """(H, W, C) uint8 image -> (input h, input w, C) uint8 letterboxed at the top left,
    and the scale r (input pixels per image pixel)."""
    w_in, h_in = int(input_size[0]), int(input_size[1])
    h, w = image.shape[:2]
    if (h, w) == (h_in, w_in):
        return image.copy(), 1.0
    r = min(h_in / h, w_in / w)
    out = np.full((h_in, w_in, image.shape[2]), LETTERBOX_FILL, dtype=np.uint8)
    nw, nh = int(w * r), int(h * r)
    if nw > 0 and nh > 0:
        out[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, r


def nms(boxes: np.ndarray, scores: np.ndarray, iou_thr: float) -> np.ndarray:
    """Greedy NMS: indices of the kept boxes (N, 4) xyxy, highest score first; a box is
    dropped when its IoU with a kept one exceeds `iou_thr`."""
    boxes = np.asarray(boxes, np.float64)
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        union = area[i] + area[rest] - inter
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
        order = rest[iou <= iou_thr]
    return np.asarray(keep, dtype=np.int64)


class RTMOOnnxAdapter:
    """Bottom-up adapter for an RTMO-style ONNX graph (detections + keypoints outputs).

    path: the .onnx file. input_size: (width, height), read from the graph when static
    (RTMO: 640x640). score_thr / nms_thr: person score threshold and NMS IoU (MMPose's RTMO
    test settings by default). bgr: feed BGR (RTMO is trained on BGR images with mean 0,
    std 1, as rtmlib runs it); mean / std: optional normalisation (0-255 scale).
    keypoint_order: the model's order when it is not the data set's. Person scores are the
    detection scores.
    """

    bottom_up = True

    def __init__(self, path: str | Path, meta: Any = None, device: str | None = None,
                 input_size: tuple[int, int] | str | None = None,
                 score_thr: float = RTMO_SCORE_THR, nms_thr: float = RTMO_NMS_THR,
                 bgr: bool = True, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None, keypoint_order: Any = None,
                 name: str | None = None, method: str | None = None, threads: int = 0) -> None:
        path = Path(path)
        self.session = open_session(path, device, threads)
        self.input_size = model_input_size(self.session, path, input_size)
        if not (0.0 <= float(nms_thr) <= 1.0):
            raise AdapterError(f"nms_thr={nms_thr}: expected an IoU in [0, 1]")
        if (mean is None) != (std is None):
            raise AdapterError("mean and std go together: give both or neither")
        self.mean = None if mean is None else np.asarray(mean, np.float32)
        self.std = None if std is None else np.asarray(std, np.float32)
        self.score_thr, self.nms_thr, self.bgr = float(score_thr), float(nms_thr), bool(bgr)
        outs = self.session.get_outputs()
        ranks = [len(o.shape) for o in outs]
        if sorted(ranks) != [3, 4]:
            raise AdapterError(f"ONNX model {path}: an RTMO graph outputs detections (1, N, 5) "
                               f"and keypoints (1, N, K, 3), got {[list(o.shape) for o in outs]}")
        self._det_out, self._kpt_out = (0, 1) if ranks[0] == 3 else (1, 0)
        k = static_dim(outs[self._kpt_out].shape[2])
        if k is None:
            k = self._run(np.zeros((self.input_size[1], self.input_size[0], 3), np.uint8))[1].shape[1]
        self.model_order, self.mapping = model_to_dataset(None, int(k), meta, keypoint_order,
                                                          f"ONNX model {path.name}")
        self.num_keypoints = len(self.mapping.target) if self.mapping else int(k)
        self.keypoint_order = self.mapping.target if self.mapping else self.model_order
        self.path, self.name, self.method = path, name or path.name, method
        self.backbone, self.num_params = "RTMO (ONNX)", None

    def _run(self, padded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = padded[..., ::-1] if self.bgr else padded
        x = x.astype(np.float32)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        outs = self.session.run(None, {self.session.get_inputs()[0].name:
                                       np.ascontiguousarray(x.transpose(2, 0, 1)[None])})
        dets, kpts = np.asarray(outs[self._det_out]), np.asarray(outs[self._kpt_out])
        if dets.ndim != 3 or dets.shape[-1] < 5 or kpts.ndim != 4 or kpts.shape[-1] < 3 \
                or dets.shape[1] != kpts.shape[1]:
            raise AdapterError(f"{self.name}: expected detections (1, N, 5) and keypoints "
                               f"(1, N, K, 3), got {dets.shape} and {kpts.shape}")
        return dets[0].astype(np.float64), kpts[0].astype(np.float64)

    def predict(self, image: np.ndarray, boxes: None = None) -> tuple[np.ndarray, np.ndarray]:
        """(keypoints (M, K, 3) image px in the data set's order, person scores (M,)) for the
        people found in `image` (H, W, 3) uint8 RGB, highest score first."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        padded, r = letterbox(image, self.input_size)
        dets, kpts = self._run(padded)
        kpts = kpts[..., :3].copy()
        kpts[..., :2] /= r
        scores = dets[:, 4]
        ok = np.flatnonzero(scores > self.score_thr)
        keep = ok[nms(dets[ok, :4] / r, scores[ok], self.nms_thr)] if ok.size else ok
        kp = kpts[keep]
        return (self.mapping.apply(kp) if self.mapping else kp), scores[keep]
