"""Heatmap codecs: how a keypoint becomes a training heatmap, and how a heatmap becomes a
keypoint again.

Encoders (training targets) and decoders (the top-down adapter's `decode` option, DECODERS)
live here together, in the spirit of MMPose's codecs: a model trained with one encoding is
evaluated with its matching decoding (the trainer writes `inference.decode` into the
checkpoint's JSON sidecar, which `adapters.loading` applies).

- `msra`: the HRNet / SimpleBaseline reference (PROTOCOL.md section 3). The Gaussian is centred
  on the joint's *nearest* heatmap cell (`int(x / stride + 0.5)`) and truncated to a
  (6 sigma + 1) window; decoded by argmax + a quarter-cell shift (`standard`). The encoding
  alone moves a joint by up to half a cell (2 input pixels at stride 4).
- `unbiased`: DARK's unbiased encoding (Zhang et al., CVPR 2020): the Gaussian is centred on
  the exact sub-pixel position `x / stride` and evaluated on the whole map; decoded by DARK's
  distribution-aware refinement (`dark`: Gaussian modulation, log, one Newton step), which
  recovers that sub-pixel position. On SynthPose val (GT boxes, 128x96 input, 32x24 maps),
  GT -> encode -> decode -> OKS AP: msra + standard 80.9, unbiased + dark 94.6 (tests/models).

Both put heatmap cell c at input pixel `c * stride`, the frame of the adapter's inverse affine
(`heatmap_to_image`), so decoding a target gives back the joint up to the codec's bias.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

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


# ---- decoders ---------------------------------------------------------------------------------

DECODERS = ("standard", "dark")


def _gather(hm: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """hm (N, K, H, W), ys/xs (N, K) long -> hm[n, k, ys, xs] (N, K)."""
    w = hm.shape[-1]
    flat = hm.reshape(hm.shape[0], hm.shape[1], -1)
    return flat.gather(2, (ys * w + xs).unsqueeze(-1)).squeeze(-1)


def _argmax(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n, k, _, w = heatmaps.shape
    maxvals, idx = heatmaps.reshape(n, k, -1).max(dim=2)
    return idx % w, torch.div(idx, w, rounding_mode="floor"), maxvals


def decode_standard(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference decoding (HRNet `get_max_preds` + `get_final_preds` offset).

    heatmaps (N, K, H, W) float -> (coords (N, K, 2) float64 in heatmap cells, x first;
    maxvals (N, K)). The argmax moves 0.25 cell toward the higher neighbour in x and y when
    1 < x < W-1 and 1 < y < H-1; keypoints with maximum <= 0 get coordinates (0, 0).
    """
    hm = heatmaps.float()
    _, _, h, w = hm.shape
    px, py, maxvals = _argmax(hm)
    coords = torch.stack([px, py], dim=-1).double()
    inside = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
    cx, cy = px.clamp(1, w - 2), py.clamp(1, h - 2)
    dx = _gather(hm, py, cx + 1) - _gather(hm, py, cx - 1)
    dy = _gather(hm, cy + 1, px) - _gather(hm, cy - 1, px)
    offset = torch.stack([torch.sign(dx), torch.sign(dy)], dim=-1).double() * 0.25
    coords = coords + offset * inside.unsqueeze(-1)
    coords = coords * (maxvals > 0).unsqueeze(-1)
    return coords, maxvals


def _gaussian_kernel(size: int, device: torch.device) -> torch.Tensor:
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8  # OpenCV's default sigma for a kernel size
    r = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _blur_matrix(n: int, kernel: int, device: torch.device) -> torch.Tensor:
    """(n, n) banded matrix B with B[i, j] = g[j - i + kernel // 2]: `B @ v` is the 1-D
    Gaussian blur of a length-n signal with zero padding."""
    g = _gaussian_kernel(kernel, device)
    pad = kernel // 2
    i = torch.arange(n, device=device)
    d = i[None, :] - i[:, None]
    return torch.where(d.abs() <= pad, g[(d + pad).clamp(0, kernel - 1)],
                       torch.zeros((), device=device))


def blur_zero_padded(heatmaps: torch.Tensor, kernel: int = 11) -> torch.Tensor:
    """Gaussian blur of each (H, W) map of heatmaps (..., H, W) with kernel `kernel` (OpenCV's
    sigma for it) over a zero-padded border, as the DARK reference does (zeros around the map,
    then cv2.GaussianBlur): a reflected border would add a mirror image of a peak near the
    edge and pull the refined position to it. Separable, as two matrix products
    B_h @ map @ B_w^T (benchmarks/dark_blur.py: faster on CPU than two 1-channel convolutions
    over thousands of small maps)."""
    h, w = heatmaps.shape[-2:]
    return (_blur_matrix(h, kernel, heatmaps.device) @ heatmaps
            @ _blur_matrix(w, kernel, heatmaps.device).T)


def decode_dark(heatmaps: torch.Tensor, kernel: int = 11) -> tuple[torch.Tensor, torch.Tensor]:
    """DARK decoding (Zhang et al., CVPR 2020): Gaussian-modulate each heatmap (kernel
    `kernel`, OpenCV's sigma for it, the map zero-padded as in the DARK reference, rescaled to
    its original maximum), take the log and refine the argmax by one Newton step (second-order
    Taylor expansion) where 1 < x < W-2 and 1 < y < H-2. Same outputs as `decode_standard`;
    maxvals are those of the raw heatmaps. Exact for an unbiased Gaussian away from the border.
    """
    hm = heatmaps.float()
    n, k, h, w = hm.shape
    px, py, maxvals = _argmax(hm)
    coords = torch.stack([px, py], dim=-1).double()
    blurred = blur_zero_padded(hm, kernel)
    bmax = blurred.reshape(n, k, -1).amax(dim=2).clamp_min(1e-10)
    blurred = blurred * (maxvals.clamp_min(0) / bmax)[..., None, None]
    lg = torch.log(blurred.clamp_min(1e-10)).double()
    inside = (px > 1) & (px < w - 2) & (py > 1) & (py < h - 2)
    cx, cy = px.clamp(2, max(w - 3, 2)), py.clamp(2, max(h - 3, 2))
    if w >= 5 and h >= 5:
        def at(dy: int, dx: int) -> torch.Tensor:
            return _gather(lg, cy + dy, cx + dx)

        c = at(0, 0)
        gx = 0.5 * (at(0, 1) - at(0, -1))
        gy = 0.5 * (at(1, 0) - at(-1, 0))
        gxx = 0.25 * (at(0, 2) - 2 * c + at(0, -2))
        gyy = 0.25 * (at(2, 0) - 2 * c + at(-2, 0))
        gxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
        det = gxx * gyy - gxy ** 2
        ok = inside & (det.abs() > 1e-12) & (maxvals > 0)
        safe = torch.where(ok, det, torch.ones_like(det))
        ox = -(gyy * gx - gxy * gy) / safe
        oy = -(gxx * gy - gxy * gx) / safe
        offset = torch.stack([ox, oy], dim=-1) * ok.unsqueeze(-1)
        # A Newton step of more than a cell means a degenerate neighbourhood: keep the argmax.
        offset = torch.where(offset.abs().amax(dim=-1, keepdim=True) <= 1.0, offset,
                             torch.zeros_like(offset))
        coords = coords + offset
    coords = coords * (maxvals > 0).unsqueeze(-1)
    return coords, maxvals


def decode_heatmaps(heatmaps: torch.Tensor, method: str = "standard"
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Dispatch to `decode_standard` or `decode_dark`."""
    if method == "standard":
        return decode_standard(heatmaps)
    if method == "dark":
        return decode_dark(heatmaps)
    raise ValueError(f"unknown decoder {method!r}; choose one of {', '.join(DECODERS)}")


# ---- codecs -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class HeatmapCodec:
    """An encoder and the name of the decoder (DECODERS) that inverts it."""

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


__all__ = ["CODECS", "DECODERS", "DEFAULT_CODEC", "HeatmapCodec", "decode_dark",
           "decode_heatmaps", "decode_standard", "encode_msra", "encode_unbiased", "get_codec"]
