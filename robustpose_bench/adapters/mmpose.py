"""MMPose back end: score any MMPose 1.x top-down model (config + checkpoint) through the
adapter contract, using `mmpose.apis.init_model` + `inference_topdown` (issue 6, part 4).

MMPose is imported lazily (optional extra `robustpose-bench[mmpose]`); flip test, decoding
and input size come from the MMPose config, not from this package. Keypoints are mapped to
the data set's order by name (`adapters.keypoint_order`, issue 13).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from robustpose_bench.adapters.base import AdapterError
from robustpose_bench.adapters.keypoint_order import model_to_dataset

logger = logging.getLogger(__name__)


def _mmpose_apis():
    try:
        from mmpose import apis
    except ImportError as exc:
        raise AdapterError("the MMPose adapter needs mmpose >= 1.0 (pip install "
                           f"'robustpose-bench[mmpose]'; import failed: {exc})") from None
    if not hasattr(apis, "inference_topdown"):
        raise AdapterError("the MMPose adapter needs mmpose >= 1.0 (mmpose.apis has no "
                           "inference_topdown; 0.x is not supported)")
    return apis


class MMPoseTopDownAdapter:
    """Top-down adapter around an MMPose 1.x model.

    config: the MMPose config file (.py; it is Python code, like any adapter file).
    checkpoint: its weights; checked first with this package's safe loader, so a file that
    pickles code is refused unless trust_checkpoint (CLI --trust-checkpoint). device: "cpu",
    "cuda" or "cuda:N" (default: cuda when available). meta: the data set's meta, whose
    keypoints are mapped by name from the model's (its `dataset_meta`, or `keypoint_order`
    when given, e.g. `coco_wholebody` for a whole-body model on COCO).
    """

    bottom_up = False

    def __init__(self, config: str | Path, checkpoint: str | Path, device: str | None = None,
                 meta: Any = None, trust_checkpoint: bool = False, name: str | None = None,
                 method: str | None = None, keypoint_order: Any = None) -> None:
        from robustpose_bench.models.checkpoint import CheckpointError, read_checkpoint

        apis = _mmpose_apis()
        if not Path(config).is_file():
            raise AdapterError(f"MMPose config {config} does not exist")
        try:
            read_checkpoint(checkpoint, trust=trust_checkpoint)
        except CheckpointError as exc:
            raise AdapterError(str(exc)) from None
        if device is None:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = apis.init_model(str(config), str(checkpoint), device=device)
        self._inference = apis.inference_topdown
        dmeta = getattr(self.model, "dataset_meta", None) or {}
        names = dmeta.get("keypoint_id2name")
        names = [names[i] for i in sorted(names)] if isinstance(names, dict) else None
        k = dmeta.get("num_keypoints") or (len(names) if names else None)
        if k is None:
            raise AdapterError(f"MMPose model {config}: its dataset_meta has no num_keypoints")
        self.model_order, self.mapping = model_to_dataset(names, int(k), meta, keypoint_order,
                                                          f"MMPose model {Path(config).name}")
        self.num_keypoints = len(self.mapping.target) if self.mapping else int(k)
        self.keypoint_order = self.mapping.target if self.mapping else self.model_order
        self.name = name or Path(config).stem
        self.method = method
        self.num_params = sum(p.numel() for p in self.model.parameters())
        self.backbone = type(getattr(self.model, "backbone", None)).__name__
        self.input_size = None
        codec = getattr(getattr(self.model, "cfg", None), "codec", None)
        if isinstance(codec, dict) and "input_size" in codec:
            self.input_size = tuple(int(v) for v in codec["input_size"])

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, K, 3) keypoints (x, y image px, score) for (N, 4) xywh boxes of an RGB image."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if boxes.shape[0] == 0:
            return np.zeros((0, self.num_keypoints, 3))
        xyxy = boxes.copy()
        xyxy[:, 2:] += xyxy[:, :2]
        bgr = np.ascontiguousarray(image[..., ::-1])  # MMPose pipelines expect BGR arrays
        samples = self._inference(self.model, bgr, bboxes=xyxy, bbox_format="xyxy")
        out = []
        for s in samples:
            inst = s.pred_instances
            kp = np.asarray(inst.keypoints, dtype=np.float64).reshape(-1, 2)
            sc = np.asarray(inst.keypoint_scores, dtype=np.float64).reshape(-1, 1)
            out.append(np.concatenate([kp, sc], axis=1))
        kps = np.stack(out)
        return self.mapping.apply(kps) if self.mapping else kps
