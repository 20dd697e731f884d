"""An independent oracle of the HRNet reference test pipeline (deep-high-resolution-net.pytorch,
`tools/test.py` with `TEST.FLIP_TEST` and `TEST.SHIFT_HEATMAP`), written from its formulas and
kept separate from the package: box cleaning (`clean_bbox`), `_xywh2cs` with its float32
centre/scale, `get_affine_transform` on float32 point pairs, the cv2 crop, ToTensor + Normalize,
the plain and mirrored batches as two network calls, `flip_back` + 1-cell shift, the average,
`get_max_preds` + quarter offset (`get_final_preds`) and `transform_preds`.

The network itself is passed in (an nn.Module), so the oracle checks everything around it.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
PIXEL_STD = 200


def clean_bbox(bbox, width: int, height: int, area: float):
    """coco.py's box sanitising; None when the annotation is dropped."""
    x, y, w, h = bbox
    x1 = np.max((0, x))
    y1 = np.max((0, y))
    x2 = np.min((width - 1, x1 + np.max((0, w - 1))))
    y2 = np.min((height - 1, y1 + np.max((0, h - 1))))
    if area > 0 and x2 >= x1 and y2 >= y1:
        return [x1, y1, x2 - x1, y2 - y1]
    return None


def xywh2cs(x, y, w, h, aspect_ratio: float):
    """coco.py `_xywh2cs`: float32 centre, float32 scale (units of 200 px) x1.25."""
    center = np.zeros((2), dtype=np.float32)
    center[0] = x + w * 0.5
    center[1] = y + h * 0.5
    if w > aspect_ratio * h:
        h = w * 1.0 / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w * 1.0 / PIXEL_STD, h * 1.0 / PIXEL_STD], dtype=np.float32)
    if center[0] != -1:
        scale = scale * 1.25
    return center, scale


def _third(a, b):
    d = a - b
    return b + np.array([-d[1], d[0]], dtype=np.float32)


def affine(center, scale, output_size, inv: bool = False):
    """transforms.py `get_affine_transform` at rot = 0, shift = 0."""
    scale_tmp = scale * 200.0
    src_w = scale_tmp[0]
    dst_w, dst_h = output_size
    src_dir = [0, src_w * -0.5]  # get_dir at angle 0
    dst_dir = np.array([0, dst_w * -0.5], np.float32)
    shift = np.array([0, 0], dtype=np.float32)
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0, :] = center + scale_tmp * shift
    src[1, :] = center + src_dir + scale_tmp * shift
    dst[0, :] = [dst_w * 0.5, dst_h * 0.5]
    dst[1, :] = np.array([dst_w * 0.5, dst_h * 0.5]) + dst_dir
    src[2:, :] = _third(src[0, :], src[1, :])
    dst[2:, :] = _third(dst[0, :], dst[1, :])
    if inv:
        return cv2.getAffineTransform(np.float32(dst), np.float32(src))
    return cv2.getAffineTransform(np.float32(src), np.float32(dst))


def crop(image: np.ndarray, center, scale, input_size):
    return cv2.warpAffine(image, affine(center, scale, input_size),
                          (int(input_size[0]), int(input_size[1])), flags=cv2.INTER_LINEAR)


def to_input(crops: list[np.ndarray]) -> torch.Tensor:
    """torchvision ToTensor + Normalize, one crop at a time, stacked."""
    out = []
    for c in crops:
        t = torch.from_numpy(c.transpose((2, 0, 1)).copy()).float().div(255)
        mean = torch.tensor(MEAN, dtype=torch.float32)[:, None, None]
        std = torch.tensor(STD, dtype=torch.float32)[:, None, None]
        out.append(t.sub_(mean).div_(std))
    return torch.stack(out)


def flip_back(output_flipped: np.ndarray, flip_pairs) -> np.ndarray:
    output_flipped = output_flipped[:, :, :, ::-1]
    for a, b in flip_pairs:
        tmp = output_flipped[:, a, :, :].copy()
        output_flipped[:, a, :, :] = output_flipped[:, b, :, :]
        output_flipped[:, b, :, :] = tmp
    return output_flipped


def final_preds(heatmaps: np.ndarray, centers, scales):
    """get_max_preds + quarter offset + transform_preds; (N, K, 2) image px, (N, K) maxvals."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape((n, k, -1))
    idx = np.argmax(flat, 2).reshape((n, k, 1))
    maxvals = np.amax(flat, 2).reshape((n, k, 1))
    preds = np.tile(idx, (1, 1, 2)).astype(np.float32)
    preds[:, :, 0] = preds[:, :, 0] % w
    preds[:, :, 1] = np.floor(preds[:, :, 1] / w)
    mask = np.tile(np.greater(maxvals, 0.0), (1, 1, 2)).astype(np.float32)
    coords = preds * mask
    for i in range(n):
        for j in range(k):
            hm = heatmaps[i][j]
            px = int(math.floor(coords[i][j][0] + 0.5))
            py = int(math.floor(coords[i][j][1] + 0.5))
            if 1 < px < w - 1 and 1 < py < h - 1:
                diff = np.array([hm[py][px + 1] - hm[py][px - 1],
                                 hm[py + 1][px] - hm[py - 1][px]])
                coords[i][j] += np.sign(diff) * .25
    out = np.zeros((n, k, 2))
    for i in range(n):
        trans = affine(centers[i], scales[i], [w, h], inv=True)
        for j in range(k):
            pt = np.array([coords[i, j, 0], coords[i, j, 1], 1.0])
            out[i, j] = np.dot(trans, pt)[:2]
    return out, maxvals[..., 0]


def predict(model: torch.nn.Module, image: np.ndarray, centers, scales, input_size,
            flip_pairs) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Keypoints (N, K, 2), maxvals (N, K) and the crops of one image's persons."""
    crops = [crop(image, c, s, input_size) for c, s in zip(centers, scales, strict=True)]
    x = to_input(crops)
    with torch.no_grad():
        output = model(x)
        flipped = model(torch.from_numpy(np.flip(x.numpy(), 3).copy()))
    back = flip_back(flipped.numpy(), flip_pairs)
    back = torch.from_numpy(back.copy())
    back[:, :, :, 1:] = back.clone()[:, :, :, 0:-1]
    heatmaps = ((output + back) * 0.5).numpy()
    kp, maxvals = final_preds(heatmaps, centers, scales)
    return kp, maxvals, crops
