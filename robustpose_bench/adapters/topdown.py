"""Built-in top-down heatmap pipeline: turns any heatmap network into an adapter (box ->
affine crop -> network (+ flip test) -> argmax decoding -> image pixels).

Follows the HRNet / SimpleBaseline reference evaluation (PROTOCOL.md section 3): boxes padded
to the input aspect ratio and enlarged 1.25x, flipped heatmaps mirrored back with left/right
channels swapped and shifted 1 px right, argmax + quarter-pixel offset (`get_final_preds`),
confidence = heatmap maximum; DARK (Zhang et al., CVPR 2020) decoding is optional. The crop
and back-transform geometry follow the named inference protocol (inference_protocol.py;
default `hrnet`: the reference's float32 centre/scale and affine, bit for bit).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from robustpose_bench.adapters.base import AdapterError, CropHook
from robustpose_bench.geometry import affine_points, warp_crop
from robustpose_bench.inference_protocol import (
    DEFAULT_INFERENCE_PROTOCOL,
    InferenceProtocol,
    get_inference_protocol,
)
from robustpose_bench.models import NORMALIZE_MEAN, NORMALIZE_STD
from robustpose_bench.models.codec import (  # noqa: F401  (decoders live with the codecs)
    DECODERS,
    decode_dark,
    decode_heatmaps,
    decode_standard,
)

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class CropSpec:
    """How an adapter cuts its person crops, as a plain picklable value: data-loader workers
    (and Dask workers) cut the crops with `make`, the model process only runs the network.

    input_size: (width, height) of the model input. inference_protocol: the crop geometry.
    """

    input_size: tuple[int, int]
    inference_protocol: InferenceProtocol

    def make(self, image: np.ndarray, boxes: np.ndarray, crop_hook: CropHook | None = None
             ) -> CropBatch:
        """`make_crops(image, boxes, input_size, crop_hook, inference_protocol)`."""
        return make_crops(image, boxes, self.input_size, crop_hook, self.inference_protocol)


@dataclass
class CropBatch:
    """Person crops of one or more images, ready for the network.

    crops: (N, h, w, 3) uint8 RGB model inputs (or, for crops cut on the device, an (N, 3, h, w)
    float32 tensor of grey levels 0..255 there). centers: (N, 2) box centres in image pixels.
    scales: (N, 2) box scales in units of 200 px (padded, x1.25); both in the inference
    protocol's dtype (float32 for `hrnet`). matrices: (N, 2, 3) float64 image -> crop affine
    matrices. A plain picklable value, so data-loader workers can build it.
    """

    crops: np.ndarray
    centers: np.ndarray
    scales: np.ndarray
    matrices: np.ndarray

    def __len__(self) -> int:
        return int(self.crops.shape[0])

    @staticmethod
    def concat(batches: Sequence[CropBatch], input_size: tuple[int, int]) -> CropBatch:
        """All crops of `batches`, in order (an empty batch of `input_size` when none)."""
        if not batches:
            return empty_crop_batch(input_size)
        if isinstance(batches[0].crops, torch.Tensor):
            crops = torch.cat([b.crops for b in batches])
        else:
            crops = np.concatenate([b.crops for b in batches])
        return CropBatch(crops,
                         np.concatenate([b.centers for b in batches]),
                         np.concatenate([b.scales for b in batches]),
                         np.concatenate([b.matrices for b in batches]))


def _on_device(batch: CropBatch, device: torch.device) -> CropBatch:
    """`batch` with its crops as an (N, 3, h, w) float32 tensor of grey levels on `device`
    (how device crops are held), so CPU-cut crops can join them in one network batch."""
    crops = batch.crops
    if not isinstance(crops, torch.Tensor):
        crops = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float()
    return CropBatch(crops.to(device), batch.centers, batch.scales, batch.matrices)


def empty_crop_batch(input_size: tuple[int, int]) -> CropBatch:
    w, h = input_size
    return CropBatch(np.zeros((0, h, w, 3), np.uint8), np.zeros((0, 2)), np.zeros((0, 2)),
                     np.zeros((0, 2, 3)))


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    return image


def _check_boxes(boxes: np.ndarray | None) -> np.ndarray:
    if boxes is None:
        raise ValueError("a top-down adapter needs person boxes (N, 4) xywh, got None")
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 4))
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must be (N, 4) xywh in image pixels, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"box {int(np.argwhere(~np.isfinite(arr))[0, 0])} has non-finite values")
    return arr


def make_crops(image: np.ndarray, boxes: np.ndarray, input_size: tuple[int, int],
               crop_hook: CropHook | None = None,
               inference_protocol: str | InferenceProtocol = DEFAULT_INFERENCE_PROTOCOL
               ) -> CropBatch:
    """Affine person crops of `image` (H, W, 3) uint8 RGB for `boxes` (N, 4) xywh image px.

    input_size: model input (width, height). Each box is padded to the input aspect ratio and
    enlarged 1.25x (`InferenceProtocol.center_scale`, at the protocol's precision), then warped
    with bilinear interpolation and a black border. crop_hook(i, crop, matrix) may replace
    crop i (occlusion attacks); it must return an array of the same shape and dtype.
    """
    image = _check_image(image)
    boxes = _check_boxes(boxes)
    protocol = get_inference_protocol(inference_protocol)
    w, h = int(input_size[0]), int(input_size[1])
    n = boxes.shape[0]
    if n == 0:
        return empty_crop_batch((w, h))
    centers, scales = protocol.center_scale(boxes, w / h)
    crops = np.empty((n, h, w, 3), np.uint8)
    matrices = np.empty((n, 2, 3))
    for i in range(n):
        m = protocol.affine(centers[i], scales[i], (w, h))
        crop = warp_crop(image, m, (w, h))
        if crop_hook is not None:
            out = crop_hook(i, crop, m)
            if not isinstance(out, np.ndarray) or out.shape != crop.shape or out.dtype != np.uint8:
                got = (f"{out.shape} {out.dtype}" if isinstance(out, np.ndarray)
                       else type(out).__name__)
                raise ValueError(f"crop_hook for box {i} must return a {crop.shape} uint8 crop, "
                                 f"got {got}")
            crop = out
        crops[i] = crop
        matrices[i] = m
    return CropBatch(crops, centers, scales, matrices)


def flip_back(heatmaps: torch.Tensor, flip_index: Sequence[int] | torch.Tensor,
              shift: bool = True) -> torch.Tensor:
    """Heatmaps (N, K, H, W) of horizontally flipped crops -> the unflipped frame: mirror the
    width, swap left/right channels (`flip_index[k]` is k's mirror partner) and, with `shift`,
    move everything 1 cell right (column 0 is kept), as the reference does for MSRA heatmaps."""
    idx = torch.as_tensor(np.asarray(flip_index), dtype=torch.long, device=heatmaps.device)
    out = torch.flip(heatmaps, dims=[3])[:, idx]
    if shift:
        out = torch.cat([out[..., :1], out[..., :-1]], dim=3)
    return out


def heatmap_to_image(coords: np.ndarray, centers: np.ndarray, scales: np.ndarray,
                     heatmap_size: tuple[int, int],
                     inference_protocol: str | InferenceProtocol = DEFAULT_INFERENCE_PROTOCOL
                     ) -> np.ndarray:
    """Heatmap-cell coordinates (N, K, 2) -> image pixels (float64) through the inverse affine
    of each person's box at heatmap resolution (`transform_preds` of the reference), at the
    inference protocol's precision. heatmap_size: (width, height) of the heatmaps."""
    protocol = get_inference_protocol(inference_protocol)
    out = np.empty(coords.shape, dtype=np.float64)
    for i in range(coords.shape[0]):
        inv = protocol.affine(centers[i], scales[i], heatmap_size, inv=True)
        out[i] = affine_points(coords[i], inv)
    return out


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


class TopDownHeatmapPipeline:
    """Everything of the top-down pipeline except the network call (`_run_network`).

    input_size: (width, height) of the model input. flip_index: (K,) left/right permutation
    (DatasetMeta.flip_index()); required when flip_test. batch_size: persons per network
    call (the flip test adds a call on the mirrored batch); halved and retried on CUDA
    out-of-memory. decode: "standard" or "dark". keypoint_order: optional keypoint names
    checked by the evaluator. device_crops: cut the crops on the device with `grid_sample`
    (adapters/device_crops.py) instead of OpenCV on the CPU; None (default): on for CUDA
    devices. Crops with a crop hook (crop-mode attacks) are always cut on the CPU.
    inference_protocol: name of the crop conventions (inference_protocol.py; default
    `hrnet`), kept as the attribute `inference_protocol` for summaries; the evaluator takes
    GT boxes with the same protocol.
    """

    bottom_up = False

    def __init__(self, input_size: tuple[int, int] = (192, 256),
                 flip_index: Sequence[int] | np.ndarray | None = None, device: str | None = None,
                 batch_size: int = 32, flip_test: bool = True, shift_heatmap: bool = True,
                 decode: str = "standard", keypoint_order: Sequence[str] | None = None,
                 num_keypoints: int | None = None, name: str | None = None,
                 mean: Sequence[float] = NORMALIZE_MEAN, std: Sequence[float] = NORMALIZE_STD,
                 inference_protocol: str = DEFAULT_INFERENCE_PROTOCOL,
                 device_crops: bool | None = None) -> None:
        self._protocol = get_inference_protocol(inference_protocol)
        self.inference_protocol = self._protocol.name
        if len(input_size) != 2 or min(int(v) for v in input_size) < 8:
            raise ValueError(f"input_size must be (width, height) >= 8 px, got {input_size}")
        if decode not in DECODERS:
            raise ValueError(f"unknown decoder {decode!r}; choose one of {', '.join(DECODERS)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if flip_test and flip_index is None:
            raise ValueError("the flip test needs the data set's left/right pairs: pass "
                             "flip_index=meta.flip_index(), or flip_test=False")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.flip_index = None if flip_index is None else np.asarray(flip_index, dtype=np.int64)
        if self.flip_index is not None and sorted(self.flip_index.tolist()) != list(
                range(len(self.flip_index))):
            raise ValueError(f"flip_index must be a permutation of 0..K-1, got {self.flip_index}")
        self.device = torch.device(device or default_device())
        self.batch_size = int(batch_size)
        self.flip_test = bool(flip_test)
        self.shift_heatmap = bool(shift_heatmap)
        self.decode = decode
        self.keypoint_order = tuple(keypoint_order) if keypoint_order is not None else None
        if num_keypoints is None and self.flip_index is not None:
            num_keypoints = len(self.flip_index)
        if num_keypoints is None and self.keypoint_order is not None:
            num_keypoints = len(self.keypoint_order)
        self.num_keypoints = num_keypoints
        self.name = name or type(self).__name__
        self._mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.device_crops = (self.device.type == "cuda") if device_crops is None else bool(
            device_crops)
        self.timings: dict[str, float] = {}

    # -- network ----------------------------------------------------------------------------
    def _run_network(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) normalised float on self.device -> (B, K, H, W) heatmaps."""
        raise AdapterError(f"{type(self).__name__} does not define a network")

    def _normalise(self, crops: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(N, h, w, 3) uint8 crops, or (N, 3, h, w) float grey levels already on the device
        (device crops) -> normalised (N, 3, h, w) float32 on the device."""
        if isinstance(crops, torch.Tensor):
            x = crops.to(self.device, torch.float32, copy=True)
            return x.div_(255.0).sub_(self._mean).div_(self._std)
        x = torch.from_numpy(np.ascontiguousarray(crops))
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        # Contiguous NCHW like the reference's ToTensor: a channels-last view would make
        # the convolutions take other kernels, whose sums round differently. One pass to
        # float NCHW, then in place: the values of ((x / 255) - mean) / std, half the time.
        x = x.permute(0, 3, 1, 2).to(torch.float32, memory_format=torch.contiguous_format)
        return x.div_(255.0).sub_(self._mean).div_(self._std)

    def _forward_chunk(self, crops: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = self._normalise(crops)
        if self.flip_test:
            # Two network calls, the batch and its mirror, as the reference test code.
            plain = self._run_network(x).float()
            flipped = self._run_network(torch.flip(x, dims=[3])).float()
            if flipped.shape[1] != len(self.flip_index):
                raise AdapterError(f"{self.name}: the network gives {flipped.shape[1]} heatmaps "
                                   f"but flip_index has {len(self.flip_index)} entries")
            return (plain + flip_back(flipped, self.flip_index, self.shift_heatmap)) * 0.5
        return self._run_network(x).float()

    def forward_crops(self, crops: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Crops (N, h, w, 3) uint8 (or device crops, see `_normalise`) -> flip-averaged
        heatmaps (N, K, H, W) float32 on the device, in chunks of `batch_size` (with the flip test: a network call for the chunk,
        one for its mirror); on CUDA out-of-memory the chunk is halved."""
        outs = []
        start = 0
        while start < len(crops):
            chunk = crops[start:start + self.batch_size]
            try:
                with torch.inference_mode():
                    outs.append(self._forward_chunk(chunk))
            except torch.cuda.OutOfMemoryError:
                if self.batch_size == 1:
                    raise
                self.batch_size = max(1, self.batch_size // 2)
                torch.cuda.empty_cache()
                logger.warning("%s: CUDA out of memory, batch size halved to %d", self.name,
                               self.batch_size)
                continue
            start += len(chunk)
        return torch.cat(outs) if outs else torch.zeros(0)

    # -- pipeline ---------------------------------------------------------------------------
    def make_crops(self, image: np.ndarray, boxes: np.ndarray,
                   crop_hook: CropHook | None = None) -> CropBatch:
        """Crops of one image at this adapter's input size (see module-level `make_crops`)."""
        return make_crops(image, boxes, self.input_size, crop_hook, self._protocol)

    def crop_spec(self) -> CropSpec | None:
        """How this adapter cuts its crops on the CPU, for worker processes to do it
        (`predict_crops` then takes their CropBatch); None when the crops are cut on the
        device (`device_crops`) or by an overridden `make_crops`."""
        if (getattr(self, "device_crops", False)
                or type(self).make_crops is not TopDownHeatmapPipeline.make_crops):
            return None
        return CropSpec(self.input_size, self._protocol)

    def make_device_crops(self, image: np.ndarray, boxes: np.ndarray) -> CropBatch:
        """Crops of one image cut on this adapter's device (adapters/device_crops.py): the
        same centres, scales and matrices as `make_crops`, crops as an (N, 3, h, w) float32
        tensor there."""
        from robustpose_bench.adapters.device_crops import image_to_device, warp_crops

        image = _check_image(image)
        boxes = _check_boxes(boxes)
        w, h = self.input_size
        if boxes.shape[0] == 0:
            return empty_crop_batch(self.input_size)
        centers, scales = self._protocol.center_scale(boxes, w / h)
        matrices = np.stack([self._protocol.affine(c, s, (w, h))
                             for c, s in zip(centers, scales, strict=True)])
        with torch.inference_mode():
            crops = warp_crops(image_to_device(image, self.device), matrices, (w, h))
        return CropBatch(crops, centers, scales, matrices)

    def _crops_of(self, image: np.ndarray, boxes: np.ndarray,
                  crop_hook: CropHook | None = None) -> CropBatch:
        """Device crops when enabled and no hook replaces crops; CPU crops otherwise."""
        if getattr(self, "device_crops", False) and crop_hook is None:
            return self.make_device_crops(image, boxes)
        return self.make_crops(image, boxes, crop_hook)

    def _k(self) -> int:
        if self.num_keypoints is None:
            w, h = self.input_size
            with torch.inference_mode():
                x = torch.zeros(1, 3, h, w, device=self.device)
                self.num_keypoints = int(self._run_network(x).shape[1])
        return self.num_keypoints

    def predict_crops(self, batch: CropBatch, return_heatmaps: bool = False
                      ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Keypoints (N, K, 3) float64 (x, y image px, confidence = heatmap max) for a
        CropBatch; with `return_heatmaps` also the (N, K, H, W) float32 heatmaps."""
        if len(batch) == 0:
            k = self._k()
            kp = np.zeros((0, k, 3))
            return (kp, np.zeros((0, k, 1, 1), np.float32)) if return_heatmaps else kp
        clock = time.process_time
        t0 = clock()
        hm = self.forward_crops(batch.crops)
        if hm.device.type == "cuda":
            torch.cuda.synchronize(hm.device)
        t1 = clock()
        kp = self.keypoints_from_heatmaps(hm, batch)
        self._count("model", t1 - t0)
        self._count("postprocess", clock() - t1)
        if return_heatmaps:
            return kp, hm.cpu().numpy()
        return kp

    def _count(self, stage: str, seconds: float) -> None:
        """Add to `timings`: CPU seconds of this adapter's stages (`warp`, `model`,
        `postprocess`) since it was made, read by the prediction step's time split."""
        timings = self.__dict__.setdefault("timings", {})
        timings[stage] = timings.get(stage, 0.0) + seconds

    def keypoints_from_heatmaps(self, hm: torch.Tensor, batch: CropBatch) -> np.ndarray:
        """The post-processing of `predict_crops`: heatmaps (N, K, H, W) of `batch` ->
        keypoints (N, K, 3) float64 (x, y image px, confidence = heatmap max)."""
        if self.num_keypoints is None:
            self.num_keypoints = int(hm.shape[1])
        coords, maxvals = decode_heatmaps(hm, self.decode)
        hsize = (int(hm.shape[3]), int(hm.shape[2]))
        xy = heatmap_to_image(coords.cpu().numpy(), batch.centers, batch.scales, hsize,
                              self._protocol)
        return np.concatenate([xy, maxvals.double().cpu().numpy()[..., None]], axis=-1)

    def predict(self, image: np.ndarray, boxes: np.ndarray,
                crop_hook: CropHook | None = None) -> np.ndarray:
        """(N, K, 3) keypoints for `boxes` (N, 4) xywh of `image` (H, W, 3) uint8 RGB."""
        return self.predict_crops(self._crops_of(image, boxes, crop_hook))

    def predict_batch(self, items: Sequence[tuple], crop_hook: CropHook | None = None
                      ) -> list[np.ndarray]:
        """Persons of several images in shared network batches.

        items: (image, boxes) or (image, boxes, crop_hook) tuples; a per-item hook overrides
        `crop_hook`. Returns one (N_i, K, 3) array per item, in order.
        """
        batches = []
        t0 = time.process_time()
        for item in items:
            if len(item) not in (2, 3):
                raise ValueError("predict_batch items must be (image, boxes) or "
                                 "(image, boxes, crop_hook)")
            hook = item[2] if len(item) == 3 else crop_hook
            batches.append(self._crops_of(item[0], item[1], hook))
        if any(isinstance(b.crops, torch.Tensor) for b in batches):
            batches = [_on_device(b, self.device) for b in batches]
        self._count("warp", time.process_time() - t0)
        kp = self.predict_crops(CropBatch.concat(batches, self.input_size))
        bounds = np.cumsum([0] + [len(b) for b in batches])
        return [kp[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def heatmaps(self, image: np.ndarray, boxes: np.ndarray,
                 crop_hook: CropHook | None = None) -> np.ndarray:
        """Flip-averaged heatmaps (N, K, H, W) float32 (crop frame, heatmap cells)."""
        return self.predict_crops(self._crops_of(image, boxes, crop_hook), True)[1]

    def predict_with_heatmaps(self, image: np.ndarray, boxes: np.ndarray,
                              crop_hook: CropHook | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (N, K, 3) and heatmaps (N, K, H, W) from one network pass."""
        return self.predict_crops(self._crops_of(image, boxes, crop_hook), True)


class HeatmapTopDownAdapter(TopDownHeatmapPipeline):
    """Top-down adapter around a torch heatmap network.

    model: nn.Module mapping (B, 3, h, w) ImageNet-normalised RGB to (B, K, h/s, w/s) heatmaps
    (a list/tuple output uses its last element). Runs under torch.inference_mode, on CUDA with
    float16 autocast when `amp` (default: on for CUDA), on CPU otherwise. Other arguments: see
    TopDownHeatmapPipeline.
    """

    def __init__(self, model: nn.Module, input_size: tuple[int, int] = (192, 256),
                 flip_index: Sequence[int] | np.ndarray | None = None, device: str | None = None,
                 batch_size: int = 32, flip_test: bool = True, shift_heatmap: bool = True,
                 decode: str = "standard", amp: bool | None = None,
                 keypoint_order: Sequence[str] | None = None, name: str | None = None,
                 method: str | None = None, **kwargs) -> None:
        if not isinstance(model, nn.Module):
            raise AdapterError(f"HeatmapTopDownAdapter needs a torch nn.Module, got "
                               f"{type(model).__name__}")
        k = getattr(model, "num_keypoints", None)
        super().__init__(input_size, flip_index, device, batch_size, flip_test, shift_heatmap,
                         decode, keypoint_order, k if isinstance(k, int) else None,
                         name or getattr(model, "zoo_name", None) or type(model).__name__,
                         **kwargs)
        if self.flip_index is not None and isinstance(k, int) and len(self.flip_index) != k:
            raise ValueError(f"flip_index has {len(self.flip_index)} entries but the model "
                             f"predicts {k} keypoints")
        self.model = model.to(self.device)
        try:
            self.model.eval()
        except NotImplementedError:  # torch.export modules keep the mode they were exported in
            logger.debug("%s: eval() not supported (exported module); used as exported", self.name)
        self.amp = (self.device.type == "cuda") if amp is None else bool(amp)
        self.num_params = sum(p.numel() for p in model.parameters())
        self.method = method
        zoo = getattr(model, "zoo_name", None)
        self.backbone = None
        if zoo is not None:
            from robustpose_bench.models import get_model_info

            self.backbone = get_model_info(zoo).backbone

    def _run_network(self, x: torch.Tensor) -> torch.Tensor:
        if self.amp and self.device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.float16):
                out = self.model(x)
        else:
            out = self.model(x)
        if isinstance(out, (list, tuple)):
            out = out[-1]
        if not isinstance(out, torch.Tensor) or out.ndim != 4:
            raise AdapterError(f"{self.name}: the network must return (B, K, H, W) heatmaps, got "
                               f"{getattr(out, 'shape', type(out).__name__)}")
        return out


class CentreHeatmapAdapter(TopDownHeatmapPipeline):
    """A model-free top-down adapter: every heatmap peaks at the crop centre, so each
    person's keypoints land on its box centre (confidence 1). Everything around the network
    runs as for a real model (crops, normalisation, flip test, decoding, back to image
    pixels), so a sweep with it measures the pipeline's own ceiling (benchmarks/pipeline.py;
    `--model robustpose_bench.adapters.topdown:CentreHeatmapAdapter`).

    meta: the data set's keypoint layout (K, flip pairs; default the 17 COCO keypoints).
    input_size: (width, height) or "WxH"; heatmaps are a quarter of it. Other arguments as
    TopDownHeatmapPipeline.
    """

    def __init__(self, meta: Any = None, input_size: tuple[int, int] | str = (192, 256),
                 device: str | None = None, batch_size: int = 32, flip_test: bool = True,
                 **kwargs: Any) -> None:
        from robustpose_bench.adapters.args import parse_input_size
        from robustpose_bench.datasets.meta import COCO

        meta = meta or COCO
        kwargs.setdefault("name", "centre-heatmap")
        super().__init__(parse_input_size(input_size), meta.flip_index(), device or "cpu",
                         batch_size, flip_test, keypoint_order=meta.keypoint_names,
                         num_keypoints=meta.num_keypoints, **kwargs)
        self.num_params = 0

    def _run_network(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        hm = x.new_zeros((n, int(self.num_keypoints), h // 4, w // 4))
        hm[:, :, (h // 4) // 2, (w // 4) // 2] = 1.0
        return hm
