"""Top-down crop geometry shared by the evaluator, the attacks and the trainers.

Follows the HRNet / SimpleBaseline reference (PROTOCOL.md section 3): a person box becomes a
centre (image pixels) and a scale in units of 200 px (`pixel_std`), padded to the model aspect
ratio and enlarged by 1.25; the crop is the affine warp that maps the scaled box to the model
input (width, height). Every function here uses x-first, 0-based pixel coordinates.

Precision: the reference keeps centre and scale in float32 (`_xywh2cs`) and builds the affine
from float32 point pairs; `dtype=np.float32` reproduces that bit for bit (the `hrnet`
inference protocol, see inference_protocol.py). GT box conventions: `clean_bbox` (HRNet) and
`clip_bbox_xyxy` (MMPose 1.x).
"""
from __future__ import annotations

import cv2
import numpy as np

PIXEL_STD = 200.0
BOX_ENLARGE = 1.25


def _xywh(bbox_xywh) -> tuple[float, float, float, float]:
    try:
        box = np.asarray(bbox_xywh, dtype=np.float64)
    except (TypeError, ValueError):
        box = np.zeros(0)
    if box.shape != (4,) or not np.isfinite(box).all():
        raise ValueError(f"bbox must be 4 finite numbers x, y, w, h, got {bbox_xywh!r:.80}")
    return float(box[0]), float(box[1]), float(box[2]), float(box[3])


def clean_bbox(bbox_xywh, width: int, height: int, area: float | None = None
               ) -> np.ndarray | None:
    """The HRNet reference `clean_bbox` (coco.py): a COCO box (4,) xywh in image pixels ->
    the box the reference crops, or None when the reference drops the person.

    x1 = max(0, x), x2 = min(W - 1, x1 + max(0, w - 1)) (same for y), box [x1, y1, x2 - x1,
    y2 - y1]: the box is treated as covering pixel centres x .. x + w - 1, hence 1 px
    smaller than the raw box and clipped to the last pixel. Kept when `area` (the
    annotation's area; the raw w * h when None) is > 0 and x2 >= x1, y2 >= y1; a box of width
    (or height) < 1 becomes 0 wide and is still kept. Computed in float64 in exactly the
    reference's order. width/height <= 0 (image size unknown) skips the clipping to the
    image. Used for evaluation GT boxes and training crops, as the reference does.
    """
    x, y, w, h = _xywh(bbox_xywh)
    if area is None:
        area = w * h
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = x1 + max(0.0, w - 1.0)
    y2 = y1 + max(0.0, h - 1.0)
    if width > 0 and height > 0:
        x2, y2 = min(width - 1.0, x2), min(height - 1.0, y2)
    if area > 0 and x2 >= x1 and y2 >= y1:
        return np.array([x1, y1, x2 - x1, y2 - y1])
    return None


def clip_bbox_xyxy(bbox_xywh, width: int, height: int, area: float | None = None
                   ) -> np.ndarray | None:
    """MMPose 1.x GT box handling (`BaseCocoStyleDataset.parse_data_info`): the corners x,
    x + w (and y, y + h) clipped to [0, W - 1] ([0, H - 1]) and stored as float32; the
    person is dropped unless the clipped float32 box has positive width and height.

    Returns (4,) xywh float64 holding those float32 values (w = float32 x2 - x1), or None.
    width/height <= 0 (image size unknown) skips the clipping. `area` is not used (MMPose
    does not look at it); it keeps the signature of `clean_bbox`.
    """
    x, y, w, h = _xywh(bbox_xywh)
    xyxy = np.array([x, y, x + w, y + h])
    if width > 0 and height > 0:
        xyxy = np.clip(xyxy, 0.0, [width - 1.0, height - 1.0, width - 1.0, height - 1.0])
    xyxy = xyxy.astype(np.float32)
    wh = xyxy[2:] - xyxy[:2]
    if not (wh > 0).all():
        return None
    return np.concatenate([xyxy[:2], wh]).astype(np.float64)


def box_to_center_scale(box_xywh: np.ndarray, aspect_ratio: float, enlarge: float = BOX_ENLARGE,
                        pixel_std: float = PIXEL_STD, dtype: type = np.float64
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Box (..., 4) xywh in image pixels -> centre (..., 2) in image pixels and scale (..., 2)
    in units of `pixel_std`, padded to `aspect_ratio` = input width / input height.

    dtype=np.float32 is the reference `_xywh2cs` bit for bit: centre and aspect padding
    computed in float64, then the centre and `[w, h] / pixel_std` stored as float32 and the
    scale multiplied by `enlarge` in float32 (the x1.25 after the aspect fix). The default
    float64 keeps every step in float64.
    """
    box = np.asarray(box_xywh, dtype=np.float64)
    x, y, w, h = box[..., 0], box[..., 1], box[..., 2], box[..., 3]
    center = np.stack([x + w * 0.5, y + h * 0.5], axis=-1)
    wider = w > aspect_ratio * h
    narrower = w < aspect_ratio * h
    w2 = np.where(narrower, h * aspect_ratio, w)
    h2 = np.where(wider, w * 1.0 / aspect_ratio, h)
    scale = np.stack([w2 * 1.0 / pixel_std, h2 * 1.0 / pixel_std], axis=-1)
    if np.dtype(dtype) == np.float32:
        return center.astype(np.float32), scale.astype(np.float32) * np.float32(enlarge)
    return center, scale * enlarge


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The point making a right angle at `b` (reference `get_3rd_point`), in float32."""
    d = (a - b).astype(np.float32)
    return (b + np.array([-d[1], d[0]], dtype=np.float32)).astype(np.float32)


def get_affine_transform(center: np.ndarray, scale: np.ndarray, rot: float,
                         output_size: tuple[int, int], shift: tuple[float, float] = (0.0, 0.0),
                         inv: bool = False, pixel_std: float = PIXEL_STD,
                         dtype: type = np.float64) -> np.ndarray:
    """2x3 affine matrix image -> crop (or crop -> image with `inv`), float64.

    center: (2,) image pixels. scale: (2,) or scalar, units of `pixel_std`. rot: degrees,
    counter-clockwise. output_size: (width, height) of the crop in pixels. dtype: precision of
    centre and scale. np.float32 is the reference `get_affine_transform` fed with its float32
    centre/scale: `scale * 200` in float32, the three point pairs stored as float32 and solved
    by cv2.getAffineTransform (which works in float64). float64: centre and scale are used in
    float64 up to the float32 point pairs.
    """
    dt = np.dtype(dtype)
    center = np.asarray(center, dtype=np.float64).astype(dt)
    scale = np.asarray(scale, dtype=np.float64).astype(dt)
    if scale.ndim == 0:
        scale = np.array([scale, scale], dtype=dt)
    scale_px = scale * dt.type(pixel_std)
    src_w = float(scale_px[0])
    dst_w, dst_h = float(output_size[0]), float(output_size[1])
    rad = np.pi * rot / 180.0
    sn, cs = np.sin(rad), np.cos(rad)
    src_dir = np.array([0.0 * cs - src_w * -0.5 * sn, 0.0 * sn + src_w * -0.5 * cs])
    dst_dir = np.array([0.0, dst_w * -0.5])
    offset = scale_px * np.asarray(shift, dtype=np.float64).astype(dt)
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center + offset
    src[1] = center.astype(np.float64) + src_dir + offset.astype(np.float64)
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = np.array([dst_w * 0.5, dst_h * 0.5]) + dst_dir
    src[2] = _third_point(src[0], src[1])
    dst[2] = _third_point(dst[0], dst[1])
    if inv:
        return cv2.getAffineTransform(dst, src).astype(np.float64)
    return cv2.getAffineTransform(src, dst).astype(np.float64)


def affine_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to points (..., 2); returns float64 (..., 2)."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def warp_crop(image: np.ndarray, matrix: np.ndarray, output_size: tuple[int, int],
              border_value: float | tuple = 0) -> np.ndarray:
    """Crop by warping with a 2x3 image -> crop matrix; output (height, width, C) like `image`."""
    return cv2.warpAffine(image, matrix, (int(output_size[0]), int(output_size[1])),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=border_value)


def crop_pixel_scale(matrix: np.ndarray) -> float:
    """Crop pixels per image pixel of a (similarity) image -> crop matrix: sqrt(|det A|).

    Used to convert lengths given in model-input pixels (attack radii, blur kernels) into
    image pixels: image_length = crop_length / crop_pixel_scale(matrix).
    """
    return float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
