"""HDHR training targets of stable heatmap regression (alpha^d at chessboard distance d, 0 beyond
T_hd; PROTOCOL.md section 6). The Gaussian targets are the codecs of `models.codec`.
"""
from __future__ import annotations

import numpy as np


def _stride(input_size: tuple[int, int], heatmap_size: tuple[int, int]) -> tuple[float, float]:
    return input_size[0] / heatmap_size[0], input_size[1] / heatmap_size[1]


def hdhr_target(joints: np.ndarray, vis: np.ndarray, input_size: tuple[int, int],
                heatmap_size: tuple[int, int], alpha: float = 0.7, t_hd: int = 8
                ) -> tuple[np.ndarray, np.ndarray]:
    """Highly differentiated heatmap (stable-heatmap paper, sec. 3.2.1).

    1 at the joint's heatmap cell (nearest cell, as for the Gaussian target), alpha**d at
    chessboard distance d = max(|dx|, |dy|) cells, 0 for d > t_hd. The multi-label map of the
    paper is `target > 0`. joints: (K, 2) crop pixels; returns target (K, H, W) float32 and
    weight (K,) float32 (0 for unlabelled joints and joints whose cell is off the heatmap).
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"HDHR alpha must be in (0, 1), got {alpha}")
    if t_hd < 0:
        raise ValueError(f"HDHR threshold T_hd must be >= 0, got {t_hd}")
    joints = np.asarray(joints, dtype=np.float64)
    k = joints.shape[0]
    wh, hh = int(heatmap_size[0]), int(heatmap_size[1])
    sx, sy = _stride(input_size, heatmap_size)
    weight = (np.asarray(vis, dtype=np.float64).reshape(k) > 0).astype(np.float32)
    target = np.zeros((k, hh, wh), dtype=np.float32)
    xs = np.arange(wh)[None, :]
    ys = np.arange(hh)[:, None]
    for j in range(k):
        if weight[j] == 0:
            continue
        mu_x = int(np.floor(joints[j, 0] / sx + 0.5))
        mu_y = int(np.floor(joints[j, 1] / sy + 0.5))
        if not (0 <= mu_x < wh and 0 <= mu_y < hh):
            weight[j] = 0
            continue
        d = np.maximum(np.abs(xs - mu_x), np.abs(ys - mu_y))
        target[j] = np.where(d <= t_hd, alpha ** d.astype(np.float64), 0.0)
    return target, weight


__all__ = ["hdhr_target"]
