"""Test images of the corruption tests (kept small: the reference glass blur is pure Python)."""
from __future__ import annotations

import cv2
import numpy as np


def natural_image(h: int, w: int, name: str = "astronaut") -> np.ndarray:
    """A scikit-image sample photo (bundled with the package, no download) resized to (h, w)."""
    import skimage.data

    src = getattr(skimage.data, name)()
    return cv2.resize(src, (w, h), interpolation=cv2.INTER_AREA)


def synthetic_image(h: int, w: int) -> np.ndarray:
    """Flat black / white / grey blocks, saturated colours, gradients and noise: exercises the
    float -> uint8 truncation at exact grey levels and the clipping at 0 and 255."""
    rs = np.random.RandomState(1234)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = (xx * 255) // max(w - 1, 1)
    img[..., 1] = (yy * 255) // max(h - 1, 1)
    img[..., 2] = rs.randint(0, 256, (h, w))
    q = w // 4
    img[: h // 2, :q] = 0
    img[h // 2:, :q] = 255
    img[: h // 2, q:2 * q] = 128
    img[h // 2:, q:2 * q] = (255, 0, 0)
    return img


#: the three exactness shapes: RGB photo, grayscale photo (non-square), RGB synthetic (thin)
SHAPES = {
    "rgb40x56": lambda: natural_image(40, 56),
    "gray64x48": lambda: cv2.cvtColor(natural_image(64, 48, "coffee"), cv2.COLOR_RGB2GRAY),
    "synth33x90": lambda: synthetic_image(33, 90),
}
