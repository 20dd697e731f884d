"""Top-down crop geometry shared by the evaluator, the attacks and the trainers.

Follows the HRNet / SimpleBaseline reference (PROTOCOL.md section 3): a person box becomes a
centre (image pixels) and a scale in units of 200 px (`pixel_std`), padded to the model aspect
ratio and enlarged by 1.25; the crop is the affine warp that maps the scaled box to the model
input (width, height). Every function here uses x-first, 0-based pixel coordinates.
"""
from __future__ import annotations

import cv2
import numpy as np

PIXEL_STD = 200.0
BOX_ENLARGE = 1.25


def box_to_center_scale(box_xywh: np.ndarray, aspect_ratio: float, enlarge: float = BOX_ENLARGE,
                        pixel_std: float = PIXEL_STD) -> tuple[np.ndarray, np.ndarray]:
    """Box (..., 4) xywh in image pixels -> centre (..., 2) in image pixels and scale (..., 2)
    in units of `pixel_std`, padded to `aspect_ratio` = input width / input height."""
    box = np.asarray(box_xywh, dtype=np.float64)
    x, y, w, h = box[..., 0], box[..., 1], box[..., 2], box[..., 3]
    center = np.stack([x + w * 0.5, y + h * 0.5], axis=-1)
    wider = w > aspect_ratio * h
    w2 = np.where(wider, w, h * aspect_ratio)
    h2 = np.where(wider, w / aspect_ratio, h)
    scale = np.stack([w2, h2], axis=-1) / pixel_std * enlarge
    return center, scale


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a - b
    return b + np.array([-d[1], d[0]], dtype=np.float64)


def get_affine_transform(center: np.ndarray, scale: np.ndarray, rot: float,
                         output_size: tuple[int, int], shift: tuple[float, float] = (0.0, 0.0),
                         inv: bool = False, pixel_std: float = PIXEL_STD) -> np.ndarray:
    """2x3 affine matrix image -> crop (or crop -> image with `inv`).

    center: (2,) image pixels. scale: (2,) or scalar, units of `pixel_std`. rot: degrees,
    counter-clockwise. output_size: (width, height) of the crop in pixels.
    """
    center = np.asarray(center, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    if scale.ndim == 0:
        scale = np.array([scale, scale])
    src_w = scale[0] * pixel_std
    dst_w, dst_h = float(output_size[0]), float(output_size[1])
    rad = np.deg2rad(rot)
    sn, cs = np.sin(rad), np.cos(rad)
    src_dir = np.array([0.0 * cs - src_w * -0.5 * sn, 0.0 * sn + src_w * -0.5 * cs])
    dst_dir = np.array([0.0, dst_w * -0.5])
    shift = np.asarray(shift, dtype=np.float64)
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center + scale * pixel_std * shift
    src[1] = center + src_dir + scale * pixel_std * shift
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
