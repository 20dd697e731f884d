"""Ultralytics YOLO-pose (YOLOv8 / YOLO11 / YOLO26 pose) as a bottom-up adapter: the
library's own `YOLO(...).predict` (letterbox, network, NMS or the NMS-free head, scaling back
to the image) runs each image (issue 13, part 3).

`--model ultralytics:<weights.pt | model.yaml>`. Optional; see docs/adapters.md for an
install that keeps the headless OpenCV build.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from robustpose_bench.adapters.base import AdapterError
from robustpose_bench.adapters.keypoint_order import model_to_dataset

logger = logging.getLogger(__name__)

# Ultralytics' own validation settings for pose mAP (ultralytics/cfg/default.yaml, val mode):
# keep low-confidence people, COCO scores them by rank.
ULTRALYTICS_CONF = 0.001
ULTRALYTICS_IOU = 0.7
ULTRALYTICS_MAX_DET = 300


def _one_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def _yolo_class() -> Any:
    try:
        from ultralytics import YOLO
    except ImportError as exc:
        raise AdapterError("ultralytics: models need the ultralytics package (see "
                           f"docs/adapters.md for a headless install; import failed: {exc})"
                           ) from None
    except Exception as exc:  # ultralytics imports fail in other ways (e.g. no torchvision)
        raise AdapterError(f"ultralytics cannot be imported here: {_one_line(exc)}") from None
    return YOLO


class UltralyticsPoseAdapter:
    """Bottom-up adapter over an Ultralytics pose model.

    weights: a `.pt` file, or a model YAML (`yolo11n-pose.yaml`: the package's own
    architecture, random weights). imgsz: letterbox size (pixels, long side). conf / iou /
    max_det: person score threshold, NMS IoU and people per image (Ultralytics' pose
    validation settings by default). nms: None = the model's default; False = the NMS-free
    one-to-one head of end-to-end models (YOLO26), which needs no torchvision. device: cpu /
    cuda[:N]. keypoint_order: the model's order when it is not COCO-17. Person scores are the
    box confidences; keypoint confidences those of the model.
    """

    bottom_up = True

    def __init__(self, weights: str, meta: Any = None, device: str | None = None,
                 imgsz: int = 640, conf: float = ULTRALYTICS_CONF, iou: float = ULTRALYTICS_IOU,
                 max_det: int = ULTRALYTICS_MAX_DET, nms: bool | None = None, half: bool = False,
                 keypoint_order: Any = None, name: str | None = None,
                 method: str | None = None) -> None:
        if imgsz < 32 or max_det < 1 or not 0.0 <= float(iou) <= 1.0:
            raise AdapterError(f"ultralytics:{weights}: need imgsz >= 32, max_det >= 1 and iou in "
                               f"[0, 1]; got imgsz={imgsz}, max_det={max_det}, iou={iou}")
        yolo = _yolo_class()
        local = Path(weights).expanduser()
        if local.suffix.lower() in (".pt", ".pth") and not local.is_file() and (
                local.parent != Path(".")):
            raise AdapterError(f"ultralytics:{weights}: weights file {local} does not exist")
        try:
            self.model = yolo(str(local) if local.is_file() else weights, task="pose")
        except Exception as exc:  # downloads, YAML and checkpoint errors of many types
            raise AdapterError(f"ultralytics:{weights}: cannot load the model: "
                               f"{_one_line(exc)}") from exc
        if getattr(self.model, "task", "pose") != "pose":
            raise AdapterError(f"ultralytics:{weights} is a {self.model.task} model, not a pose "
                               "model")
        net = self.model.model
        kpt_shape = getattr(net, "kpt_shape", None) or (getattr(net, "yaml", {}) or {}).get(
            "kpt_shape")
        if not kpt_shape:
            raise AdapterError(f"ultralytics:{weights}: the model has no kpt_shape (not a pose "
                               "model)")
        k = int(kpt_shape[0])
        self.model_order, self.mapping = model_to_dataset(None, k, meta, keypoint_order,
                                                          f"ultralytics:{weights}")
        self.num_keypoints = len(self.mapping.target) if self.mapping else k
        self.keypoint_order = self.mapping.target if self.mapping else self.model_order
        self.device = device or ("cuda:0" if _cuda() else "cpu")
        self.options: dict[str, Any] = {"imgsz": int(imgsz), "conf": float(conf),
                                        "iou": float(iou), "max_det": int(max_det),
                                        "device": self.device, "verbose": False}
        if half:
            self.options["half"] = True
        if nms is not None:
            self.options["nms"] = bool(nms)
        self.input_size = (int(imgsz), int(imgsz))
        self.name = name or f"ultralytics:{Path(str(weights)).name}"
        self.method = method
        self.backbone = "YOLO-pose"
        self.num_params = sum(p.numel() for p in net.parameters())

    def predict(self, image: np.ndarray, boxes: None = None) -> tuple[np.ndarray, np.ndarray]:
        """(keypoints (M, K, 3) image px in the data set's order, person scores (M,)) for
        `image` (H, W, 3) uint8 RGB (handed to Ultralytics as BGR, its array convention)."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        result = self.model.predict(np.ascontiguousarray(image[..., ::-1]), **self.options)[0]
        k_model = len(self.model_order) if self.model_order else self.num_keypoints
        if result.keypoints is None or result.boxes is None or len(result.boxes) == 0:
            return np.zeros((0, self.num_keypoints, 3)), np.zeros(0)
        xy = result.keypoints.xy.detach().cpu().numpy().astype(np.float64)
        conf = result.keypoints.conf
        kc = (conf.detach().cpu().numpy().astype(np.float64) if conf is not None
              else np.ones(xy.shape[:2]))
        kp = np.concatenate([xy.reshape(-1, k_model, 2), kc.reshape(-1, k_model, 1)], axis=-1)
        scores = result.boxes.conf.detach().cpu().numpy().astype(np.float64).reshape(-1)
        return (self.mapping.apply(kp) if self.mapping else kp), scores


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())
