"""Named inference protocols: the conventions that turn a person box into the model's crop.

Scoring a submitted checkpoint must give the numbers its reference code gives; the
reference test pipelines differ in details that move keypoints (docs/protocol.md,
"Inference protocol"). A protocol fixes
- the GT-box convention: annotation box (xywh) + image size + annotation area -> the box
  that is cropped, or None when that reference drops the person;
- the geometry precision: the dtype of box centre / scale and of the crop affine
  (float32 in both references).
Detected boxes are used as given by every protocol. Flip test and heatmap decoding are the
HRNet reference's in every protocol (adapters/topdown.py).

`hrnet` (default): deep-high-resolution-net.pytorch / SimpleBaseline / AdvMix test code:
`clean_bbox` GT boxes, float32 `_xywh2cs` + `get_affine_transform`.
`mmpose`: MMPose 1.x box handling (corners clipped to the image, float32 xyxy), with the
same float32 crop geometry.

A new protocol is one `register_inference_protocol(InferenceProtocol(...))` call here.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from robustpose_bench.geometry import (
    box_to_center_scale,
    clean_bbox,
    clip_bbox_xyxy,
    get_affine_transform,
)

DEFAULT_INFERENCE_PROTOCOL = "hrnet"

#: (bbox (4,) xywh image px, image width, image height, annotation area or None)
#: -> cropped box (4,) xywh float64, or None when the person gets no GT box.
GtBoxRule = Callable[[np.ndarray, int, int, "float | None"], "np.ndarray | None"]


@dataclass(frozen=True)
class InferenceProtocol:
    """One named set of test-pipeline conventions (see the module docstring).

    name: the id recorded in summary.json and leaderboard rows. gt_box: the GT-box rule.
    dtype: np.float32 or np.float64, precision of centre, scale and crop affine.
    description: one line for docs and CLI help.
    """

    name: str
    gt_box: GtBoxRule
    dtype: type
    description: str

    def __post_init__(self) -> None:
        if np.dtype(self.dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"inference protocol {self.name!r}: dtype must be float32 or "
                             f"float64, got {self.dtype}")

    def center_scale(self, boxes_xywh: np.ndarray, aspect_ratio: float
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (..., 4) xywh image px -> centres (..., 2) image px and scales (..., 2) in
        units of 200 px (padded to `aspect_ratio`, x1.25), in this protocol's dtype."""
        return box_to_center_scale(boxes_xywh, aspect_ratio, dtype=self.dtype)

    def affine(self, center: np.ndarray, scale: np.ndarray, output_size: tuple[int, int],
               inv: bool = False) -> np.ndarray:
        """2x3 float64 matrix image -> crop of `output_size` (width, height), or crop ->
        image with `inv`, computed at this protocol's precision."""
        return get_affine_transform(center, scale, 0.0, output_size, inv=inv, dtype=self.dtype)


INFERENCE_PROTOCOLS: dict[str, InferenceProtocol] = {}


def register_inference_protocol(protocol: InferenceProtocol) -> InferenceProtocol:
    """Add `protocol` to the registry; its name must be new."""
    if protocol.name in INFERENCE_PROTOCOLS:
        raise ValueError(f"inference protocol {protocol.name!r} is already registered")
    INFERENCE_PROTOCOLS[protocol.name] = protocol
    return protocol


def inference_protocol_names() -> tuple[str, ...]:
    """Registered protocol names, default first."""
    return tuple(INFERENCE_PROTOCOLS)


def get_inference_protocol(protocol: str | InferenceProtocol | None = None) -> InferenceProtocol:
    """The protocol named `protocol` (None: the default); an InferenceProtocol is returned
    as is. Unknown names raise ValueError listing the choices."""
    if protocol is None:
        protocol = DEFAULT_INFERENCE_PROTOCOL
    if isinstance(protocol, InferenceProtocol):
        return protocol
    if not isinstance(protocol, str) or protocol not in INFERENCE_PROTOCOLS:
        raise ValueError(f"unknown inference protocol {protocol!r}; choose one of "
                         f"{', '.join(INFERENCE_PROTOCOLS)}")
    return INFERENCE_PROTOCOLS[protocol]


register_inference_protocol(InferenceProtocol(
    name="hrnet", gt_box=clean_bbox, dtype=np.float32,
    description="HRNet / SimpleBaseline reference test code: clean_bbox GT boxes (1 px "
                "smaller, clipped to the last pixel), float32 centre/scale and crop affine"))
register_inference_protocol(InferenceProtocol(
    name="mmpose", gt_box=clip_bbox_xyxy, dtype=np.float32,
    description="MMPose 1.x box handling: GT box corners x, x+w clipped to [0, W-1] as "
                "float32 xyxy; float32 crop geometry"))
