"""The prediction loop of one condition: images decoded (and corrupted) in worker processes,
boxes batched across images into the adapter, outputs checked, CUDA OOM handled by halving
the batch."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from robustpose_bench.adapters.base import (
    check_bottom_up_output,
    check_output,
    is_bottom_up,
)
from robustpose_bench.evaluate.boxes import SampleBoxes
from robustpose_bench.evaluate.source import ImageSource
from robustpose_bench.render.conditions import Condition

log = logging.getLogger(__name__)


class _Images:
    """torch-style map dataset: index -> (index, pixels) for one condition."""

    def __init__(self, source: ImageSource, condition: Condition, indices: Sequence[int]):
        self.source, self.condition, self.indices = source, condition, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray, dict]:
        idx = self.indices[i]
        image, info = self.source.load_with_info(self.source.dataset.samples[idx], self.condition)
        return idx, image, info


def iter_images(source: ImageSource, condition: Condition, indices: Sequence[int],
                workers: int, counts: dict | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(sample index, pixels) in order; decoding/corrupting in `workers` processes.

    counts: when given, the image-mode attack counters of every image are summed into it.
    """
    data = _Images(source, condition, indices)
    if workers <= 0:
        items: Iterator = (data[i] for i in range(len(data)))
    else:
        from torch.utils.data import DataLoader

        items = iter(DataLoader(data, batch_size=None, shuffle=False, num_workers=workers,
                                prefetch_factor=4, persistent_workers=False))
    for idx, image, info in items:
        if counts is not None:
            for key, value in info.get("counts", {}).items():
                counts[key] = counts.get(key, 0) + int(value)
        yield idx, image


def _is_oom(exc: BaseException) -> bool:
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:
        pass
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


@dataclass
class PredictState:
    batch_size: int


def _ref(sample) -> str:
    return f"image {sample.image_id} ({sample.file_name})"


def predict_bottom_up(adapter, adapter_name: str, source: ImageSource, condition: Condition,
                      indices: Sequence[int], num_keypoints: int, workers: int = 0,
                      progress: bool = True, counts: dict | None = None
                      ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Bottom-up models: (keypoints (M_i, K, 3), boxes (M_i, 4) = keypoint extents, person
    scores (M_i,)) per sample index."""
    preds, boxes, scores = {}, {}, {}
    samples = source.dataset.samples
    bar = tqdm(total=len(indices), unit="img", desc=condition.id, leave=False,
               disable=not progress, dynamic_ncols=True)
    for i, image in iter_images(source, condition, indices, workers, counts):
        kp, sc = check_bottom_up_output(adapter_name, _ref(samples[i]),
                                        adapter.predict(image, None), num_keypoints)
        lo, hi = (kp[..., :2].min(axis=1), kp[..., :2].max(axis=1)) if len(kp) else (
            np.zeros((0, 2)), np.zeros((0, 2)))
        preds[i], scores[i] = kp, sc
        boxes[i] = np.concatenate([lo, hi - lo], axis=1)
        bar.update(1)
    bar.close()
    return preds, boxes, scores


def predict_condition(adapter, adapter_name: str, source: ImageSource, condition: Condition,
                      boxes: Sequence[SampleBoxes], indices: Sequence[int], num_keypoints: int,
                      state: PredictState, workers: int = 0,
                      crop_hook_for: Callable[[int], Callable | None] | None = None,
                      progress: bool = True, counts: dict | None = None) -> dict[int, np.ndarray]:
    """Top-down models: keypoints (N_i, K, 3) in image pixels for each sample index.

    crop_hook_for(sample_index) gives the crop-mode attack hook of that image (passed to the
    adapter's `predict(..., crop_hook=)`), or None.
    """
    out: dict[int, np.ndarray] = {}
    samples = source.dataset.samples
    pending: list[tuple[int, np.ndarray]] = []
    n_pending = 0
    batched = hasattr(adapter, "predict_batch") and not is_bottom_up(adapter)

    def call(items: list[tuple[int, np.ndarray]]) -> list:
        if batched and crop_hook_for is not None:
            return adapter.predict_batch([(img, boxes[i].boxes, crop_hook_for(i))
                                          for i, img in items])
        if batched:
            return adapter.predict_batch([(img, boxes[i].boxes) for i, img in items])
        return [adapter.predict(img, boxes[i].boxes,
                                **({"crop_hook": crop_hook_for(i)} if crop_hook_for else {}))
                for i, img in items]

    def run(items: list[tuple[int, np.ndarray]]) -> None:
        """Predict `items`; on CUDA OOM halve the batch: split the images in two, or (one
        image) lower the adapter's own crop batch, and retry."""
        try:
            preds = call(items)
        except Exception as exc:  # noqa: BLE001 - OOM is re-tried, everything else re-raised
            own = getattr(adapter, "batch_size", None)
            if not _is_oom(exc) or (len(items) == 1 and not (isinstance(own, int) and own > 1)):
                raise
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            state.batch_size = max(1, state.batch_size // 2)
            if isinstance(own, int):
                adapter.batch_size = max(1, min(own, state.batch_size) if len(items) > 1
                                         else own // 2)
            log.warning("CUDA out of memory: batch size halved to %d", state.batch_size)
            if len(items) > 1:
                half = len(items) // 2
                run(items[:half])
                run(items[half:])
            else:
                run(items)
            return
        for (i, _), p in zip(items, preds, strict=True):
            out[i] = check_output(adapter_name, _ref(samples[i]), p, len(boxes[i]),
                                  num_keypoints)

    bar = tqdm(total=len(indices), unit="img", desc=condition.id, leave=False,
               disable=not progress, dynamic_ncols=True)
    try:
        for i, image in iter_images(source, condition, indices, workers, counts):
            if len(boxes[i]) == 0:
                out[i] = np.zeros((0, num_keypoints, 3))
                bar.update(1)
                continue
            pending.append((i, image))
            n_pending += len(boxes[i])
            if n_pending >= state.batch_size:
                run(pending)
                bar.update(len(pending))
                pending, n_pending = [], 0
        if pending:
            run(pending)
            bar.update(len(pending))
    finally:
        bar.close()
    return out
