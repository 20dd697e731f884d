"""The prediction loop of one condition: images decoded (and corrupted) in worker processes,
boxes batched across images into the adapter, outputs checked, CUDA OOM handled by halving
the batch."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from robustpose_bench.evaluate.boxes import SampleBoxes
from robustpose_bench.evaluate.source import ImageSource
from robustpose_bench.render.conditions import Condition

log = logging.getLogger(__name__)


class AdapterOutputError(ValueError):
    """An adapter returned something that breaks the contract (shape, K, NaN)."""


def check_predictions(adapter_name: str, file_name: str, out, n_boxes: int, k: int) -> np.ndarray:
    """(N, K, 3) finite float64, else an error naming the adapter and the sample."""
    try:
        arr = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        raise AdapterOutputError(f"{adapter_name}: predict() on {file_name} returned "
                                 f"{type(out).__name__}, expected an (N, K, 3) array") from None
    if arr.shape != (n_boxes, k, 3):
        hint = f" (the data set has K = {k} keypoints)" if arr.ndim == 3 and arr.shape[1] != k else ""
        raise AdapterOutputError(f"{adapter_name}: predict() on {file_name} returned shape "
                                 f"{arr.shape}, expected ({n_boxes}, {k}, 3){hint}")
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise AdapterOutputError(f"{adapter_name}: predict() on {file_name} returned a non-finite "
                                 f"value at box {bad[0]}, keypoint {bad[1]}")
    return arr


class _Images:
    """torch-style map dataset: index -> (index, pixels) for one condition."""

    def __init__(self, source: ImageSource, condition: Condition, indices: Sequence[int]):
        self.source, self.condition, self.indices = source, condition, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray]:
        idx = self.indices[i]
        return idx, self.source.load(self.source.dataset.samples[idx], self.condition)


def iter_images(source: ImageSource, condition: Condition, indices: Sequence[int],
                workers: int) -> Iterator[tuple[int, np.ndarray]]:
    """(sample index, pixels) in order; decoding/corrupting in `workers` processes."""
    data = _Images(source, condition, indices)
    if workers <= 0:
        for i in range(len(data)):
            yield data[i]
        return
    from torch.utils.data import DataLoader

    loader = DataLoader(data, batch_size=None, shuffle=False, num_workers=workers,
                        prefetch_factor=4, persistent_workers=False)
    yield from loader


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


def predict_condition(adapter, adapter_name: str, source: ImageSource, condition: Condition,
                      boxes: Sequence[SampleBoxes], indices: Sequence[int], num_keypoints: int,
                      state: PredictState, workers: int = 0,
                      crop_hook_for: Callable[[int], Callable | None] | None = None,
                      progress: bool = True) -> dict[int, np.ndarray]:
    """Keypoints (N_i, K, 3) in image pixels for each sample index in `indices`.

    crop_hook_for(sample_index) gives the crop-mode attack hook of that image (passed to the
    adapter's `predict(..., crop_hook=)`), or None.
    """
    out: dict[int, np.ndarray] = {}
    samples = source.dataset.samples
    pending: list[tuple[int, np.ndarray]] = []
    n_pending = 0
    batched = hasattr(adapter, "predict_batch")

    def run(items: list[tuple[int, np.ndarray]]) -> None:
        while True:
            try:
                if batched and crop_hook_for is not None:
                    preds = adapter.predict_batch([(img, boxes[i].boxes, crop_hook_for(i))
                                                   for i, img in items])
                elif batched:
                    preds = adapter.predict_batch([(img, boxes[i].boxes) for i, img in items])
                else:
                    preds = []
                    for i, img in items:
                        kw = {"crop_hook": crop_hook_for(i)} if crop_hook_for is not None else {}
                        preds.append(adapter.predict(img, boxes[i].boxes, **kw))
                break
            except Exception as exc:  # noqa: BLE001 - OOM is re-tried, everything else re-raised
                if not _is_oom(exc) or state.batch_size <= 1:
                    raise
                import torch

                torch.cuda.empty_cache()
                state.batch_size = max(1, state.batch_size // 2)
                if hasattr(adapter, "batch_size"):
                    adapter.batch_size = state.batch_size
                log.warning("CUDA out of memory: batch size halved to %d", state.batch_size)
        for (i, _), p in zip(items, preds, strict=True):
            out[i] = check_predictions(adapter_name, samples[i].file_name, p, len(boxes[i]),
                                       num_keypoints)

    bar = tqdm(total=len(indices), unit="img", desc=condition.id, leave=False,
               disable=not progress, dynamic_ncols=True)
    try:
        for i, image in iter_images(source, condition, indices, workers):
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
