"""Top-down training data: person crops with the reference augmentation and Gaussian targets.

Follows the HRNet / SimpleBaseline training pipeline (PROTOCOL.md section 3): box -> centre /
scale, half-body (p 0.3), scale N(1, sf) clipped, rotation N(0, rf) clipped to 2 rf with
probability 0.6, horizontal flip with left/right swap, affine crop, sigma-2 Gaussian targets
(`models.codec`: the reference MSRA encoding or DARK's unbiased one).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DistributedSampler

from robustpose_bench.datasets.types import Dataset
from robustpose_bench.geometry import (
    PIXEL_STD,
    affine_points,
    box_to_center_scale,
    clean_bbox,
    crop_pixel_scale,
    get_affine_transform,
)
from robustpose_bench.models import NORMALIZE_MEAN, NORMALIZE_STD
from robustpose_bench.models.codec import DEFAULT_CODEC, get_codec
from robustpose_bench.train.config import AugmentParams

log = logging.getLogger(__name__)

# ImageNet statistics on RGB in [0, 1]: the input normalisation of every zoo model.
IMAGENET_MEAN = np.array(NORMALIZE_MEAN, dtype=np.float32)
IMAGENET_STD = np.array(NORMALIZE_STD, dtype=np.float32)

# A per-sample hook of a training method: (sample dict, rng, dataset) -> sample dict. It runs
# in the DataLoader workers on the uint8 crop before targets and normalisation.
SampleTransform = Callable[[dict[str, Any], np.random.Generator, "TopDownTrainDataset"],
                           dict[str, Any]]


def normalize_image(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) RGB -> float32 (3, H, W), ImageNet mean/std normalised."""
    x = image.astype(np.float32) / 255.0
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def denormalize_image(tensor: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) normalised -> RGB in [0, 1] (not clipped)."""
    mean = torch.as_tensor(IMAGENET_MEAN, dtype=tensor.dtype, device=tensor.device)
    std = torch.as_tensor(IMAGENET_STD, dtype=tensor.dtype, device=tensor.device)
    return tensor * std[:, None, None] + mean[:, None, None]


def read_rgb(path) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3); raises ValueError naming the file."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise ValueError(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def half_body_center_scale(joints: np.ndarray, vis: np.ndarray, upper_ids: np.ndarray,
                           aspect_ratio: float, rng: np.random.Generator
                           ) -> tuple[np.ndarray, np.ndarray] | None:
    """Reference half-body transform: centre/scale of the upper or lower body's joints.

    joints: (K, 2) image pixels; vis: (K,) bool. The reference picks the upper body when
    `randn() < 0.5` (a standard normal, so about 69 % of the time) and it has more than 2
    visible joints; the box is padded to the aspect ratio and enlarged by 1.5.
    """
    upper_mask = np.zeros(len(joints), dtype=bool)
    upper_mask[upper_ids] = True
    upper = joints[vis & upper_mask]
    lower = joints[vis & ~upper_mask]
    if rng.standard_normal() < 0.5 and len(upper) > 2:
        selected = upper
    else:
        selected = lower if len(lower) > 2 else upper
    if len(selected) < 2:
        return None
    center = selected.mean(axis=0)
    lt, rb = selected.min(axis=0), selected.max(axis=0)
    w, h = rb[0] - lt[0], rb[1] - lt[1]
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w / PIXEL_STD, h / PIXEL_STD]) * 1.5
    return center, scale


class TopDownTrainDataset(torch.utils.data.Dataset):
    """Person crops for top-down training (or un-augmented crops for evaluation losses).

    Items are addressed by `epoch * len(self) + index` (see ResumableDistributedSampler): the
    augmentation of a sample is drawn from `np.random.default_rng([seed, epoch, index])`, so
    it does not depend on the worker that loads it and a resumed run repeats it exactly.

    Each item is a dict of tensors: image (3, H, W) float32 normalised, target (K, h, w),
    target_weight (K,), joints (K, 3) crop pixels + visibility, center (2,), scale (2,),
    rotation, flipped, image_id, ann_id, index; plus what the method's hook adds (uint8 images
    listed in `sample["extra_images"]` are normalised like `image`).
    """

    def __init__(self, dataset: Dataset, input_size: tuple[int, int],
                 heatmap_size: tuple[int, int], *, train: bool = True,
                 augment: AugmentParams | None = None, sigma: float = 2.0,
                 encoding: str = DEFAULT_CODEC, seed: int = 0, min_keypoints: int = 1,
                 sample_transform: SampleTransform | None = None):
        self.dataset = dataset
        self.meta = dataset.meta
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.aspect_ratio = self.input_size[0] / self.input_size[1]
        self.train = train
        self.augment = augment or AugmentParams()
        self.sigma = float(sigma)
        self.encode = get_codec(encoding).encode
        self.seed = int(seed)
        self.sample_transform = sample_transform
        self.flip_index = self.meta.flip_index()
        upper = self.meta.part_groups.get("upper_body", ())
        self.upper_ids = np.asarray(upper, dtype=np.int64)
        self.records: list[tuple[int, int, np.ndarray]] = []
        for si, sample in enumerate(dataset.samples):
            for pi, person in enumerate(sample.persons):
                if person.iscrowd or person.num_keypoints < min_keypoints:
                    continue
                # MPII-style persons carry the file's centre/scale: their box is the crop
                # itself, not an object box (the reference does not clean it).
                box = (person.bbox.copy() if person.center is not None
                       else clean_bbox(person.bbox, sample.width, sample.height, person.area))
                if box is None:
                    continue
                self.records.append((si, pi, box))
        if not self.records:
            raise ValueError(f"{dataset.ann_file or dataset.meta.name}: no person with at least "
                             f"{min_keypoints} labelled keypoint(s) and a valid box to train on")
        log.info("%s: %d training instances from %d images", dataset.meta.name,
                 len(self.records), len(dataset.samples))

    def __len__(self) -> int:
        return len(self.records)

    def rng_for(self, key: int) -> tuple[int, int, np.random.Generator]:
        epoch, index = divmod(int(key), len(self.records))
        return epoch, index, np.random.default_rng([self.seed, epoch, index])

    # ---- crops --------------------------------------------------------------------------
    def load_crop(self, index: int, rng: np.random.Generator | None = None,
                  augment: bool | None = None) -> dict[str, Any]:
        """The (augmented) crop of record `index` as numpy arrays, before any method hook.

        Returns image uint8 (H, W, 3) RGB, joints (K, 2) crop pixels, vis (K,) float32 (1 for
        labelled joints), center (2,) / scale (2,) / rotation (deg) / flipped of the crop,
        box_diag (the person box diagonal in crop pixels), image_id, ann_id.
        """
        si, pi, box = self.records[index]
        sample = self.dataset.samples[si]
        person = sample.persons[pi]
        image = read_rgb(self.dataset.image_path(sample))
        height, width = image.shape[:2]
        joints = person.keypoints[:, :2].astype(np.float64).copy()
        vis = person.keypoints[:, 2] > 0
        center, scale = box_to_center_scale(box, self.aspect_ratio)
        rot = 0.0
        flipped = False
        augment = self.train if augment is None else augment
        if augment:
            if rng is None:
                raise ValueError("augmented crops need a random generator")
            a = self.augment
            if (len(self.upper_ids) and vis.sum() > a.half_body_min_joints
                    and rng.random() < a.half_body_prob):
                hb = half_body_center_scale(joints, vis, self.upper_ids, self.aspect_ratio, rng)
                if hb is not None:
                    center, scale = hb
            sf, rf = a.scale_factor, a.rotation
            scale = scale * np.clip(rng.standard_normal() * sf + 1, 1 - sf, 1 + sf)
            rot = float(np.clip(rng.standard_normal() * rf, -2 * rf, 2 * rf)) \
                if rng.random() <= a.rotation_prob else 0.0
            if a.flip and rng.random() <= 0.5:
                flipped = True
        trans = get_affine_transform(center, scale, rot, self.input_size)
        if flipped:
            # Mirror the image (x -> W - 1 - x) and the centre, as the reference does, by
            # composing the mirror into the crop warp instead of copying the image.
            center = center.copy()
            center[0] = width - center[0] - 1
            trans = get_affine_transform(center, scale, rot, self.input_size)
            mirror = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
            trans_img = np.vstack([trans, [0.0, 0.0, 1.0]]) @ mirror
            joints = joints.copy()
            joints[:, 0] = width - joints[:, 0] - 1
            joints = joints[self.flip_index]
            vis = vis[self.flip_index]
            warp = trans_img[:2]
        else:
            warp = trans
        crop = cv2.warpAffine(image, warp, self.input_size, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        joints_crop = affine_points(joints, trans).astype(np.float32)
        joints_crop[~vis] = 0.0
        box_diag = float(np.hypot(box[2], box[3])) * crop_pixel_scale(trans)
        return {
            "image": crop,
            "joints": joints_crop,
            "vis": vis.astype(np.float32),
            "center": np.asarray(center, dtype=np.float32),
            "scale": np.asarray(scale, dtype=np.float32),
            "rotation": np.float32(rot),
            "flipped": flipped,
            "box_diag": np.float32(box_diag),
            "image_id": int(sample.image_id),
            "ann_id": int(person.id),
        }

    def __getitem__(self, key: int) -> dict[str, Any]:
        epoch, index, rng = self.rng_for(key)
        sample = self.load_crop(index, rng)
        sample["index"] = index
        sample["epoch"] = epoch
        if self.sample_transform is not None:
            sample = self.sample_transform(sample, rng, self)
        target, weight = self.encode(sample["joints"], sample["vis"], self.input_size,
                                     self.heatmap_size, self.sigma)
        out: dict[str, Any] = {}
        extra_images = set(sample.pop("extra_images", ()))
        for key_, value in sample.items():
            if key_ == "image" or key_ in extra_images:
                out[key_] = torch.from_numpy(normalize_image(value))
            elif isinstance(value, np.ndarray):
                out[key_] = torch.from_numpy(np.ascontiguousarray(value))
            elif isinstance(value, (bool, np.bool_)):
                out[key_] = torch.tensor(bool(value))
            elif isinstance(value, (int, np.integer)):
                out[key_] = torch.tensor(int(value), dtype=torch.int64)
            elif isinstance(value, (float, np.floating)):
                out[key_] = torch.tensor(float(value), dtype=torch.float32)
            elif isinstance(value, torch.Tensor):
                out[key_] = value
            else:
                raise TypeError(f"sample field {key_!r} has unsupported type {type(value).__name__}")
        out["target"] = torch.from_numpy(target)
        out["target_weight"] = torch.from_numpy(weight)
        joints = np.concatenate([sample["joints"], sample["vis"][:, None]], axis=1)
        out["joints"] = torch.from_numpy(joints.astype(np.float32))
        return out


class ResumableDistributedSampler(DistributedSampler):
    """DistributedSampler that can start mid-epoch and tags indices with the epoch.

    Yields `epoch * N + index` (decoded by TopDownTrainDataset) so every sample's augmentation
    is a pure function of (seed, epoch, index). `set_epoch(epoch, start_batch)` skips the
    first `start_batch` batches of this replica (resume after a kill mid-epoch).
    """

    def __init__(self, dataset: TopDownTrainDataset, batch_size: int, num_replicas: int = 1,
                 rank: int = 0, shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle,
                         seed=seed, drop_last=drop_last)
        self.batch_size = int(batch_size)
        self.start_batch = 0
        self.n = len(dataset)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:  # type: ignore[override]
        super().set_epoch(epoch)
        self.start_batch = int(start_batch)

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        skip = self.start_batch * self.batch_size
        for i in indices[skip:]:
            yield self.epoch * self.n + int(i)

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start_batch * self.batch_size)


def worker_init(_worker_id: int) -> None:
    """DataLoader worker setup: no OpenCV / torch thread oversubscription."""
    cv2.setNumThreads(0)
    torch.set_num_threads(1)
