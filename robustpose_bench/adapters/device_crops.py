"""Person crops warped on the model's device (`torch.nn.functional.grid_sample`) instead of
with OpenCV on the CPU: the decoded image goes to the device once and every crop of it is
sampled there, so the CPU work per crop is only the 2x3 matrix.

Same geometry as `geometry.warp_crop` (cv2.warpAffine, INTER_LINEAR, black border): output
pixel (x, y) samples the image at M^-1 (x, y) (pixel centres at integer coordinates), with
bilinear weights and zeros outside the image; the result is rounded to whole grey levels like
the uint8 crops of OpenCV. OpenCV interpolates in fixed point, so a few pixels differ by one
grey level (measured: 1e-4 of the pixels of SynthPose crops, never more than 1).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def invert_affine(matrices: np.ndarray) -> np.ndarray:
    """(N, 2, 3) affine matrices -> their inverses (N, 2, 3), float64, with the formula of
    cv2.invertAffineTransform (which cv2.warpAffine applies to its matrix); a singular matrix
    gives zeros, as there."""
    m = np.asarray(matrices, dtype=np.float64).reshape(-1, 2, 3)
    det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    d = np.divide(1.0, det, out=np.zeros_like(det), where=det != 0)
    a11, a22 = m[:, 1, 1] * d, m[:, 0, 0] * d
    a12, a21 = -m[:, 0, 1] * d, -m[:, 1, 0] * d
    b1 = -a11 * m[:, 0, 2] - a12 * m[:, 1, 2]
    b2 = -a21 * m[:, 0, 2] - a22 * m[:, 1, 2]
    return np.stack([np.stack([a11, a12, b1], -1), np.stack([a21, a22, b2], -1)], axis=1)


def image_to_device(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 grey levels 0..255 on `device` (the copy to a
    CUDA device goes through pinned memory, asynchronously)."""
    x = torch.from_numpy(np.require(image, np.uint8, ["C", "W"]))
    if device.type == "cuda":
        x = x.pin_memory().to(device, non_blocking=True)
    return x.permute(2, 0, 1).float()


def warp_crops(image: torch.Tensor, matrices: np.ndarray, output_size: tuple[int, int]
               ) -> torch.Tensor:
    """Crops of one image on its device.

    image: (3, H, W) float grey levels (`image_to_device`). matrices: (N, 2, 3) image ->
    crop affine matrices (CropBatch.matrices). output_size: (width, height) of the crops.
    Returns (N, 3, height, width) float32 whole grey levels 0..255 on the image's device.
    """
    n = int(len(matrices))
    w, h = int(output_size[0]), int(output_size[1])
    if n == 0:
        return image.new_zeros((0, 3, h, w))
    _, height, width = image.shape
    dev = image.device
    inv = torch.from_numpy(invert_affine(matrices)).to(dev)  # (N, 2, 3) crop -> image
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64, device=dev),
                            torch.arange(w, dtype=torch.float64, device=dev), indexing="ij")
    pts = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1)  # (h, w, 3)
    src = torch.einsum("hwk,nck->nhwc", pts, inv)  # (N, h, w, 2) image pixels, x first
    # align_corners=False: normalised -1 / +1 are the outer edges of the first / last pixel
    size = torch.tensor([width, height], dtype=torch.float64, device=dev)
    grid = ((2.0 * src + 1.0) / size - 1.0).to(image.dtype)
    # all crops of the image as one tall grid: the image is read in place, not repeated
    out = F.grid_sample(image.unsqueeze(0), grid.reshape(1, n * h, w, 2), mode="bilinear",
                        padding_mode="zeros", align_corners=False)
    out = out.reshape(3, n, h, w).permute(1, 0, 2, 3)
    return out.round_().clamp_(0.0, 255.0).contiguous()
