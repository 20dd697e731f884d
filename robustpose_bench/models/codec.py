"""Heatmap codecs: how a keypoint becomes a training heatmap, and which decoder reads it back.

A codec pairs an encoder (crop-pixel joints -> Gaussian target heatmaps + joint weights) with
the decoder of the top-down adapter that inverts it (`adapters.topdown.DECODERS`), in the
spirit of MMPose's codecs: a model trained with one encoding is evaluated with its matching
decoding (the trainer writes `inference.decode` into the checkpoint's JSON sidecar).

- `msra`: the HRNet / SimpleBaseline reference (PROTOCOL.md section 3). The Gaussian is centred
  on the joint's *nearest* heatmap cell (`int(x / stride + 0.5)`) and truncated to a
  (6 sigma + 1) window; decoded by argmax + a quarter-cell shift (`standard`). The encoding
  alone moves a joint by up to half a cell (2 input pixels at stride 4).
- `unbiased`: DARK's unbiased encoding (Zhang et al., CVPR 2020): the Gaussian is centred on
  the exact sub-pixel position `x / stride` and evaluated on the whole map; decoded by DARK's
  distribution-aware refinement (`dark`: Gaussian modulation, log, one Newton step), which
  recovers that sub-pixel position.

Both put heatmap cell c at input pixel `c * stride`, the frame of the adapter's inverse affine
(`heatmap_to_image`), so decoding a target gives back the joint up to the codec's bias.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Encoder signature: (joints (K, 2) crop pixels, vis (K,), input_size (w, h), heatmap_size
#: (w, h), sigma in heatmap cells) -> (target (K, H, W) float32, weight (K,) float32).
Encoder = Callable[[np.ndarray, np.ndarray, tuple[int, int], tuple[int, int], float],
                   tuple[np.ndarray, np.ndarray]]


def _stride(input_size: tuple[int, int], heatmap_size: tuple[int, int]) -> tuple[float, float]:
    return input_size[0] / heatmap_size[0], input_size[1] / heatmap_size[1]


def encode_msra(joints: np.ndarray, vis: np.ndarray, input_size: tuple[int, int],
                heatmap_size: tuple[int, int], sigma: float = 2.0
                ) -> tuple[np.ndarray, np.ndarray]:
    """MSRA Gaussian heatmaps exactly as the HRNet reference draws them.

    joints: (K, 2) crop pixels (x, y), 0-based. vis: (K,) > 0 for labelled joints.
    input_size / heatmap_size: (width, height). Returns target (K, H, W) float32 with a
    Gaussian of std `sigma` cells (peak 1, truncated to a (6 sigma + 1) window) centred on
    the joint's nearest heatmap cell, and weight (K,) float32: 1 for labelled joints whose
    window touches the heatmap, else 0.
    """
    joints = np.asarray(joints, dtype=np.float64)
    k = joints.shape[0]
    wh, hh = int(heatmap_size[0]), int(heatmap_size[1])
    sx, sy = _stride(input_size, heatmap_size)
    target = np.zeros((k, hh, wh), dtype=np.float32)
    weight = (np.asarray(vis, dtype=np.float64).reshape(k) > 0).astype(np.float32)
    tmp = sigma * 3
    size = int(2 * tmp + 1)
    g1 = np.arange(size, dtype=np.float64)
    c = size // 2
    g = np.exp(-((g1[None, :] - c) ** 2 + (g1[:, None] - c) ** 2) / (2 * sigma ** 2))
    for j in range(k):
        if weight[j] == 0:
            continue
        mu_x = int(joints[j, 0] / sx + 0.5)
        mu_y = int(joints[j, 1] / sy + 0.5)
        ul = (int(mu_x - tmp), int(mu_y - tmp))
        br = (int(mu_x + tmp + 1), int(mu_y + tmp + 1))
        if ul[0] >= wh or ul[1] >= hh or br[0] < 0 or br[1] < 0:
            weight[j] = 0
            continue
        gx = max(0, -ul[0]), min(br[0], wh) - ul[0]
        gy = max(0, -ul[1]), min(br[1], hh) - ul[1]
        ix = max(0, ul[0]), min(br[0], wh)
        iy = max(0, ul[1]), min(br[1], hh)
        target[j, iy[0]:iy[1], ix[0]:ix[1]] = g[gy[0]:gy[1], gx[0]:gx[1]]
    return target, weight


def encode_unbiased(joints: np.ndarray, vis: np.ndarray, input_size: tuple[int, int],
                    heatmap_size: tuple[int, int], sigma: float = 2.0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """DARK's unbiased Gaussian heatmaps: exp(-|p - mu|^2 / (2 sigma^2)) on every cell p, with
    mu = joint / stride in heatmap cells (not rounded), so the peak lies between cells.

    Same arguments and outputs as `encode_msra`; the weight rule is the same (0 for
    unlabelled joints and joints whose 3-sigma window misses the map).
    """
    joints = np.asarray(joints, dtype=np.float64)
    k = joints.shape[0]
    wh, hh = int(heatmap_size[0]), int(heatmap_size[1])
    sx, sy = _stride(input_size, heatmap_size)
    target = np.zeros((k, hh, wh), dtype=np.float32)
    weight = (np.asarray(vis, dtype=np.float64).reshape(k) > 0).astype(np.float32)
    xs = np.arange(wh, dtype=np.float64)[None, :]
    ys = np.arange(hh, dtype=np.float64)[:, None]
    r = 3 * sigma
    for j in range(k):
        if weight[j] == 0:
            continue
        mu_x, mu_y = joints[j, 0] / sx, joints[j, 1] / sy
        if mu_x - r >= wh or mu_y - r >= hh or mu_x + r + 1 < 0 or mu_y + r + 1 < 0:
            weight[j] = 0
            continue
        target[j] = np.exp(-((xs - mu_x) ** 2 + (ys - mu_y) ** 2) / (2 * sigma ** 2))
    return target, weight


@dataclass(frozen=True)
class HeatmapCodec:
    """An encoder and the name of the adapter decoder that inverts it."""

    name: str
    encode: Encoder
    decoder: str
    description: str


CODECS: dict[str, HeatmapCodec] = {
    "msra": HeatmapCodec("msra", encode_msra, "standard",
                         "HRNet reference: Gaussian on the nearest cell; argmax + quarter offset"),
    "unbiased": HeatmapCodec("unbiased", encode_unbiased, "dark",
                             "DARK: Gaussian on the exact sub-pixel position; DARK decoding"),
}
DEFAULT_CODEC = "msra"


def get_codec(name: str) -> HeatmapCodec:
    """The codec called `name`; ValueError listing the known ones."""
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError(f"unknown heatmap encoding {name!r}; choose one of "
                         f"{', '.join(CODECS)}") from None


__all__ = ["CODECS", "DEFAULT_CODEC", "HeatmapCodec", "encode_msra", "encode_unbiased",
           "get_codec"]
