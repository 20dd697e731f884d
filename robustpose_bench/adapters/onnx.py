"""ONNX Runtime back ends: the top-down heatmap pipeline on an ONNX graph, the export of zoo
models to ONNX (issue 6, part 4), and the choice of adapter for any `.onnx` file from its
outputs: heatmaps, SimCC vectors (RTMPose / DWPose / RTMW, `adapters.simcc`) or RTMO's
detections + keypoints (bottom-up, `adapters.rtmo`) (issue 13, part 2). Optional extra
`robustpose-bench[onnx]`.

The heatmap graph takes (B, 3, h, w) float32 ImageNet-normalised RGB and returns (B, K, H, W)
heatmaps; cropping, flip test and decoding are the same code as the torch adapter.
"""
from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from robustpose_bench.adapters.args import parse_input_size
from robustpose_bench.adapters.base import AdapterError
from robustpose_bench.adapters.keypoint_order import (
    KeypointMapping,
    flip_index_by_name,
    model_to_dataset,
)
from robustpose_bench.adapters.topdown import CropBatch, TopDownHeatmapPipeline
from robustpose_bench.inference_protocol import DEFAULT_INFERENCE_PROTOCOL
from robustpose_bench.io import atomic_write_bytes

logger = logging.getLogger(__name__)

ONNX_KINDS = ("heatmap", "simcc", "rtmo")


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise AdapterError("ONNX models need onnxruntime: pip install 'robustpose-bench[onnx]'"
                           ) from None
    return onnxruntime


def open_session(path: str | Path, device: str | None = None, threads: int = 0) -> Any:
    """An onnxruntime InferenceSession for `path` (CUDA provider first when `device` is cuda
    and onnxruntime has it). Raises AdapterError naming the file when it cannot be loaded."""
    ort = _onnxruntime()
    path = Path(path)
    if not path.is_file():
        raise AdapterError(f"ONNX model {path} does not exist")
    providers = ["CPUExecutionProvider"]
    if device is not None and str(device).startswith("cuda"):
        if "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        else:
            logger.warning("onnxruntime has no CUDA provider here: running %s on CPU", path)
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AdapterError(f"ONNX model {path}: cannot be loaded ({msg})") from exc


def static_dim(value: Any) -> int | None:
    """An ONNX tensor dimension as int, None when symbolic / unknown."""
    return int(value) if isinstance(value, int) and value > 0 else None


def model_input_size(session: Any, path: str | Path, input_size: Any = None) -> tuple[int, int]:
    """(width, height) of the network input: `input_size` when given (a pair or `WxH`), else
    the static spatial size of the graph's first (B, 3, H, W) input; AdapterError when the
    graph leaves it symbolic."""
    if input_size is None:
        inp = session.get_inputs()[0]
        shape = list(inp.shape)
        h, w = (static_dim(v) for v in (shape[2:4] if len(shape) == 4 else (None, None)))
        if h is None or w is None:
            raise AdapterError(f"ONNX model {path}: input {inp.name} has shape {shape}; "
                               "pass --model-arg input_size=WxH")
        return w, h
    if isinstance(input_size, str):
        input_size = parse_input_size(input_size)
    return int(input_size[0]), int(input_size[1])


def onnx_kind(session: Any, path: str | Path = "model") -> str:
    """Which adapter fits a session, from its outputs: `heatmap` (one (B, K, H, W) output),
    `simcc` (two (B, K, W) outputs with the same K) or `rtmo` (detections (B, N, 5) and
    keypoints (B, N, K, 3)). Raises AdapterError describing the outputs otherwise."""
    outs = session.get_outputs()
    shapes = [list(o.shape) for o in outs]
    if len(outs) == 1 and len(shapes[0]) == 4:
        return "heatmap"
    if len(outs) == 2 and [len(s) for s in shapes] == [3, 3]:
        kx, ky = static_dim(shapes[0][1]), static_dim(shapes[1][1])
        if kx is None or ky is None or kx == ky:
            return "simcc"
    if len(outs) == 2 and sorted(len(s) for s in shapes) == [3, 4]:
        return "rtmo"
    desc = ", ".join(f"{o.name} {list(o.shape)}" for o in outs)
    raise AdapterError(f"ONNX model {path}: outputs {desc} fit none of the known kinds "
                       "(heatmaps (B, K, H, W); SimCC x/y (B, K, Wx), (B, K, Wy); RTMO "
                       "dets (B, N, 5) + keypoints (B, N, K, 3))")


def run_batched(session: Any, x: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Run a one-input session on `x` (B, ...) float32 in chunks of `batch_size`; a graph
    with a fixed batch dimension gets chunks of that size, the last one zero-padded.
    Returns every output, concatenated over the chunks."""
    inp = session.get_inputs()[0]
    fixed = static_dim(inp.shape[0]) if inp.shape else None
    step = fixed or max(1, int(batch_size))
    parts: list[list[np.ndarray]] = []
    for i in range(0, x.shape[0], step):
        part = np.ascontiguousarray(x[i:i + step], dtype=np.float32)
        n = part.shape[0]
        if fixed is not None and n < fixed:
            part = np.concatenate([part, np.zeros((fixed - n, *part.shape[1:]), part.dtype)])
        parts.append([o[:n] for o in session.run(None, {inp.name: part})])
    if not parts:
        return []
    return [np.concatenate(group) for group in zip(*parts, strict=True)]


def export_onnx(model: nn.Module, path: str | Path, input_size: tuple[int, int],
                opset: int = 17, dynamic_batch: bool = True) -> Path:
    """Export a heatmap network to ONNX (input "input" (B, 3, h, w), output "heatmaps"),
    written atomically. input_size: (width, height). Uses the TorchScript exporter (no extra
    dependency); the batch axis is dynamic unless `dynamic_batch=False`."""
    w, h = int(input_size[0]), int(input_size[1])
    device = next(model.parameters(), torch.zeros(0)).device
    was_training = model.training
    model.eval()
    buf = io.BytesIO()
    axes = {"input": {0: "batch"}, "heatmaps": {0: "batch"}} if dynamic_batch else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.zeros(1, 3, h, w, device=device),), buf,
                              input_names=["input"], output_names=["heatmaps"],
                              dynamic_axes=axes, opset_version=opset, dynamo=False)
    finally:
        model.train(was_training)
    return atomic_write_bytes(path, buf.getvalue())


class OnnxTopDownAdapter(TopDownHeatmapPipeline):
    """Top-down adapter running an ONNX heatmap network with ONNX Runtime.

    path: the .onnx file. input_size: (width, height); read from the graph when its input
    has static height and width. flip_index: left/right permutation in the model's order;
    taken from `meta` (or from the names of `keypoint_order`) when omitted. keypoint_order:
    the model's keypoint order when it is not the data set's (a known order such as `mpii`
    or a list of names); the output is mapped to the data set's order by name. device:
    "cuda" uses the CUDA execution provider when onnxruntime has it. inference_protocol: the
    crop conventions (inference_protocol.py, default `hrnet`). Other arguments as
    HeatmapTopDownAdapter.
    """

    def __init__(self, path: str | Path, input_size: tuple[int, int] | None = None,
                 flip_index: Sequence[int] | None = None, meta: Any = None,
                 device: str | None = None, batch_size: int = 32, flip_test: bool = True,
                 shift_heatmap: bool = True, decode: str = "standard",
                 name: str | None = None, method: str | None = None,
                 threads: int = 0, keypoint_order: Any = None,
                 inference_protocol: str = DEFAULT_INFERENCE_PROTOCOL) -> None:
        path = Path(path)
        self.session = open_session(path, device, threads)
        self._input_name = self.session.get_inputs()[0].name
        input_size = model_input_size(self.session, path, input_size)
        out_shape = self.session.get_outputs()[0].shape
        k = out_shape[1] if len(out_shape) == 4 and isinstance(out_shape[1], int) else None
        self.mapping: KeypointMapping | None = None
        order = meta.keypoint_names if meta is not None else None
        if keypoint_order is not None and k is not None:
            names, self.mapping = model_to_dataset(None, k, meta, keypoint_order,
                                                   f"ONNX model {path.name}")
            if flip_index is None:
                flip_index = flip_index_by_name(names)
        elif flip_index is None and meta is not None:
            flip_index = meta.flip_index()
        super().__init__(tuple(input_size), flip_index, "cpu", batch_size, flip_test,
                         shift_heatmap, decode, keypoint_order=None if self.mapping else order,
                         num_keypoints=None if self.mapping else k, name=name or path.name,
                         inference_protocol=inference_protocol)
        if self.mapping is not None:
            self.keypoint_order = self.mapping.target
            self.num_keypoints = len(self.mapping.target)
        self.path = path
        self.method = method
        self.num_params = None
        self.backbone = None
        self._static_batch = static_dim(self.session.get_inputs()[0].shape[0])

    def _k(self) -> int:
        if self.mapping is not None:
            return len(self.mapping.source)
        return super()._k()

    def predict_crops(self, batch: CropBatch, return_heatmaps: bool = False
                      ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """As TopDownHeatmapPipeline.predict_crops; keypoints in the data set's order (the
        heatmaps stay in the model's order)."""
        if self.mapping is None:
            return super().predict_crops(batch, return_heatmaps)
        out = super().predict_crops(batch, return_heatmaps)  # model order (`_k` when empty)
        if return_heatmaps:
            return self.mapping.apply(out[0]), out[1]
        return self.mapping.apply(out)

    def _run_network(self, x: torch.Tensor) -> torch.Tensor:
        arr = x.detach().cpu().numpy().astype(np.float32, copy=False)
        out = run_batched(self.session, arr, arr.shape[0])[0]
        if out.ndim != 4:
            raise AdapterError(f"{self.name}: the ONNX graph must output (B, K, H, W) heatmaps, "
                               f"got shape {out.shape}")
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))
