"""Inference adapters: the contract any pose model meets to be scored (`base`), the built-in
top-down heatmap pipeline (`topdown`), loading from CLI specs (`loading`), ONNX Runtime
(`onnx`) and MMPose (`mmpose`) back ends (issue 6)."""
from robustpose_bench.adapters.base import (
    AdapterError,
    AdapterOutputError,
    BatchTopDownAdapter,
    BottomUpAdapter,
    CropHook,
    HeatmapAdapter,
    TopDownAdapter,
    check_bottom_up_output,
    check_output,
    describe_adapter,
    is_bottom_up,
    validate_adapter,
)

__all__ = ["AdapterError", "AdapterOutputError", "BatchTopDownAdapter", "BottomUpAdapter",
           "CropHook", "HeatmapAdapter", "TopDownAdapter", "check_bottom_up_output",
           "check_output", "describe_adapter", "is_bottom_up", "validate_adapter"]
