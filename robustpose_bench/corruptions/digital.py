"""Digital corruptions: contrast, elastic_transform, pixelate, jpeg_compression (Hendrycks &
Dietterich 2019, constants of `imagecorruptions` 1.1.2).
"""
from __future__ import annotations

import functools
import io

import cv2
import numpy as np
import scipy.ndimage as ndi
from PIL import Image

from robustpose_bench.corruptions import _kernels as K
from robustpose_bench.corruptions._common import UNIT, gaussian_filter
from robustpose_bench.corruptions._scratch import scratch
from robustpose_bench.corruptions.registry import register_corruption

CONTRAST = (0.4, 0.3, 0.2, 0.1, 0.05)  # factor towards the per-channel mean
ELASTIC_TRANSFORM = (250 * 0.05, 250 * 0.065, 250 * 0.085, 250 * 0.1, 250 * 0.12)  # alpha
PIXELATE = (0.6, 0.5, 0.4, 0.3, 0.25)  # down-scaling factor (PIL box), then nearest up
JPEG_COMPRESSION = (25, 18, 15, 10, 7)  # PIL JPEG quality


@register_corruption("contrast", "digital", CONTRAST, uses_rng=False)
def contrast(image: np.ndarray, severity: int,
             rng: np.random.RandomState | None) -> np.ndarray:
    """(x - mean) * c + mean per channel, x = image / 255, mean over the image (np.mean)."""
    c = CONTRAST[severity - 1]
    means = K.channel_means(image, UNIT)  # == np.mean(image / 255., axis=(0, 1))
    levels = (np.arange(256) / 255.0)[None, None, :]  # (1, 1, 256): every input value
    m = means.reshape(1, 3, 1)
    table = np.clip((levels - m) * c + m, 0, 1) * 255
    return K.apply_lut(image, np.uint8(table[0]))


@register_corruption("elastic_transform", "digital", ELASTIC_TRANSFORM)
def elastic_transform(image: np.ndarray, severity: int, rng: np.random.RandomState
                      ) -> np.ndarray:
    """Smooth random displacement field: dx, dy ~ U(-0.005 H, 0.005 H) per pixel (two
    `rng.uniform(size=(H, W))`, dx first), Gaussian-smoothed (sigma = 0.01 (H, W), reflect,
    truncate 3), times alpha; bilinear resampling (reflect) of the float32 image."""
    alpha = ELASTIC_TRANSFORM[severity - 1]
    h, w = image.shape[:2]
    img = scratch("elastic_img", image.shape, np.float32)
    K.u8_div255_f32(image, img)
    sigma = (h * 0.01, w * 0.01)
    max_d = h * 0.005
    dx = scratch("elastic_dx", (h, w), np.float32)
    dy = scratch("elastic_dy", (h, w), np.float32)
    for d in (dx, dy):  # dx's field is drawn (and smoothed) first
        u = rng.uniform(-max_d, max_d, size=(h, w))
        K.scale_to_f32(gaussian_filter(u, sigma, K.MODE_REFLECT, truncate=3), alpha, d)
    out = scratch("elastic_out", image.shape, np.float32)
    border = scratch("elastic_border", (h, w), np.bool_)
    if K.bilinear_interior(img, dy, dx, out, border):
        ys, xs = np.nonzero(border)
        cy = np.repeat(ys + dy[ys, xs].astype(np.float64), 3)
        cx = np.repeat(xs + dx[ys, xs].astype(np.float64), 3)
        cz = np.tile(np.arange(3, dtype=np.float64), ys.size)
        vals = ndi.map_coordinates(img, np.stack([cy, cx, cz]), order=1, mode="reflect")
        out[ys, xs] = vals.reshape(-1, 3)
    return K.unit_to_u8_f32(out)


def _nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """The source index of each output sample of PIL's NEAREST resize from n_in to n_out,
    obtained from PIL itself (resizing a 1-D image of indices), so it is PIL's to the last bit."""
    idx = Image.fromarray(np.arange(n_in, dtype=np.int32)[None, :])
    return np.asarray(idx.resize((n_out, 1), Image.Resampling.NEAREST), np.int64)[0]


@register_corruption("pixelate", "digital", PIXELATE, uses_rng=False)
def pixelate(image: np.ndarray, severity: int,
             rng: np.random.RandomState | None) -> np.ndarray:
    """PIL box down-scaling by c, then nearest-neighbour up-scaling to the original size (PIL's
    sample positions, applied by a numba gather)."""
    c = PIXELATE[severity - 1]
    h, w = image.shape[:2]
    small = Image.fromarray(image).resize((int(w * c), int(h * c)), Image.Resampling.BOX)
    sw, sh = small.size
    return K.gather_nearest(np.asarray(small), _nearest_index(sh, h), _nearest_index(sw, w))


def jpeg_bytes(image: np.ndarray, quality: int) -> bytes:
    """PIL JPEG encoding with default settings (4:2:0 chroma subsampling) at `quality`."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _pil_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data), formats=["JPEG"]) as pil:
        pil.load()
        return np.array(pil if pil.mode == "RGB" else pil.convert("RGB"), dtype=np.uint8)


def _cv2_decode(data: bytes) -> np.ndarray | None:
    flag = getattr(cv2, "IMREAD_COLOR_RGB", None)
    buf = np.frombuffer(data, np.uint8)
    if flag is not None:
        return cv2.imdecode(buf, flag)
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return None if bgr is None else np.ascontiguousarray(bgr[:, :, ::-1])


@functools.lru_cache(maxsize=1)
def cv2_decodes_like_pil() -> bool:
    """Whether OpenCV's JPEG decoder gives PIL's pixels (both wrap libjpeg-turbo with the same
    default IDCT and upsampling); checked once on a few test images, else PIL decodes."""
    rs = np.random.RandomState(12345)
    yy, xx = np.mgrid[0:37, 0:53]
    smooth = np.stack([(xx * 4) % 256, (yy * 6) % 256, ((xx + yy) * 3) % 256], -1)
    images = [smooth.astype(np.uint8), rs.randint(0, 256, (37, 53, 3)).astype(np.uint8)]
    try:
        for img in images:
            for quality in JPEG_COMPRESSION + (75, 95):
                data = jpeg_bytes(img, quality)
                fast = _cv2_decode(data)
                if fast is None or not np.array_equal(fast, _pil_decode(data)):
                    return False
    except (cv2.error, OSError, ValueError):
        return False
    return True


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode with PIL at `quality` and decode (OpenCV where it is verified to match PIL)."""
    data = jpeg_bytes(image, quality)
    if cv2_decodes_like_pil():
        out = _cv2_decode(data)
        if out is not None:
            return out
    return _pil_decode(data)


@register_corruption("jpeg_compression", "digital", JPEG_COMPRESSION, uses_rng=False)
def jpeg_compression(image: np.ndarray, severity: int,
                     rng: np.random.RandomState | None) -> np.ndarray:
    """Round trip through PIL's JPEG encoder at quality c (and a libjpeg-turbo decoder)."""
    return jpeg_round_trip(image, JPEG_COMPRESSION[severity - 1])
