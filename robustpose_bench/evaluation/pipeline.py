"""The per-image half of the prediction step, run ahead of the model: for each planned
(condition, image) a worker decodes the image, applies the condition (corruption + JPEG round
trip, or an image-mode attack) and, for adapters that say how they crop (`crop_spec()`),
also warps the person crops (with crop-mode attack hooks). The model process only batches
crops across images and runs the network.

One `ImageStream` covers every (condition, image) the sweep will predict, in order, so the
workers keep working on the next condition while the model process scores the last one.
Workers: `torch.utils.data.DataLoader` processes, each with one torch and one OpenCV thread;
a worker item is a chunk of consecutive (condition, image) items (`chunk_bounds`), packed
into one crop array and one pixel array (`PreparedChunk`, shared memory), so the cost of
crossing to the model process is paid per chunk, not per image. `workers=0` does the same
work in this process, image by image. Every item carries the CPU seconds of its stages
(`STAGES`), summed by the predictor.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robustpose_bench.datasets.types import Dataset
from robustpose_bench.evaluation.boxes import SampleBoxes
from robustpose_bench.evaluation.source import ImageSource
from robustpose_bench.render.conditions import Condition

log = logging.getLogger(__name__)

#: Stages of the prediction step whose CPU seconds are measured (`StageTimes`): in the
#: workers decode, corrupt, jpeg (encode + decode round trip), warp (crop cutting); in the
#: model process model (network incl. normalisation and flip test), postprocess (heatmap
#: decoding + back to image pixels, output checks). Scoring is the sweep's.
STAGES = ("decode", "corrupt", "jpeg", "warp", "model", "postprocess")

#: Chunks each worker prepares ahead of the model process (DataLoader prefetch_factor).
PREFETCH = 2

#: A worker's chunk ends after the image that brings it to CHUNK_CROPS person crops, or at
#: CHUNK_IMAGES images (images without crops: bottom-up models, adapters cutting their own
#: crops). Each chunk crossing to the model process costs there ~1-2 ms (unpickling,
#: shared-memory handles), as much as the model process's share of a small image.
CHUNK_CROPS = 64
CHUNK_IMAGES = 16

#: Niceness added to worker processes (0: same priority as the model process), so that the
#: model process is not starved when workers fill the cores.
WORKER_NICE = 5


#: Where the prediction step runs: this machine (data-loader worker processes feeding the
#: model in this process) or a Dask cluster (evaluation/distributed.py). The same `--backend`
#: values as `generate` / `attack` (which also accept `loky`, the joblib name of local).
EXECUTORS = ("local", "dask")


def check_executor(backend: str | None, scheduler: str | None) -> str:
    """The executor of (`backend`, `scheduler`): a scheduler address alone means dask; an
    AP engine name or anything else is refused in one line naming the option."""
    if backend is None:
        return "dask" if scheduler else "local"
    if backend == "loky":
        backend = "local"
    if backend not in EXECUTORS:
        from robustpose_bench.metrics.coco import list_backends

        hint = (f"; {backend!r} is an AP engine: pass it as ap_backend (--ap-backend)"
                if backend in (*list_backends(), "auto") else "")
        raise ValueError(f"backend {backend!r}: choose local or dask{hint}")
    if backend == "local" and scheduler:
        raise ValueError(f"a scheduler ({scheduler}) needs backend dask, not local")
    return backend


def check_dask(scheduler: str | None) -> None:
    """One-line ValueError, before any work, when the dask executor cannot run:
    dask.distributed missing, or nothing listening at `scheduler` (render/jobs.py)."""
    from robustpose_bench.render.jobs import probe_scheduler, require_dask

    require_dask()
    if scheduler:
        probe_scheduler(scheduler)


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, e.g. a container's limit)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_threads(workers: int) -> int:
    """torch intra-op threads of the model process: the cores left by `workers` worker
    processes (at least 1), so that workers + threads <= cores where possible."""
    return max(1, available_cores() - max(0, int(workers)))


def oversubscribed(workers: int, threads: int) -> bool:
    """Warn (and return True) when more worker processes than cores, or several torch threads
    on top of workers that already fill the cores, were asked for: they then take turns on
    the cores (allowed, but slower for CPU-bound work; docs/scaling.md). The model process's
    one thread next to `cores` workers is the default and not warned about."""
    cores, workers, threads = available_cores(), max(0, int(workers)), int(threads)
    if workers <= cores and (threads <= 1 or workers + threads <= cores):
        return False
    log.warning("%d worker processes + %d torch threads on %d cores: they will take turns "
                "(--workers at most %d, --threads at most the cores left)", workers, threads,
                cores, cores)
    return True


@dataclass
class StageTimes:
    """CPU seconds per stage (`STAGES`), summed over items, and what they covered."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    images: int = 0
    crops: int = 0

    def add(self, seconds: dict[str, float]) -> None:
        for k, v in seconds.items():
            self.seconds[k] = self.seconds.get(k, 0.0) + float(v)

    def merge(self, other: StageTimes) -> None:
        self.add(other.seconds)
        self.images += other.images
        self.crops += other.crops

    def as_dict(self) -> dict[str, Any]:
        return {"seconds": {k: round(v, 6) for k, v in self.seconds.items()},
                "images": self.images, "crops": self.crops}


@dataclass
class Prepared:
    """One (condition, image) made ready for the model.

    position: the item's place in the stream. index: sample index. image: (H, W, 3) uint8
    pixels when the model process cuts the crops, else None. crops: the CropBatch (crops
    (N, h, w, 3) uint8) when the worker cut them; both may be views of a chunk's arrays
    (`PreparedChunk`). counts: attack counters of this image (image-mode attack, or crop-mode
    hooks run by the worker). seconds: CPU seconds per stage. error: the exception preparing
    the image raised (an unreadable image, a missing rendered file), raised again by the
    model process as it is (one line) instead of the data loader's wrapped traceback.
    """

    position: int
    index: int
    image: Any = None
    crops: Any = None
    counts: dict[str, int] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    error: BaseException | None = None

    def pixels(self) -> np.ndarray:
        return self.image.numpy() if hasattr(self.image, "numpy") else self.image

    def crop_batch(self) -> Any:
        """The CropBatch with its crops as a NumPy array again."""
        from robustpose_bench.adapters.topdown import CropBatch

        c = self.crops
        crops = c.crops.numpy() if hasattr(c.crops, "numpy") else c.crops
        return CropBatch(crops, c.centers, c.scales, c.matrices)


def crop_attack(condition: Condition, attack_mode: str) -> bool:
    """Whether `condition` is a crop-mode attack (drawn on the model-input crops)."""
    return condition.kind == "attack" and attack_mode == "crop"


def gt_boxes_only(boxes: Sequence[SampleBoxes]) -> bool:
    """True when every box is a ground-truth box (score 1): crop-mode attacks then match
    boxes to persons by identity instead of IoU."""
    return all(np.all(b.scores == 1.0) for b in boxes)


def crop_hook_for_sample(dataset: Dataset, boxes: Sequence[SampleBoxes], condition: Condition,
                         index: int, counts: Any, is_gt: bool, spec: Any = None) -> Any:
    """The crop-mode attack hook of sample `index` (Pytel et al. protocol), counting into
    `counts` (an occlusion.AttackCounts). is_gt: `gt_boxes_only(boxes)`. spec: the
    condition's AttackSpec (computed when None)."""
    from robustpose_bench.occlusion import make_crop_hook
    from robustpose_bench.occlusion.attack import persons_arrays

    if spec is None:
        spec = condition.attack_spec(dataset.meta)
    sample, sb = dataset.samples[index], boxes[index]
    kps, pboxes, keep = persons_arrays(sample.persons, dataset.meta.num_keypoints)
    if is_gt:
        pos = {p: j for j, p in enumerate(keep)}
        match = np.array([pos.get(int(g), -1) for g in sb.gt_index], dtype=np.int64)
        hook, _ = make_crop_hook(sb.boxes, kps, None, spec, match=match, counts=counts)
    else:
        hook, _ = make_crop_hook(sb.boxes, kps, pboxes, spec, counts=counts)
    return hook


class PrepareImages:
    """torch-style map dataset over (condition, sample index) items: item k -> Prepared.

    sources: {"image": source applying attacks to the image, "crop": source leaving them to
    the crops}. crop_spec: the adapter's CropSpec (crops cut here) or None (pixels only).
    attack_mode: "crop" or "image" (RunSettings.attack_mode).
    """

    def __init__(self, items: Sequence[tuple[Condition, int]], sources: dict[str, ImageSource],
                 boxes: Sequence[SampleBoxes], crop_spec: Any = None, attack_mode: str = "crop"):
        self.items = list(items)
        self.sources, self.boxes = sources, boxes
        self.crop_spec, self.attack_mode = crop_spec, attack_mode
        self._is_gt: bool | None = None
        self._specs: dict[Condition, Any] = {}

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, position: int) -> Prepared:
        try:
            return self._prepare(position)
        except (OSError, ValueError) as exc:
            if _picklable(exc):
                import traceback

                exc.add_note("".join(traceback.format_exception(exc)).rstrip())
                return Prepared(position, self.items[position][1], error=exc)
            raise

    def _prepare(self, position: int) -> Prepared:
        condition, index = self.items[position]
        on_crops = crop_attack(condition, self.attack_mode)
        source = self.sources["crop" if on_crops else "image"]
        image, info, seconds = source.load_timed(source.dataset.samples[index], condition)
        counts = info.get("counts")
        if self.crop_spec is not None and len(self.boxes[index]) == 0:
            return Prepared(position, index, counts=counts, seconds=seconds)  # nothing to cut
        if self.crop_spec is None:
            return Prepared(position, index, image=_writable(image), counts=counts,
                            seconds=seconds)
        hook, hook_counts = None, None
        if on_crops:
            from robustpose_bench.occlusion import AttackCounts

            if self._is_gt is None:
                self._is_gt = gt_boxes_only(self.boxes)
            if condition not in self._specs:
                self._specs[condition] = condition.attack_spec(source.dataset.meta)
            hook_counts = AttackCounts()
            hook = crop_hook_for_sample(source.dataset, self.boxes, condition, index,
                                        hook_counts, self._is_gt, self._specs[condition])
        t0 = time.process_time()
        batch = self.crop_spec.make(image, self.boxes[index].boxes, hook)
        seconds["warp"] = time.process_time() - t0
        if hook_counts is not None:
            counts = hook_counts.as_dict()
        return Prepared(position, index, crops=batch, counts=counts, seconds=seconds)


def _picklable(exc: BaseException) -> bool:
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - anything that cannot cross a process boundary
        return False
    return True


def _writable(image: np.ndarray) -> np.ndarray:
    return image if image.flags.writeable and image.flags.c_contiguous else np.array(image)


def chunk_bounds(crops: Sequence[int], max_crops: int = CHUNK_CROPS,
                 max_images: int = CHUNK_IMAGES) -> list[tuple[int, int]]:
    """Consecutive chunks [start, stop) of items whose crop counts are `crops`: a chunk ends
    after the item that brings it to `max_crops` crops, or at `max_images` items."""
    out, start, n = [], 0, 0
    for k, c in enumerate(crops):
        n += int(c)
        if n >= max_crops or k + 1 - start >= max_images:
            out.append((start, k + 1))
            start, n = k + 1, 0
    if start < len(crops):
        out.append((start, len(crops)))
    return out


@dataclass
class PreparedChunk:
    """The Prepared items of consecutive positions, packed to cross a process boundary
    once: every crop in one (N, h, w, 3) uint8 tensor (and one array each of centres,
    scales and matrices), every image's pixels in one flat uint8 tensor; tensors travel
    through shared memory. items: the Prepared items without their arrays. crops: crops
    per item. shapes: (H, W, 3) per item with pixels, else None."""

    items: list[Prepared]
    crops: list[int]
    shapes: list[tuple[int, ...] | None]
    crop_pixels: Any = None
    centers: np.ndarray | None = None
    scales: np.ndarray | None = None
    matrices: np.ndarray | None = None
    pixels: Any = None

    @staticmethod
    def pack(items: Sequence[Prepared]) -> PreparedChunk:
        import torch

        batches = [p.crops for p in items if p.crops is not None]
        images = [p.image for p in items if p.image is not None]
        chunk = PreparedChunk(
            [Prepared(p.position, p.index, counts=p.counts, seconds=p.seconds, error=p.error)
             for p in items],
            [len(p.crops) if p.crops is not None else 0 for p in items],
            [tuple(p.image.shape) if p.image is not None else None for p in items])
        if batches:
            chunk.crop_pixels = torch.from_numpy(np.concatenate([b.crops for b in batches]))
            chunk.centers = np.concatenate([b.centers for b in batches])
            chunk.scales = np.concatenate([b.scales for b in batches])
            chunk.matrices = np.concatenate([b.matrices for b in batches])
        if images:
            chunk.pixels = torch.from_numpy(np.concatenate([i.reshape(-1) for i in images]))
        return chunk

    def unpack(self) -> list[Prepared]:
        """The Prepared items, their crops and pixels as views of the chunk's arrays."""
        from robustpose_bench.adapters.topdown import CropBatch

        crops = self.crop_pixels.numpy() if self.crop_pixels is not None else None
        pixels = self.pixels.numpy() if self.pixels is not None else None
        a = b = 0  # crop offset, pixel offset
        for item, n, shape in zip(self.items, self.crops, self.shapes, strict=True):
            if n:
                item.crops = CropBatch(crops[a:a + n], self.centers[a:a + n],
                                       self.scales[a:a + n], self.matrices[a:a + n])
                a += n
            if shape is not None:
                size = int(np.prod(shape))
                item.image = pixels[b:b + size].reshape(shape)
                b += size
        return self.items


def joined(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """`arrays` concatenated along axis 0; without a copy (a view) when they are consecutive
    slices of one C-contiguous array, as the crops of consecutive images of a chunk are."""
    first, base = arrays[0], arrays[0].base
    if (isinstance(base, np.ndarray) and base.flags.c_contiguous and base.ndim == first.ndim
            and base.shape[1:] == first.shape[1:] and base.dtype == first.dtype
            and all(a.base is base and a.flags.c_contiguous for a in arrays)):
        def address(a: np.ndarray) -> int:
            return a.__array_interface__["data"][0]

        if all(address(a) + a.nbytes == address(b) for a, b in zip(arrays[:-1], arrays[1:], strict=True)):
            row = first.strides[0]
            start = (address(first) - address(base)) // row if row else 0
            return base[start:start + sum(len(a) for a in arrays)]
    return np.concatenate(arrays)


class PrepareChunks:
    """torch-style map dataset: chunk k -> the PreparedChunk of `data`'s items
    bounds[k] = [start, stop)."""

    def __init__(self, data: PrepareImages, bounds: Sequence[tuple[int, int]]):
        self.data, self.bounds = data, list(bounds)

    def __len__(self) -> int:
        return len(self.bounds)

    def __getitem__(self, k: int) -> PreparedChunk:
        start, stop = self.bounds[k]
        return PreparedChunk.pack([self.data[p] for p in range(start, stop)])


def _worker_init(_worker_id: int) -> None:
    """One torch thread per worker process (as the DataLoader does), so that workers x
    threads stays within the cores; OpenCV's single thread is inherited (`_fork_settings`).
    Workers run at a lower priority (`WORKER_NICE`): with as many workers as cores the model
    process, which every item passes through, gets a core whenever it can run, and the
    workers (working ahead, `PREFETCH` items each) take the rest."""
    import torch

    torch.set_num_threads(1)
    if WORKER_NICE:
        with contextlib.suppress(OSError, AttributeError):  # not permitted / not on this OS
            os.nice(WORKER_NICE)


@contextlib.contextmanager
def _fork_settings() -> Iterator[None]:
    """OpenCV at one thread while worker processes are forked, restored after: the workers
    inherit it (calling cv2.setNumThreads in a forked child whose parent used OpenCV's
    thread pool can hang forever)."""
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


class ImageStream:
    """The Prepared items of a plan of (condition, sample indices), in plan order, made by
    `workers` processes in chunks (`chunk_bounds`; chunks may span conditions) or, with 0,
    in this process when asked for.

    take(condition) yields the items of the next planned condition; asking for another
    condition is a ValueError (the caller plans again). close() stops the workers.
    """

    def __init__(self, plan: Sequence[tuple[Condition, Sequence[int]]],
                 sources: dict[str, ImageSource], boxes: Sequence[SampleBoxes],
                 crop_spec: Any = None, attack_mode: str = "crop", workers: int = 0,
                 prefetch: int = PREFETCH):
        self.plan = deque((c, list(idx)) for c, idx in plan)
        items = [(c, i) for c, idx in self.plan for i in idx]
        self.data = PrepareImages(items, sources, boxes, crop_spec, attack_mode)
        self.workers = max(0, int(workers))
        self._loader_iter: Iterator[PreparedChunk] | None = None
        self._buffer: deque[Prepared] = deque()
        self._next = 0
        if self.workers > 0 and items:
            from torch.utils.data import DataLoader

            crops = [len(boxes[i]) if crop_spec is not None else 0 for _, i in items]
            chunks = PrepareChunks(self.data, chunk_bounds(crops, CHUNK_CROPS, CHUNK_IMAGES))

            with warnings.catch_warnings(), _fork_settings():
                # more workers than cores: already warned about once (`oversubscribed`)
                warnings.filterwarnings("ignore", message="This DataLoader will create")
                loader = DataLoader(chunks, batch_size=None, shuffle=False,
                                    num_workers=min(self.workers, len(chunks)),
                                    prefetch_factor=max(1, int(prefetch)),
                                    worker_init_fn=_worker_init, persistent_workers=False)
                self._loader_iter = iter(loader)

    def planned(self) -> list[Condition]:
        """The conditions still to be taken, in order."""
        return [c for c, _ in self.plan]

    def take(self, condition: Condition) -> Iterator[Prepared]:
        """The items of `condition`, which must be the next planned one."""
        if not self.plan or self.plan[0][0] != condition:
            raise ValueError(f"condition {condition.id} is not the next planned one")
        _, indices = self.plan.popleft()
        for _ in indices:
            if self._loader_iter is None:
                item = self.data[self._next]
            else:
                if not self._buffer:
                    self._buffer.extend(next(self._loader_iter).unpack())
                item = self._buffer.popleft()
            self._next += 1
            yield item

    def close(self) -> None:
        """Stop the worker processes (also when items were left unread)."""
        it, self._loader_iter = self._loader_iter, None
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()
        self.plan.clear()
        self._buffer.clear()
