"""ONNX Runtime back end of the top-down heatmap pipeline, and the export of zoo models to
ONNX (issue 6, part 4; optional extra `robustpose-bench[onnx]`).

The ONNX graph takes (B, 3, h, w) float32 ImageNet-normalised RGB and returns (B, K, H, W)
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
from robustpose_bench.adapters.topdown import TopDownHeatmapPipeline
from robustpose_bench.io import atomic_write_bytes

logger = logging.getLogger(__name__)


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise AdapterError("ONNX models need onnxruntime: pip install 'robustpose-bench[onnx]'"
                           ) from None
    return onnxruntime


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
    has static height and width. flip_index: left/right permutation; taken from `meta` when
    omitted. device: "cuda" uses the CUDA execution provider when onnxruntime has it.
    Other arguments as HeatmapTopDownAdapter.
    """

    def __init__(self, path: str | Path, input_size: tuple[int, int] | None = None,
                 flip_index: Sequence[int] | None = None, meta: Any = None,
                 device: str | None = None, batch_size: int = 32, flip_test: bool = True,
                 shift_heatmap: bool = True, decode: str = "standard",
                 name: str | None = None, method: str | None = None,
                 threads: int = 0) -> None:
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
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise AdapterError(f"ONNX model {path}: cannot be loaded ({exc})") from exc
        inp = self.session.get_inputs()[0]
        self._input_name = inp.name
        shape = list(inp.shape)
        if input_size is None:
            if len(shape) != 4 or not all(isinstance(v, int) for v in shape[2:]):
                raise AdapterError(f"ONNX model {path}: input {inp.name} has shape {shape}; "
                                   "pass input_size=WxH")
            input_size = (shape[3], shape[2])
        elif isinstance(input_size, str):
            input_size = parse_input_size(input_size)
        if flip_index is None and meta is not None:
            flip_index = meta.flip_index()
        out_shape = self.session.get_outputs()[0].shape
        k = out_shape[1] if len(out_shape) == 4 and isinstance(out_shape[1], int) else None
        super().__init__(tuple(input_size), flip_index, "cpu", batch_size, flip_test,
                         shift_heatmap, decode,
                         keypoint_order=meta.keypoint_names if meta is not None else None,
                         num_keypoints=k, name=name or path.name)
        self.path = path
        self.method = method
        self.num_params = None
        self.backbone = None
        self._static_batch = shape[0] if isinstance(shape[0], int) else None

    def _run_network(self, x: torch.Tensor) -> torch.Tensor:
        arr = x.detach().cpu().numpy().astype(np.float32, copy=False)
        b = self._static_batch
        if b is not None and arr.shape[0] != b:
            outs = []
            for i in range(0, arr.shape[0], b):
                part = arr[i:i + b]
                n = part.shape[0]
                if n < b:  # pad the last chunk of a fixed-batch graph
                    part = np.concatenate([part, np.zeros((b - n, *part.shape[1:]), part.dtype)])
                outs.append(self.session.run(None, {self._input_name: part})[0][:n])
            out = np.concatenate(outs)
        else:
            out = self.session.run(None, {self._input_name: arr})[0]
        if out.ndim != 4:
            raise AdapterError(f"{self.name}: the ONNX graph must output (B, K, H, W) heatmaps, "
                               f"got shape {out.shape}")
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))
