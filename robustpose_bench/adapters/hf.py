"""ViTPose / ViTPose+ from the Hugging Face hub (or a local folder) through `transformers`'
`VitPoseForPoseEstimation` and its own image processor: crops, network, post-processing
(UDP + DARK) are the library's (Xu et al., ViTPose, NeurIPS 2022) (issue 13, part 1).

`--model hf:<repo id or folder>`. Optional extra `robustpose-bench[hf]`.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robustpose_bench.adapters.base import AdapterError, CropHook
from robustpose_bench.adapters.keypoint_order import flip_pairs_by_name, model_to_dataset
from robustpose_bench.geometry import PIXEL_STD, box_to_center_scale

logger = logging.getLogger(__name__)


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise AdapterError("hf: models need transformers >= 4.48 (VitPoseForPoseEstimation): "
                           "pip install 'robustpose-bench[hf]'") from None
    if not hasattr(transformers, "VitPoseForPoseEstimation"):
        raise AdapterError(f"hf: models need transformers >= 4.48 (VitPoseForPoseEstimation); "
                           f"installed: {transformers.__version__}")
    return transformers


def _one_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """None when the Hugging Face endpoint (HF_ENDPOINT) accepts a TCP connection within
    `timeout` seconds, else why not. Lets a machine without network fail in seconds instead
    of after the hub client's retries; skipped (None) when a proxy is configured."""
    import socket
    from urllib.parse import urlparse

    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        return f"{url.hostname}:{port} cannot be reached ({exc.strerror or exc})"
    return None


def _size(processor: Any) -> tuple[int, int]:
    """The processor's crop size as (width, height) (`size` is a dict or a SizeDict)."""
    size = processor.size
    get = size.get if isinstance(size, dict) else (lambda k: getattr(size, k, None))
    w, h = get("width"), get("height")
    if not w or not h:
        raise AdapterError(f"the ViTPose processor has no height / width in its size: {size}")
    return int(w), int(h)


def udp_matrix(box_xywh: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """(2, 3) image -> crop matrix of the ViTPose processor's crop of one box (UDP, Huang et
    al. CVPR 2020): the box, padded to the input aspect ratio and enlarged 1.25x, maps onto
    pixel centres 0 .. w-1 and 0 .. h-1. Given to crop hooks."""
    w, h = input_size
    center, scale = box_to_center_scale(np.asarray(box_xywh, np.float64), w / h)
    sw, sh = scale * PIXEL_STD
    ax, ay = (w - 1.0) / sw, (h - 1.0) / sh
    return np.array([[ax, 0.0, ax * (0.5 * sw - center[0])],
                     [0.0, ay, ay * (0.5 * sh - center[1])]])


class HFVitPoseAdapter:
    """Top-down adapter over `transformers`' ViTPose.

    model: a hub repo id (`usyd-community/vitpose-base-simple`) or a folder written by
    `save_pretrained` (model + processor config). device: cpu / cuda[:N] (default: cuda when
    available). batch_size: person crops per forward. flip_test: average with the mirrored
    crop's heatmaps, flipped back by the model's own `flip_pairs` (ViTPose's test setting).
    dataset_index: expert of the ViTPose+ mixture-of-experts backbones (0 = COCO; required
    by the model when it has several experts, default 0 then). keypoint_order: the model's
    order when its config does not name its keypoints (`id2label`). local_files_only: never
    reach the hub (also when HF_HUB_OFFLINE=1). Keypoints come out in the data set's order.
    Accepts a `crop_hook`: the hook sees the processor's uint8 crop (before rescaling and
    normalisation) and the UDP matrix of `udp_matrix`.
    """

    bottom_up = False

    def __init__(self, model: str, meta: Any = None, device: str | None = None,
                 batch_size: int = 32, flip_test: bool = True, dataset_index: int | None = None,
                 keypoint_order: Any = None, local_files_only: bool = False,
                 revision: str | None = None, name: str | None = None,
                 method: str | None = None) -> None:
        transformers = _transformers()
        import torch

        if batch_size < 1:
            raise AdapterError(f"batch_size must be >= 1, got {batch_size}")
        local = Path(model).expanduser()
        offline = local_files_only or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        source = str(local) if local.is_dir() else model
        extra = {"revision": revision} if revision else {}

        def load(only_local: bool) -> tuple[Any, Any]:
            kw = {"local_files_only": only_local, **extra}
            return (transformers.AutoProcessor.from_pretrained(source, **kw),
                    transformers.VitPoseForPoseEstimation.from_pretrained(source, **kw))

        try:  # a folder, or the local cache first: no network needed
            self.processor, self.model = load(True)
        except Exception as exc:  # hub, file and config errors of many types
            if local.is_dir() or offline:
                hint = "" if local.is_dir() else " (offline, and not in the local cache)"
                raise AdapterError(f"hf:{model}: cannot load the ViTPose model{hint}: "
                                   f"{_one_line(exc)}") from exc
            why = hub_unreachable()
            if why is not None:
                raise AdapterError(f"hf:{model}: not in the local Hugging Face cache and the hub "
                                   f"{why}") from None
            try:
                self.processor, self.model = load(False)
            except Exception as exc2:
                raise AdapterError(f"hf:{model}: cannot load the ViTPose model: "
                                   f"{_one_line(exc2)}") from exc2
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model.to(self.device).eval()
        config = self.model.config
        k = int(config.num_labels)
        labels = [config.id2label[i] for i in range(k)] if config.id2label else []
        named = bool(labels) and not all(str(n).startswith("LABEL_") for n in labels)
        self.model_order, self.mapping = model_to_dataset(labels if named else None, k, meta,
                                                          keypoint_order, f"hf:{model}")
        experts = int(getattr(config.backbone_config, "num_experts", 1) or 1)
        if dataset_index is None and experts > 1:
            dataset_index = 0
            logger.info("hf:%s has %d experts: using dataset_index 0 (COCO)", model, experts)
        if dataset_index is not None and not 0 <= int(dataset_index) < max(experts, 1):
            raise AdapterError(f"hf:{model}: dataset_index={dataset_index} but the model has "
                               f"{experts} expert(s)")
        self.dataset_index = None if dataset_index is None else int(dataset_index)
        pairs = flip_pairs_by_name(self.model_order) if self.model_order else []
        if flip_test and not pairs:
            logger.warning("hf:%s: no left/right keypoint names known: flip test disabled", model)
        self.flip_test = bool(flip_test and pairs)
        self._flip_pairs = torch.tensor(pairs, dtype=torch.long, device=self.device)
        self.input_size = _size(self.processor)
        self.batch_size = int(batch_size)
        self.num_keypoints = len(self.mapping.target) if self.mapping else k
        self.keypoint_order = self.mapping.target if self.mapping else self.model_order
        self.name = name or f"hf:{model}"
        self.method = method
        self.backbone = f"ViTPose ({config.backbone_config.hidden_size}d x " \
                        f"{config.backbone_config.num_hidden_layers})"
        self.num_params = sum(p.numel() for p in self.model.parameters())
        self._mean = np.asarray(self.processor.image_mean, np.float32)[:, None, None]
        self._std = np.asarray(self.processor.image_std, np.float32)[:, None, None]
        self._rescale = np.float32(self.processor.rescale_factor)

    # -- stages -----------------------------------------------------------------------------
    def crops(self, image: np.ndarray, boxes: np.ndarray,
              crop_hook: CropHook | None = None) -> np.ndarray:
        """The processor's crops of `boxes` (N, 4) xywh: (N, 3, h, w) uint8 RGB, after
        `crop_hook` when given."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        w, h = self.input_size
        if len(boxes) == 0:
            return np.zeros((0, 3, h, w), np.uint8)
        out = self.processor(image, boxes=[boxes.tolist()], do_rescale=False, do_normalize=False,
                             return_tensors="np")["pixel_values"]
        out = np.clip(np.rint(out), 0, 255).astype(np.uint8)  # already integral
        if crop_hook is not None:
            for i, box in enumerate(boxes):
                crop = np.ascontiguousarray(out[i].transpose(1, 2, 0))
                new = crop_hook(i, crop, udp_matrix(box, self.input_size))
                if not isinstance(new, np.ndarray) or new.shape != crop.shape \
                        or new.dtype != np.uint8:
                    raise ValueError(f"crop_hook for box {i} must return a {crop.shape} uint8 crop")
                out[i] = new.transpose(2, 0, 1)
        return out

    def pixel_values(self, image: np.ndarray, boxes: np.ndarray,
                     crop_hook: CropHook | None = None) -> np.ndarray:
        """Network inputs (N, 3, h, w) float32 of `boxes` (N, 4) xywh: the processor's own
        output; with `crop_hook`, its uint8 crops after the hook, rescaled and normalised
        with the processor's factor, mean and std (equal within float rounding)."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if crop_hook is not None or len(boxes) == 0:
            crops = self.crops(image, boxes, crop_hook)
            return (crops.astype(np.float32) * self._rescale - self._mean) / self._std
        self.crops(image, boxes[:0])  # input checks
        out = self.processor(image, boxes=[boxes.tolist()], return_tensors="np")["pixel_values"]
        return np.asarray(out, dtype=np.float32)

    def heatmaps_of_inputs(self, x: np.ndarray) -> Any:
        """(N, 3, h, w) float32 network inputs -> (N, K, h/4, w/4) torch heatmaps
        (flip-averaged with the flip test), in the model's keypoint order."""
        import torch

        outs = []
        for i in range(0, len(x), self.batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(x[i:i + self.batch_size])).to(self.device)
            index = None
            if self.dataset_index is not None:
                index = torch.full((len(chunk),), self.dataset_index, dtype=torch.long,
                                   device=self.device)
            with torch.inference_mode():
                hm = self.model(chunk, dataset_index=index).heatmaps
                if self.flip_test:
                    flipped = self.model(chunk.flip(3), dataset_index=index,
                                         flip_pairs=self._flip_pairs).heatmaps
                    hm = (hm + flipped) * 0.5
            outs.append(hm.float().cpu())
        return torch.cat(outs)

    def _decode(self, heatmaps: Any, boxes_per_image: list[np.ndarray]) -> list[np.ndarray]:
        from transformers.models.vitpose.modeling_vitpose import VitPoseEstimatorOutput

        k = heatmaps.shape[1]
        results = self.processor.post_process_pose_estimation(
            VitPoseEstimatorOutput(heatmaps=heatmaps),
            boxes=[b.tolist() for b in boxes_per_image])
        out = []
        for per_image in results:
            kp = np.zeros((len(per_image), k, 3))
            for j, person in enumerate(per_image):
                kp[j, :, :2] = np.asarray(person["keypoints"], np.float64).reshape(k, 2)
                kp[j, :, 2] = np.asarray(person["scores"], np.float64).reshape(k)
            out.append(self.mapping.apply(kp) if self.mapping else kp)
        return out

    # -- the adapter contract ---------------------------------------------------------------
    def predict_batch(self, items: Sequence[tuple], crop_hook: CropHook | None = None
                      ) -> list[np.ndarray]:
        """(image, boxes[, crop_hook]) items -> one (N_i, K, 3) array per item (x, y image
        px, confidence), all persons in shared network batches."""
        boxes = [np.asarray(it[1], np.float64).reshape(-1, 4) for it in items]
        inputs = [self.pixel_values(it[0], b, it[2] if len(it) == 3 else crop_hook)
                  for it, b in zip(items, boxes, strict=True)]
        k = len(self.model_order) if self.model_order else self.num_keypoints
        if sum(len(b) for b in boxes) == 0:
            return [np.zeros((0, self.num_keypoints, 3)) for _ in items]
        heatmaps = self.heatmaps_of_inputs(np.concatenate(inputs))
        if heatmaps.shape[1] != k:
            raise AdapterError(f"{self.name}: the model gives {heatmaps.shape[1]} heatmaps, its "
                               f"keypoint order has {k}")
        nonempty = [i for i, b in enumerate(boxes) if len(b)]
        decoded = self._decode(heatmaps, [boxes[i] for i in nonempty])
        out = [np.zeros((0, self.num_keypoints, 3)) for _ in items]
        for i, kp in zip(nonempty, decoded, strict=True):
            out[i] = kp
        return out

    def predict(self, image: np.ndarray, boxes: np.ndarray,
                crop_hook: CropHook | None = None) -> np.ndarray:
        """(N, K, 3) keypoints for `boxes` (N, 4) xywh of `image` (H, W, 3) uint8 RGB."""
        return self.predict_batch([(image, boxes)], crop_hook)[0]

