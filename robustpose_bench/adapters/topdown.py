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
from collections.abc import Sequence
from dataclasses import dataclass

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

@dataclass
class CropBatch:
    """Person crops of one or more images, ready for the network.

    crops: (N, h, w, 3) uint8 RGB model inputs. centers: (N, 2) box centres in image pixels.
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
        return CropBatch(np.concatenate([b.crops for b in batches]),
                         np.concatenate([b.centers for b in batches]),
                         np.concatenate([b.scales for b in batches]),
                         np.concatenate([b.matrices for b in batches]))


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
    checked by the evaluator.
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
                 inference_protocol: str = DEFAULT_INFERENCE_PROTOCOL) -> None:
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

    # -- network ----------------------------------------------------------------------------
    def _run_network(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) normalised float on self.device -> (B, K, H, W) heatmaps."""
        raise AdapterError(f"{type(self).__name__} does not define a network")

    def _normalise(self, crops: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(crops))
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        # Contiguous NCHW like the reference's ToTensor: a channels-last view would make
        # the convolutions take other kernels, whose sums round differently.
        x = x.permute(0, 3, 1, 2).contiguous().float().div_(255.0)
        return (x - self._mean) / self._std

    def _forward_chunk(self, crops: np.ndarray) -> torch.Tensor:
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

    def forward_crops(self, crops: np.ndarray) -> torch.Tensor:
        """Crops (N, h, w, 3) uint8 -> flip-averaged heatmaps (N, K, H, W) float32 on the
        device, in chunks of `batch_size` (with the flip test: a network call for the chunk,
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
        hm = self.forward_crops(batch.crops)
        if self.num_keypoints is None:
            self.num_keypoints = int(hm.shape[1])
        coords, maxvals = decode_heatmaps(hm, self.decode)
        hsize = (int(hm.shape[3]), int(hm.shape[2]))
        xy = heatmap_to_image(coords.cpu().numpy(), batch.centers, batch.scales, hsize,
                              self._protocol)
        kp = np.concatenate([xy, maxvals.double().cpu().numpy()[..., None]], axis=-1)
        if return_heatmaps:
            return kp, hm.cpu().numpy()
        return kp

    def predict(self, image: np.ndarray, boxes: np.ndarray,
                crop_hook: CropHook | None = None) -> np.ndarray:
        """(N, K, 3) keypoints for `boxes` (N, 4) xywh of `image` (H, W, 3) uint8 RGB."""
        return self.predict_crops(self.make_crops(image, boxes, crop_hook))

    def predict_batch(self, items: Sequence[tuple], crop_hook: CropHook | None = None
                      ) -> list[np.ndarray]:
        """Persons of several images in shared network batches.

        items: (image, boxes) or (image, boxes, crop_hook) tuples; a per-item hook overrides
        `crop_hook`. Returns one (N_i, K, 3) array per item, in order.
        """
        batches = []
        for item in items:
            if len(item) not in (2, 3):
                raise ValueError("predict_batch items must be (image, boxes) or "
                                 "(image, boxes, crop_hook)")
            hook = item[2] if len(item) == 3 else crop_hook
            batches.append(self.make_crops(item[0], item[1], hook))
        kp = self.predict_crops(CropBatch.concat(batches, self.input_size))
        bounds = np.cumsum([0] + [len(b) for b in batches])
        return [kp[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def heatmaps(self, image: np.ndarray, boxes: np.ndarray,
                 crop_hook: CropHook | None = None) -> np.ndarray:
        """Flip-averaged heatmaps (N, K, H, W) float32 (crop frame, heatmap cells)."""
        return self.predict_crops(self.make_crops(image, boxes, crop_hook), True)[1]

    def predict_with_heatmaps(self, image: np.ndarray, boxes: np.ndarray,
                              crop_hook: CropHook | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (N, K, 3) and heatmaps (N, K, H, W) from one network pass."""
        return self.predict_crops(self.make_crops(image, boxes, crop_hook), True)


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
