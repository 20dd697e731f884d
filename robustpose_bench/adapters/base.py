"""The inference adapter contract: what any pose model must provide to be scored by
`robustpose evaluate`, and the checks applied to what it returns (issue 6, parts 1 and 7).

Top-down: `predict(image, boxes) -> (N, K, 3)`; bottom-up: `bottom_up = True` and
`predict(image, None) -> (keypoints (M, K, 3), scores (M,))`. Everything is in image pixels,
x first, 0-based; images are HxWx3 uint8 RGB. See docs/adapters.md for a complete example.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

# crop_hook(index, crop, matrix) -> crop. index: the box's row in `boxes`; crop: (h, w, 3) uint8
# RGB model input before normalisation; matrix: (2, 3) image -> crop affine. The hook returns
# the (modified) crop with the same shape and dtype; the occlusion attacks (crop mode) use it.
CropHook = Callable[[int, np.ndarray, np.ndarray], np.ndarray]


class AdapterError(ValueError):
    """An adapter that cannot be loaded or does not follow the contract."""


class AdapterOutputError(AdapterError):
    """An adapter returned something malformed: names the adapter and the first bad sample."""


@runtime_checkable
class TopDownAdapter(Protocol):
    """Minimal top-down adapter.

    predict(image, boxes): image (H, W, 3) uint8 RGB; boxes (N, 4) float xywh in image pixels
    (N may be 0). Returns (N, K, 3) float: x, y in image pixels and a confidence (higher is
    better; used for the COCO rescoring). Row i belongs to box i.

    Optional members the evaluator uses when present:
    - predict_batch(items) -> list of (N_i, K, 3): items is a list of (image, boxes) pairs,
      possibly from different images; lets the adapter batch persons across images.
    - heatmaps(image, boxes) -> (N, K, h, w) float: for the heatmap stability statistics.
    - num_keypoints: int and keypoint_order: sequence of keypoint names, checked against the
      data set before any image is processed.
    - a `crop_hook` keyword of predict / predict_batch (see CropHook) for crop-mode attacks.
    - name, input_size ((w, h)), num_params, backbone, method: reported in summary.json.
    """

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class BatchTopDownAdapter(TopDownAdapter, Protocol):
    """A top-down adapter that also batches across images."""

    def predict_batch(self, items: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]: ...


@runtime_checkable
class HeatmapAdapter(Protocol):
    """An adapter that exposes its (flip-averaged) heatmaps, (N, K, h, w) float32."""

    def heatmaps(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class BottomUpAdapter(Protocol):
    """Bottom-up adapter: class attribute `bottom_up = True`.

    predict(image, None) -> (keypoints, scores): keypoints (M, K, 3) float (x, y, confidence)
    in image pixels for the M people found, scores (M,) float per-person scores (the COCO
    result `score`). M may be 0.
    """

    bottom_up: bool

    def predict(self, image: np.ndarray, boxes: None) -> tuple[np.ndarray, np.ndarray]: ...


def adapter_name(adapter: Any) -> str:
    """Display name: the adapter's `name` attribute, else its class name."""
    name = getattr(adapter, "name", None)
    return str(name) if name else type(adapter).__name__


def is_bottom_up(adapter: Any) -> bool:
    """True when the adapter declares `bottom_up = True`."""
    return getattr(adapter, "bottom_up", False) is True


def supports_batch(adapter: Any) -> bool:
    return callable(getattr(adapter, "predict_batch", None))


def supports_heatmaps(adapter: Any) -> bool:
    return callable(getattr(adapter, "heatmaps", None))


def supports_crop_hook(adapter: Any, method: str = "predict") -> bool:
    """True when `adapter.<method>` accepts a `crop_hook` keyword."""
    fn = getattr(adapter, method, None)
    if not callable(fn):
        return False
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "crop_hook" in params


def validate_adapter(adapter: Any, num_keypoints: int | None = None,
                     keypoint_names: Sequence[str] | None = None) -> None:
    """Check an adapter before use: a callable `predict`, and when it declares them,
    `num_keypoints` / `keypoint_order` equal to the data set's. Raises AdapterError."""
    name = adapter_name(adapter)
    if not callable(getattr(adapter, "predict", None)):
        raise AdapterError(f"adapter {name} has no predict(image, boxes) method")
    declared = getattr(adapter, "num_keypoints", None)
    if num_keypoints is not None and declared is not None and int(declared) != num_keypoints:
        raise AdapterError(f"adapter {name} predicts {declared} keypoints but the data set has "
                           f"{num_keypoints}")
    order = getattr(adapter, "keypoint_order", None)
    if keypoint_names is not None and order is not None:
        order = [str(k) for k in order]
        names = list(keypoint_names)
        if order != names:
            if len(order) != len(names):
                raise AdapterError(f"adapter {name} has {len(order)} keypoints in keypoint_order, "
                                   f"the data set {len(names)}")
            i = next(i for i, (a, b) in enumerate(zip(order, names, strict=True)) if a != b)
            hint = (" (same names in another order: reorder the output)"
                    if sorted(order) == sorted(names) else "")
            raise AdapterError(f"adapter {name}: keypoint {i} is {order[i]!r} but the data set "
                               f"expects {names[i]!r}{hint}")


def _as_array(out: Any) -> np.ndarray:
    if hasattr(out, "detach") and hasattr(out, "cpu"):  # torch tensors without importing torch
        out = out.detach().cpu().numpy()
    return np.asarray(out, dtype=np.float64)


def check_output(adapter: str, sample_ref: str, out: Any, expected_n: int | None,
                 num_keypoints: int) -> np.ndarray:
    """Validate one top-down (or bottom-up keypoint) result; returns it as (N, K, 3) float64.

    adapter: display name; sample_ref: which sample (e.g. "image 397133 (000000397133.jpg)");
    expected_n: number of boxes given (None for bottom-up). Raises AdapterOutputError for a
    wrong shape, a wrong K, or NaN / inf values, naming the adapter, the sample and the first
    bad person and keypoint.
    """
    where = f"adapter {adapter}, {sample_ref}"
    try:
        arr = _as_array(out)
    except (TypeError, ValueError) as exc:
        raise AdapterOutputError(f"{where}: output is not a numeric array ({exc})") from None
    n_txt = "N" if expected_n is None else str(expected_n)
    want = f"({n_txt}, {num_keypoints}, 3) array of (x, y, confidence) in image pixels"
    if arr.size == 0 and (expected_n in (0, None)):
        return np.zeros((0, num_keypoints, 3))
    if arr.ndim != 3:
        raise AdapterOutputError(f"{where}: expected a {want}, got shape {arr.shape}")
    if expected_n is not None and arr.shape[0] != expected_n:
        raise AdapterOutputError(f"{where}: {expected_n} boxes given but {arr.shape[0]} "
                                 f"predictions returned (expected a {want})")
    if arr.shape[1] != num_keypoints:
        raise AdapterOutputError(f"{where}: {arr.shape[1]} keypoints per person, the data set "
                                 f"has {num_keypoints} (expected a {want})")
    if arr.shape[2] != 3:
        raise AdapterOutputError(f"{where}: last axis has {arr.shape[2]} values, expected 3 "
                                 "(x, y, confidence)")
    bad = ~np.isfinite(arr)
    if bad.any():
        p, k, c = (int(v) for v in np.argwhere(bad)[0])
        what = ("x", "y", "confidence")[c]
        raise AdapterOutputError(f"{where}: person {p}, keypoint {k}: {what} is {arr[p, k, c]} "
                                 f"({int(bad.any(axis=2).sum())} non-finite keypoint(s) in all)")
    return arr


def check_bottom_up_output(adapter: str, sample_ref: str, out: Any,
                           num_keypoints: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate a bottom-up result `(keypoints (M, K, 3), scores (M,))`; returns float64 arrays."""
    where = f"adapter {adapter}, {sample_ref}"
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise AdapterOutputError(f"{where}: a bottom-up adapter must return (keypoints (M, K, 3), "
                                 f"scores (M,)), got {type(out).__name__}")
    kpts = check_output(adapter, sample_ref, out[0], None, num_keypoints)
    try:
        scores = _as_array(out[1]).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise AdapterOutputError(f"{where}: scores are not numeric ({exc})") from None
    if scores.shape[0] != kpts.shape[0]:
        raise AdapterOutputError(f"{where}: {kpts.shape[0]} people but {scores.shape[0]} scores")
    if not np.isfinite(scores).all():
        i = int(np.argwhere(~np.isfinite(scores))[0, 0])
        raise AdapterOutputError(f"{where}: person {i}: score is {scores[i]}")
    return kpts, scores


def describe_adapter(adapter: Any) -> dict:
    """The `model` block of summary.json from the adapter's optional attributes."""
    size = getattr(adapter, "input_size", None)
    params = getattr(adapter, "num_params", None)
    return {
        "name": adapter_name(adapter),
        "method": str(getattr(adapter, "method", "") or "unknown"),
        "backbone": str(getattr(adapter, "backbone", "") or "unknown"),
        "input_size": [int(v) for v in size] if size is not None else None,
        "params": int(params) if params is not None else None,
        "bottom_up": is_bottom_up(adapter),
    }
