"""The prediction step of one condition: images decoded (and corrupted) in worker processes,
boxes batched across images into the adapter, outputs checked, CUDA OOM handled by halving
the batch; crop-mode attack hooks; heatmap statistics for the stability conditions.

`Predictor` is the interface the sweep calls (`predict(condition, indices)`); `LocalPredictor`
runs the adapter in this process. Another executor (a Dask cluster) implements the same
method."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from robustpose_bench.adapters.base import (
    adapter_name,
    check_bottom_up_output,
    check_output,
    is_bottom_up,
    supports_heatmaps,
)
from robustpose_bench.datasets.types import Dataset
from robustpose_bench.evaluation.boxes import SampleBoxes
from robustpose_bench.evaluation.errors import AdapterCallError
from robustpose_bench.evaluation.predictions import Predictions
from robustpose_bench.evaluation.settings import RunSettings
from robustpose_bench.evaluation.source import ImageSource
from robustpose_bench.render.conditions import Condition

log = logging.getLogger(__name__)


class _Images:
    """torch-style map dataset: index -> (index, pixels) for one condition."""

    def __init__(self, source: ImageSource, condition: Condition, indices: Sequence[int]):
        self.source, self.condition, self.indices = source, condition, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray | OSError, dict]:
        idx = self.indices[i]
        try:
            image, info = self.source.load_with_info(self.source.dataset.samples[idx],
                                                     self.condition)
        except OSError as exc:  # an unreadable image: re-raised as it is by iter_images (a
            return idx, exc, {}  # worker's own re-raise would wrap it in its traceback text)
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
        if isinstance(image, BaseException):
            raise image
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


def _adapter_failed(name: str, what: str, condition: Condition,
                    exc: BaseException) -> AdapterCallError:
    """The one-line error of an adapter that raised (or called sys.exit) on an image."""
    where = f"adapter {name} on {what} under condition {condition.id}"
    if isinstance(exc, SystemExit):
        return AdapterCallError(f"{where}: called sys.exit({exc.code!r})")
    detail = " ".join(str(exc).split()) or "(no message)"
    return AdapterCallError(f"{where}: {type(exc).__name__}: {detail}")


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
        try:
            raw = adapter.predict(image, None)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - named by adapter, image, condition
            raise _adapter_failed(adapter_name, _ref(samples[i]), condition, exc) from exc
        kp, sc = check_bottom_up_output(adapter_name, _ref(samples[i]), raw, num_keypoints)
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
        preds = []
        for i, img in items:
            try:
                preds.append(adapter.predict(img, boxes[i].boxes, **(
                    {"crop_hook": crop_hook_for(i)} if crop_hook_for else {})))
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - OOM re-tried, else named
                if isinstance(exc, Exception) and _is_oom(exc):
                    raise
                raise _adapter_failed(adapter_name, _ref(samples[i]), condition, exc) from exc
        return preds

    def run(items: list[tuple[int, np.ndarray]]) -> None:
        """Predict `items`; on CUDA OOM halve the batch: split the images in two, or (one
        image) lower the adapter's own crop batch, and retry."""
        try:
            preds = call(items)
        except AdapterCallError:
            raise
        except SystemExit as exc:
            raise _adapter_failed(adapter_name, _ref(samples[items[0][0]]), condition,
                                  exc) from None
        except Exception as exc:  # noqa: BLE001 - OOM is re-tried, everything else named
            own = getattr(adapter, "batch_size", None)
            if not _is_oom(exc) or (len(items) == 1 and not (isinstance(own, int) and own > 1)):
                raise _adapter_failed(adapter_name, _culprit(items, exc), condition,
                                      exc) from exc
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

    def _culprit(items: list[tuple[int, np.ndarray]], exc: BaseException) -> str:
        """The image a failed call failed on: the only one, or the first that fails alone."""
        if len(items) > 1:
            for item in items:
                try:
                    call([item])
                except Exception:  # noqa: BLE001 - looking for the image that fails
                    return _ref(samples[item[0]])
            return "images " + ", ".join(_ref(samples[i]) for i, _ in items)
        return _ref(samples[items[0][0]])

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


def crop_hook_factory(dataset: Dataset, boxes: Sequence[SampleBoxes], condition: Condition
                      ) -> tuple[Callable[[int], Callable | None], Any]:
    """Per-image crop-mode attack hooks and their shared counter (Pytel et al. protocol)."""
    from robustpose_bench.occlusion import AttackCounts, make_crop_hook
    from robustpose_bench.occlusion.attack import persons_arrays

    spec = condition.attack_spec(dataset.meta)
    counts = AttackCounts()
    is_gt = all(np.all(b.scores == 1.0) for b in boxes)
    k = dataset.meta.num_keypoints

    def hook_for(i: int):
        sample, sb = dataset.samples[i], boxes[i]
        kps, pboxes, keep = persons_arrays(sample.persons, k)
        if is_gt:
            pos = {p: j for j, p in enumerate(keep)}
            match = np.array([pos.get(int(g), -1) for g in sb.gt_index], dtype=np.int64)
            hook, _ = make_crop_hook(sb.boxes, kps, None, spec, match=match, counts=counts)
        else:
            hook, _ = make_crop_hook(sb.boxes, kps, pboxes, spec, counts=counts)
        return hook

    return hook_for, counts


def heatmap_stats(adapter, source: ImageSource, condition: Condition,
                  boxes: Sequence[SampleBoxes], indices: Sequence[int]) -> dict:
    """D_n and D_(1)(2) (stable-heatmap paper eq. 11-12) of the adapter's heatmaps on the
    images `indices` of a condition (heatmap cells of the model output frame)."""
    from robustpose_bench.metrics.stability import heatmap_peak_stats

    maps = []
    for i in indices:
        if len(boxes[i]):
            image = source.load(source.dataset.samples[i], condition)
            maps.append(np.asarray(adapter.heatmaps(image, boxes[i].boxes), dtype=np.float32))
    if not maps:
        return {}
    stats = heatmap_peak_stats(np.concatenate(maps))
    stats["num_images"] = len(maps)
    return stats


@dataclass
class ConditionOutput:
    """What the prediction step returns for one condition: the predictions, and the attack
    counters (attack conditions) and heatmap statistics (stability conditions) when made."""

    predictions: Predictions
    attack_counts: dict | None = None
    heatmap_stats: dict | None = None


class Predictor(Protocol):
    """The prediction step of the sweep: the predictions of the images `indices` (sample
    indices of the data set) under `condition`."""

    def predict(self, condition: Condition, indices: Sequence[int]) -> ConditionOutput: ...


class LocalPredictor:
    """`Predictor` running `adapter` in this process (images decoded and corrupted by
    `settings.workers` processes), with the boxes of every sample; `progress`: a progress bar
    per condition."""

    def __init__(self, adapter: Any, dataset: Dataset, boxes: Sequence[SampleBoxes],
                 settings: RunSettings, progress: bool = False):
        self.adapter, self.dataset, self.boxes, self.settings = adapter, dataset, boxes, settings
        self.progress = progress
        self.name = adapter_name(adapter)
        self.bottom_up = is_bottom_up(adapter)
        self.state = PredictState(settings.batch_size)
        self.sources = {
            "image": ImageSource(dataset, settings.protocol, settings.rendered_root,
                                 attacks_in_image=True, max_pixels=settings.max_pixels),
            "crop": ImageSource(dataset, settings.protocol, settings.rendered_root,
                                attacks_in_image=False, max_pixels=settings.max_pixels),
        }
        self.heatmaps = (bool(settings.stability_conditions) and not self.bottom_up
                         and supports_heatmaps(adapter) and settings.heatmap_images > 0)

    def predict(self, condition: Condition, indices: Sequence[int]) -> ConditionOutput:
        settings, k = self.settings, self.dataset.meta.num_keypoints
        use_crop = condition.kind == "attack" and settings.attack_mode == "crop"
        hook_for, counter = None, None
        image_counts: dict | None = {} if condition.kind == "attack" and not use_crop else None
        if use_crop:
            hook_for, counter = crop_hook_factory(self.dataset, self.boxes, condition)
        source = self.sources["crop" if use_crop else "image"]
        progress = self.progress
        if self.bottom_up:
            kp, bx, sc = predict_bottom_up(self.adapter, self.name, source, condition, indices, k,
                                           settings.workers, progress, image_counts)
            preds = Predictions(kp, bx, sc)
        else:
            kp = predict_condition(self.adapter, self.name, source, condition, self.boxes,
                                   indices, k, self.state, settings.workers,
                                   crop_hook_for=hook_for, progress=progress,
                                   counts=image_counts)
            preds = Predictions(kp, {i: self.boxes[i].boxes for i in indices},
                                {i: self.boxes[i].scores for i in indices})
        out = ConditionOutput(preds)
        if image_counts is not None:
            out.attack_counts = image_counts
        if counter is not None:
            out.attack_counts = counter.as_dict()
        if self.heatmaps and (condition.kind == "clean"
                              or condition in settings.stability_conditions):
            out.heatmap_stats = heatmap_stats(self.adapter, self.sources["image"], condition,
                                              self.boxes, list(indices)[:settings.heatmap_images])
        return out
