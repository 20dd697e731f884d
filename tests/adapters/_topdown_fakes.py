"""Test doubles for the top-down pipeline: synthetic images whose person boxes carry a colour
code, and a network that reads the code and emits perfect Gaussian heatmaps at the true
keypoints of that person as seen in its (possibly mirrored) crop."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from robustpose_bench.geometry import affine_points, box_to_center_scale, get_affine_transform
from robustpose_bench.models import NORMALIZE_MEAN, NORMALIZE_STD

LEFT_G, RIGHT_G = 60, 180


def person_code(image_index: int, person_index: int) -> tuple[int, int]:
    """(R, B) colour of a person's box."""
    return 20 + 20 * person_index, 40 + 40 * image_index


def paint_people(shape: tuple[int, int], boxes: np.ndarray, image_index: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 image: each box filled with its code colour, left half G=60, right 180."""
    img = np.zeros((*shape, 3), np.uint8)
    for p, (x, y, w, h) in enumerate(boxes):
        r, b = person_code(image_index, p)
        x0, y0, x1, y1 = int(np.floor(x)), int(np.floor(y)), int(np.ceil(x + w)), int(np.ceil(y + h))
        xm = int(round(x + w / 2))
        img[y0:y1, x0:x1] = (r, 0, b)
        img[y0:y1, x0:xm, 1] = LEFT_G
        img[y0:y1, xm:x1, 1] = RIGHT_G
    return img


class FakeGaussianNet(nn.Module):
    """Emits, for each crop, Gaussian heatmaps (sigma in heatmap cells) centred where an ideal
    network would put them: the person's GT keypoints mapped through the crop affine (built
    from the box with the same geometry the pipeline uses), mirrored (x -> w-1-x, left/right
    channels swapped) when the crop is a flipped one, divided by the stride."""

    def __init__(self, people: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]],
                 input_size: tuple[int, int], flip_index: np.ndarray, sigma: float = 2.0,
                 stride: int = 4) -> None:
        super().__init__()
        self.people = people  # (R, B) code -> (box (4,), keypoints (K, 2) image px)
        self.input_size = input_size
        self.flip_index = np.asarray(flip_index)
        self.sigma, self.stride = sigma, stride
        self.num_keypoints = len(flip_index)
        self.seen_flipped = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, h = self.input_size
        mean = torch.tensor(NORMALIZE_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(NORMALIZE_STD).view(1, 3, 1, 1)
        rgb = ((x.float().cpu() * std + mean) * 255).round().numpy()
        hh, hw = h // self.stride, w // self.stride
        ys, xs = np.mgrid[0:hh, 0:hw].astype(np.float64)
        out = np.zeros((x.shape[0], self.num_keypoints, hh, hw), np.float32)
        for i in range(x.shape[0]):
            left = rgb[i, :, h // 2, (3 * w) // 8]
            code = (int(left[0]), int(left[2]))
            box, kpts = self.people[code]
            flipped = abs(left[1] - RIGHT_G) < abs(left[1] - LEFT_G)
            c, s = box_to_center_scale(np.asarray(box, float), w / h)
            crop = affine_points(kpts, get_affine_transform(c, s, 0.0, (w, h)))
            if flipped:
                self.seen_flipped += 1
                crop = crop[self.flip_index]
                crop[:, 0] = (w - 1) - crop[:, 0]
            hm = crop / self.stride
            for k in range(self.num_keypoints):
                d2 = (xs - hm[k, 0]) ** 2 + (ys - hm[k, 1]) ** 2
                out[i, k] = np.exp(-d2 / (2 * self.sigma ** 2))
        return torch.from_numpy(out).to(x.device)
