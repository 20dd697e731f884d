"""The prediction step of one condition: images decoded, corrupted and (for adapters with a
`crop_spec`) cut into person crops in worker processes (evaluation/pipeline.py), crops or
boxes batched across images into the adapter, outputs checked, CUDA OOM handled by halving
the batch; crop-mode attack hooks; heatmap statistics for the stability conditions.

`Predictor` is the interface the sweep calls (`predict(condition, indices)`, optionally
`plan(conditions, indices)` first and `close()` at the end); `LocalPredictor` runs the
adapter in this process, `evaluation.distributed.DaskPredictor` on a Dask cluster."""
from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
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
from robustpose_bench.evaluation.pipeline import (
    ImageStream,
    Prepared,
    StageTimes,
    crop_attack,
    crop_hook_for_sample,
    default_threads,
    gt_boxes_only,
    joined,
    oversubscribed,
)
from robustpose_bench.evaluation.predictions import Predictions
from robustpose_bench.evaluation.settings import RunSettings
from robustpose_bench.evaluation.source import ImageSource
from robustpose_bench.render.conditions import Condition

log = logging.getLogger(__name__)


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


def _adapter_failed(name: str, what: str, condition: Condition | None,
                    exc: BaseException) -> AdapterCallError:
    """The one-line error of an adapter that raised (or called sys.exit) on an image."""
    where = f"adapter {name} on {what}" + (f" under condition {condition.id}"
                                           if condition is not None else "")
    if isinstance(exc, SystemExit):
        return AdapterCallError(f"{where}: called sys.exit({exc.code!r})")
    detail = " ".join(str(exc).split()) or "(no message)"
    return AdapterCallError(f"{where}: {type(exc).__name__}: {detail}")


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch intra-op threads set to `threads` inside the block (restored after); nothing
    when None or torch is not loaded (an adapter without torch)."""
    torch = sys.modules.get("torch")
    if threads is None or torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(threads)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _add_counts(total: dict | None, counts: dict | None) -> None:
    if total is not None and counts:
        for key, value in counts.items():
            total[key] = total.get(key, 0) + int(value)


class _Clock:
    """Adds the CPU seconds of the model process's stages to a StageTimes: the adapter's own
    split (`timings` of the built-in pipeline: warp, model, postprocess) when it keeps one,
    else its whole call counts as `model`."""

    def __init__(self, adapter: Any, times: StageTimes):
        self.adapter, self.times = adapter, times

    def call(self, fn: Callable[[], Any]) -> Any:
        own = getattr(self.adapter, "timings", None)
        before = dict(own) if isinstance(own, dict) else None
        t0 = time.process_time()
        out = fn()
        total = time.process_time() - t0
        if before is None:
            self.times.add({"model": total})
        else:
            after = self.adapter.timings
            split = {k: v - before.get(k, 0.0) for k, v in after.items()}
            self.times.add(split)
            self.times.add({"postprocess": max(0.0, total - sum(split.values()))})
        return out

    def checked(self, fn: Callable[[], Any]) -> Any:
        t0 = time.process_time()
        out = fn()
        self.times.add({"postprocess": time.process_time() - t0})
        return out


def _note(item: Prepared, times: StageTimes, counts: dict | None) -> None:
    if item.error is not None:
        raise item.error
    times.add(item.seconds)
    times.images += 1
    _add_counts(counts, item.counts)


def bottom_up_loop(adapter, adapter_name: str, dataset: Dataset, items: Iterable[Prepared],
                   num_keypoints: int, times: StageTimes, bar: Any, counts: dict | None = None,
                   condition: Condition | None = None
                   ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Bottom-up models on prepared images: (keypoints (M_i, K, 3), boxes (M_i, 4) = keypoint
    extents, person scores (M_i,)) per sample index. An adapter that raises is named with
    the image and `condition` (AdapterCallError)."""
    preds, boxes, scores = {}, {}, {}
    clock = _Clock(adapter, times)
    for item in items:
        _note(item, times, counts)
        i, image = item.index, item.pixels()
        try:
            out = clock.call(lambda image=image: adapter.predict(image, None))
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - named by adapter, image, condition
            raise _adapter_failed(adapter_name, _ref(dataset.samples[i]), condition,
                                  exc) from exc
        kp, sc = clock.checked(lambda out=out, i=i: check_bottom_up_output(
            adapter_name, _ref(dataset.samples[i]), out, num_keypoints))
        lo, hi = (kp[..., :2].min(axis=1), kp[..., :2].max(axis=1)) if len(kp) else (
            np.zeros((0, 2)), np.zeros((0, 2)))
        preds[i], scores[i] = kp, sc
        boxes[i] = np.concatenate([lo, hi - lo], axis=1)
        bar.update(1)
    return preds, boxes, scores


def images_loop(adapter, adapter_name: str, dataset: Dataset, items: Iterable[Prepared],
                boxes: Sequence[SampleBoxes], num_keypoints: int, state: PredictState,
                times: StageTimes, bar: Any,
                crop_hook_for: Callable[[int], Callable | None] | None = None,
                counts: dict | None = None, condition: Condition | None = None
                ) -> dict[int, np.ndarray]:
    """Top-down models on prepared images (the adapter cuts its crops): boxes of several
    images batched (`predict_batch`) up to `state.batch_size`; on CUDA OOM the batch is
    halved (images split in two, or the adapter's own crop batch lowered) and retried.
    crop_hook_for(sample_index) gives the crop-mode attack hook of an image, or None."""
    out: dict[int, np.ndarray] = {}
    samples = dataset.samples
    batched = hasattr(adapter, "predict_batch") and not is_bottom_up(adapter)
    clock = _Clock(adapter, times)

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

    def culprit(items: list[tuple[int, np.ndarray]]) -> str:
        """The image a failed call failed on: the only one, or the first that fails alone."""
        if len(items) > 1:
            for item in items:
                try:
                    call([item])
                except Exception:  # noqa: BLE001 - looking for the image that fails
                    return _ref(samples[item[0]])
            return "images " + ", ".join(_ref(samples[i]) for i, _ in items)
        return _ref(samples[items[0][0]])

    def run(items: list[tuple[int, np.ndarray]]) -> None:
        try:
            preds = clock.call(lambda: call(items))
        except AdapterCallError:
            raise
        except SystemExit as exc:
            raise _adapter_failed(adapter_name, _ref(samples[items[0][0]]), condition,
                                  exc) from None
        except Exception as exc:  # noqa: BLE001 - OOM is re-tried, everything else named
            own = getattr(adapter, "batch_size", None)
            if not _is_oom(exc) or (len(items) == 1 and not (isinstance(own, int) and own > 1)):
                raise _adapter_failed(adapter_name, culprit(items), condition, exc) from exc
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
            out[i] = clock.checked(lambda i=i, p=p: check_output(
                adapter_name, _ref(samples[i]), p, len(boxes[i]), num_keypoints))

    _feed_batches(items, boxes, num_keypoints, out, times, counts, bar, state, run,
                  lambda item: (item.index, item.pixels()))
    return out


def _feed_batches(items: Iterable[Prepared], boxes: Sequence[np.ndarray], num_keypoints: int,
                  out: list, times: Any, counts: Any, bar: Any, state: Any,
                  run: Callable[[list], None], pend: Callable[[Prepared], Any]) -> None:
    """Group prepared images into batches of at least `state.batch_size` person boxes (read
    anew for every batch: an out-of-memory retry halves it) and hand each to `run` as a list
    of `pend(item)`; images without boxes get an empty (0, K, 3) result at once."""
    pending: list = []
    n_pending = 0
    for item in items:
        _note(item, times, counts)
        i = item.index
        if len(boxes[i]) == 0:
            out[i] = np.zeros((0, num_keypoints, 3))
            bar.update(1)
            continue
        pending.append(pend(item))
        n_pending += len(boxes[i])
        times.crops += len(boxes[i])
        if n_pending >= state.batch_size:
            run(pending)
            bar.update(len(pending))
            pending, n_pending = [], 0
    if pending:
        run(pending)
        bar.update(len(pending))


def crops_loop(adapter, adapter_name: str, dataset: Dataset, items: Iterable[Prepared],
               boxes: Sequence[SampleBoxes], num_keypoints: int, state: PredictState,
               times: StageTimes, bar: Any, counts: dict | None = None,
               condition: Condition | None = None) -> dict[int, np.ndarray]:
    """Top-down models whose crops the workers cut (`crop_spec`): the crops of several
    images go to `adapter.predict_crops` together, grouped exactly as `images_loop` groups
    images (up to `state.batch_size` boxes), so the numbers equal that path's. Crops of
    consecutive images of one worker chunk reach the adapter without a copy (`joined`)."""
    from robustpose_bench.adapters.topdown import CropBatch

    out: dict[int, np.ndarray] = {}
    samples = dataset.samples
    clock = _Clock(adapter, times)

    def culprit(pending: list[Prepared]) -> str:
        """The image whose crops the failed call failed on (the first that fails alone)."""
        for p in pending if len(pending) > 1 else ():
            try:
                adapter.predict_crops(p.crop_batch())
            except Exception:  # noqa: BLE001 - looking for the image that fails
                return _ref(samples[p.index])
        if len(pending) == 1:
            return _ref(samples[pending[0].index])
        return "images " + ", ".join(_ref(samples[p.index]) for p in pending)

    def run(pending: list[Prepared]) -> None:
        parts = [p.crop_batch() for p in pending]
        batch = CropBatch(joined([b.crops for b in parts]),
                          *(np.concatenate([getattr(b, k) for b in parts])
                            for k in ("centers", "scales", "matrices")))
        try:
            kp = clock.call(lambda: adapter.predict_crops(batch))
        except SystemExit as exc:
            raise _adapter_failed(adapter_name, _ref(samples[pending[0].index]), condition,
                                  exc) from None
        except Exception as exc:  # noqa: BLE001 - named by adapter, image, condition
            raise _adapter_failed(adapter_name, culprit(pending), condition, exc) from exc
        bounds = np.cumsum([0] + [len(boxes[p.index]) for p in pending])
        for p, a, b in zip(pending, bounds[:-1], bounds[1:], strict=True):
            out[p.index] = clock.checked(lambda p=p, a=a, b=b: check_output(
                adapter_name, _ref(samples[p.index]), kp[a:b], len(boxes[p.index]),
                num_keypoints))

    _feed_batches(items, boxes, num_keypoints, out, times, counts, bar, state, run,
                  lambda item: item)
    return out


def _bar(condition: Condition, total: int, progress: bool):
    return tqdm(total=total, unit="img", desc=condition.id, leave=False, disable=not progress,
                dynamic_ncols=True)


def predict_bottom_up(adapter, adapter_name: str, source: ImageSource, condition: Condition,
                      indices: Sequence[int], num_keypoints: int, workers: int = 0,
                      progress: bool = True, counts: dict | None = None
                      ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Bottom-up models on the images `indices` of `source` under `condition` (see
    `bottom_up_loop`); images prepared by `workers` processes."""
    stream = ImageStream([(condition, indices)], {"image": source, "crop": source}, (),
                         attack_mode="image", workers=workers)
    bar = _bar(condition, len(indices), progress)
    try:
        return bottom_up_loop(adapter, adapter_name, source.dataset, stream.take(condition),
                              num_keypoints, StageTimes(), bar, counts, condition)
    finally:
        bar.close()
        stream.close()


def predict_condition(adapter, adapter_name: str, source: ImageSource, condition: Condition,
                      boxes: Sequence[SampleBoxes], indices: Sequence[int], num_keypoints: int,
                      state: PredictState, workers: int = 0,
                      crop_hook_for: Callable[[int], Callable | None] | None = None,
                      progress: bool = True, counts: dict | None = None) -> dict[int, np.ndarray]:
    """Top-down models: keypoints (N_i, K, 3) in image pixels for each sample index of
    `indices`, the images of `source` under `condition` prepared by `workers` processes
    (see `images_loop`)."""
    stream = ImageStream([(condition, indices)], {"image": source, "crop": source}, boxes,
                         attack_mode="image", workers=workers)
    bar = _bar(condition, len(indices), progress)
    try:
        return images_loop(adapter, adapter_name, source.dataset, stream.take(condition),
                           boxes, num_keypoints, state, StageTimes(), bar, crop_hook_for,
                           counts, condition)
    finally:
        bar.close()
        stream.close()


def crop_hook_factory(dataset: Dataset, boxes: Sequence[SampleBoxes], condition: Condition
                      ) -> tuple[Callable[[int], Callable | None], Any]:
    """Per-image crop-mode attack hooks and their shared counter (Pytel et al. protocol)."""
    from robustpose_bench.occlusion import AttackCounts

    spec = condition.attack_spec(dataset.meta)
    counts = AttackCounts()
    is_gt = gt_boxes_only(boxes)

    def hook_for(i: int):
        return crop_hook_for_sample(dataset, boxes, condition, i, counts, is_gt, spec)

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
    indices of the data set) under `condition`. A predictor may also have `plan(conditions,
    indices)` (the sweep announces the conditions it will ask for, in order, so the work
    can run ahead) and `close()` (called when the sweep ends)."""

    def predict(self, condition: Condition, indices: Sequence[int]) -> ConditionOutput: ...


def wants_heatmaps(adapter: Any, settings: RunSettings) -> bool:
    """Whether the run measures heatmap statistics (stability conditions, a top-down adapter
    with `heatmaps`, heatmap_images > 0)."""
    return (bool(settings.stability_conditions) and not is_bottom_up(adapter)
            and supports_heatmaps(adapter) and settings.heatmap_images > 0)


def adapter_crop_spec(adapter: Any) -> Any:
    """The adapter's CropSpec when workers can cut its crops (a top-down adapter with
    `crop_spec()` and `predict_crops`), else None."""
    if is_bottom_up(adapter) or not callable(getattr(adapter, "predict_crops", None)):
        return None
    fn = getattr(adapter, "crop_spec", None)
    return fn() if callable(fn) else None


class LocalPredictor:
    """`Predictor` running `adapter` in this process, with the boxes of every sample.

    The images are decoded and corrupted (and, when the adapter has a `crop_spec`, cut into
    crops) by `settings.workers` processes (evaluation/pipeline.py), across the planned
    conditions. threads: torch intra-op threads of this process while predicting (None:
    the cores left by the workers, `pipeline.default_threads`). progress: a progress bar per
    condition. `times` sums the CPU seconds per stage (`pipeline.STAGES`).
    """

    def __init__(self, adapter: Any, dataset: Dataset, boxes: Sequence[SampleBoxes],
                 settings: RunSettings, progress: bool = False, threads: int | None = None):
        self.adapter, self.dataset, self.boxes, self.settings = adapter, dataset, boxes, settings
        self.progress = progress
        self.name = adapter_name(adapter)
        self.bottom_up = is_bottom_up(adapter)
        self.state = PredictState(settings.batch_size)
        if threads is not None and int(threads) < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.threads = int(threads) if threads is not None else default_threads(
            settings.workers)
        oversubscribed(settings.workers, self.threads)
        self.sources = {
            "image": ImageSource(dataset, settings.protocol, settings.rendered_root,
                                 attacks_in_image=True, max_pixels=settings.max_pixels),
            "crop": ImageSource(dataset, settings.protocol, settings.rendered_root,
                                attacks_in_image=False, max_pixels=settings.max_pixels),
        }
        self.crop_spec = adapter_crop_spec(adapter)
        self.heatmaps = wants_heatmaps(adapter, settings)
        self.times = StageTimes()
        self._stream: ImageStream | None = None
        self._stream_indices: list[int] = []

    # ---------------------------------------------------------------- the stream
    def plan(self, conditions: Sequence[Condition], indices: Sequence[int]) -> None:
        """Start preparing the images of `conditions` (in this order) ahead of `predict`."""
        self.close()
        if conditions:
            self._stream_indices = list(indices)
            self._stream = self._new_stream([(c, self._stream_indices) for c in conditions])

    def close(self) -> None:
        """Stop the worker processes of the plan."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()

    def __enter__(self) -> LocalPredictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _new_stream(self, plan: list[tuple[Condition, list[int]]]) -> ImageStream:
        return ImageStream(plan, self.sources, self.boxes, self.crop_spec,
                           self.settings.attack_mode, self.settings.workers)

    def _items(self, condition: Condition, indices: Sequence[int]
               ) -> tuple[Iterator[Prepared], ImageStream | None]:
        """The condition's prepared items: from the plan when it is the next planned one,
        else from a stream of its own (returned, for the caller to close)."""
        stream = self._stream
        if stream is not None and stream.planned()[:1] == [condition] and \
                list(indices) == self._stream_indices:
            return stream.take(condition), None
        if stream is not None:
            log.debug("condition %s is not the next planned one: plan dropped", condition.id)
            self.close()
        own = self._new_stream([(condition, list(indices))])
        return own.take(condition), own

    # ---------------------------------------------------------------- predict
    def predict(self, condition: Condition, indices: Sequence[int]) -> ConditionOutput:
        settings, k = self.settings, self.dataset.meta.num_keypoints
        on_crops = crop_attack(condition, settings.attack_mode)
        hook_for, counter = None, None
        counts: dict | None = None
        if condition.kind == "attack":
            if on_crops and self.crop_spec is not None:  # hooks run by the workers
                from robustpose_bench.occlusion import AttackCounts

                counts = dict.fromkeys(AttackCounts().as_dict(), 0)
            elif on_crops:
                hook_for, counter = crop_hook_factory(self.dataset, self.boxes, condition)
            else:
                counts = {}
        times = StageTimes()
        bar = _bar(condition, len(indices), self.progress)
        items, own = self._items(condition, indices)
        try:
            with torch_threads(self.threads):
                if self.bottom_up:
                    kp, bx, sc = bottom_up_loop(self.adapter, self.name, self.dataset, items, k,
                                                times, bar, counts, condition)
                    preds = Predictions(kp, bx, sc)
                else:
                    if self.crop_spec is not None:
                        kp = crops_loop(self.adapter, self.name, self.dataset, items,
                                        self.boxes, k, self.state, times, bar, counts,
                                        condition)
                    else:
                        kp = images_loop(self.adapter, self.name, self.dataset, items,
                                         self.boxes, k, self.state, times, bar, hook_for,
                                         counts, condition)
                    preds = Predictions(kp, {i: self.boxes[i].boxes for i in indices},
                                        {i: self.boxes[i].scores for i in indices})
                out = ConditionOutput(preds)
                if counts is not None:
                    out.attack_counts = counts
                if counter is not None:
                    out.attack_counts = counter.as_dict()
                if self.heatmaps and (condition.kind == "clean"
                                      or condition in settings.stability_conditions):
                    out.heatmap_stats = heatmap_stats(
                        self.adapter, self.sources["image"], condition, self.boxes,
                        list(indices)[:settings.heatmap_images])
        except BaseException:
            self.close()  # the plan's position is lost with the unfinished condition
            raise
        finally:
            bar.close()
            if own is not None:
                own.close()
        self.times.merge(times)
        return out
