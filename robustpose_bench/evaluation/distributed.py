"""The prediction step on a Dask cluster: `DaskPredictor` sends (condition, image-chunk) tasks
to the workers; each worker process makes the adapter once (a worker plugin holding the model
spec, the data set and the boxes) and predicts its chunks with the local pipeline; the raw
predictions come back to this process, where the sweep scores and stores them per condition
(so a run resumes exactly like a local one). A task whose worker dies is rescheduled by Dask;
a task that raises is retried `retries` times.

GPU workers declare the resource (`dask worker ADDR --resources GPU=1`); when the cluster has
such workers every task asks for one GPU, so each GPU runs one chunk at a time. `local_cluster`
makes a cluster on this machine: one worker per GPU (dask-cuda's LocalCUDACluster when
installed, else workers with their own CUDA_VISIBLE_DEVICES), or CPU worker processes.
"""
from __future__ import annotations

import contextlib
import logging
import math
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from distributed import WorkerPlugin
from tqdm import tqdm

from robustpose_bench.datasets.types import Dataset
from robustpose_bench.evaluation.boxes import SampleBoxes
from robustpose_bench.evaluation.pipeline import StageTimes, available_cores
from robustpose_bench.evaluation.predict import ConditionOutput, LocalPredictor, heatmap_stats
from robustpose_bench.evaluation.predictions import Predictions
from robustpose_bench.evaluation.settings import RunSettings
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.jobs import connect_scheduler

log = logging.getLogger(__name__)

GPU = "GPU"  #: the Dask resource name GPU workers declare (`--resources GPU=1`)
DEFAULT_CHUNK = 16  #: images per task
DEFAULT_RETRIES = 2  #: re-runs of a task that raised (a dead worker's tasks are rescheduled)


@dataclass
class ModelSpec:
    """What a worker needs to make the adapter itself: the `model` argument of `evaluate`
    (a name, path or spec string is loaded on the worker, e.g. on its GPU; an object is
    pickled and sent) and the keywords of `evaluation.resolve.resolve_model`."""

    model: Any
    options: dict[str, Any] = field(default_factory=dict)

    def build(self, meta: Any) -> Any:
        from robustpose_bench.evaluation.resolve import resolve_model

        return resolve_model(self.model, meta, **self.options).adapter


class RunContext(WorkerPlugin):
    """Worker plugin of one run: the model spec, data set, boxes and settings; the adapter
    and its LocalPredictor are made on first use in each worker process and kept."""

    def __init__(self, key: str, spec: ModelSpec, dataset: Dataset,
                 boxes: Sequence[SampleBoxes], settings: RunSettings):
        self.name = f"robustpose-{key}"
        self.spec, self.dataset, self.boxes, self.settings = spec, dataset, boxes, settings
        self._predictor: LocalPredictor | None = None
        self._lock = threading.Lock()
        self._threads: int | None = None

    def setup(self, worker: Any) -> None:
        """Dask calls this on each worker (also on workers that join later)."""
        self._lock = threading.Lock()
        self._predictor = None
        nthreads = getattr(getattr(worker, "state", worker), "nthreads", None)
        self._threads = int(nthreads) if nthreads else None

    def teardown(self, worker: Any) -> None:
        self._predictor = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_predictor"], state["_lock"] = None, None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def predictor(self) -> Iterator[LocalPredictor]:
        """This worker's predictor (one chunk at a time per worker process: the adapter and
        its batch state are not shared between threads)."""
        with self._lock:
            if self._predictor is None:
                adapter = self.spec.build(self.dataset.meta)
                settings = _worker_settings(self.settings)
                self._predictor = LocalPredictor(adapter, self.dataset, self.boxes, settings,
                                                 threads=self._threads)
                self._predictor.heatmaps = False  # a separate task over the first images
            yield self._predictor


def _worker_settings(settings: RunSettings) -> RunSettings:
    """The run's settings as a worker uses them: images prepared in the task's own thread
    (a Dask worker process cannot start data-loader processes)."""
    import copy

    s = copy.copy(settings)
    s.workers = 0
    return s


def _context(name: str) -> RunContext:
    from distributed import get_worker

    worker = get_worker()
    ctx = worker.plugins.get(name)
    if ctx is None:
        raise RuntimeError(f"worker {worker.address} has no run context {name!r}")
    return ctx


@dataclass
class ChunkOutput:
    """What a task returns: its images' predictions, attack counters and stage times."""

    predictions: Predictions
    attack_counts: dict | None
    times: StageTimes


def predict_chunk(context: str, condition_id: str, indices: list[int]) -> ChunkOutput:
    """Task: predict the images `indices` under a condition on this worker."""
    ctx = _context(context)
    with ctx.predictor() as predictor:
        before = StageTimes()
        before.merge(predictor.times)
        out = predictor.predict(Condition.from_id(condition_id), indices)
        times = StageTimes()
        times.merge(predictor.times)
        for k, v in before.seconds.items():
            times.seconds[k] -= v
        times.images -= before.images
        times.crops -= before.crops
    return ChunkOutput(out.predictions, out.attack_counts, times)


def heatmap_task(context: str, condition_id: str, indices: list[int]) -> dict:
    """Task: heatmap statistics (stability conditions) of the images `indices`."""
    ctx = _context(context)
    with ctx.predictor() as predictor:
        return heatmap_stats(predictor.adapter, predictor.sources["image"],
                             Condition.from_id(condition_id), predictor.boxes, indices)


def has_gpu_workers(client: Any) -> bool:
    """Whether a worker of the cluster declares the GPU resource."""
    workers = client.scheduler_info().get("workers", {})
    return any(float((w.get("resources") or {}).get(GPU, 0)) > 0 for w in workers.values())


def chunks(indices: Sequence[int], boxes: Sequence[SampleBoxes], batch_size: int,
           size: int) -> list[list[int]]:
    """`indices` in consecutive chunks of about `size` images that end where the local
    prediction loop ends a network batch (the boxes of the pending images reach
    `batch_size`), so each chunk's batches are the local run's batches and a model gives
    the same numbers on the cluster as in one process."""
    out: list[list[int]] = []
    chunk: list[int] = []
    pending = 0
    for i in indices:
        chunk.append(i)
        pending += len(boxes[i])
        if pending >= batch_size:  # the local loop runs a batch here
            pending = 0
            if len(chunk) >= size:
                out.append(chunk)
                chunk = []
    if chunk:
        out.append(chunk)
    return out


class DaskPredictor:
    """`Predictor` on the Dask cluster of `client` (see the module docstring).

    spec: how workers make the adapter. chunk_size: images per task. gpu: tasks ask for one
    GPU each (None: when a worker declares the resource; True without such a worker is an
    error). retries: re-runs of a task that raised. `times` sums the workers' stage times.
    """

    def __init__(self, client: Any, spec: ModelSpec, dataset: Dataset,
                 boxes: Sequence[SampleBoxes], settings: RunSettings, *,
                 chunk_size: int = DEFAULT_CHUNK, gpu: bool | None = None,
                 retries: int = DEFAULT_RETRIES, progress: bool = False,
                 heatmaps: bool = False):
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.client, self.dataset, self.boxes, self.settings = client, dataset, boxes, settings
        self.chunk_size, self.retries, self.progress = int(chunk_size), int(retries), progress
        self.heatmaps = heatmaps
        gpu_workers = has_gpu_workers(client)
        if gpu and not gpu_workers:
            raise ValueError(f"no worker of the Dask cluster {client.scheduler.address} "
                             f"declares the resource {GPU} (start GPU workers with "
                             f"`dask worker ADDR --resources {GPU}=1`)")
        self.resources = {GPU: 1} if (gpu if gpu is not None else gpu_workers) else None
        self.key = uuid.uuid4().hex[:12]
        self.context = RunContext(self.key, spec, dataset, boxes, settings)
        client.register_plugin(self.context, name=self.context.name)
        self.times = StageTimes()
        self._planned: dict[Condition, list[Any]] = {}
        self._indices: list[int] = []

    def _submit(self, condition: Condition, indices: Sequence[int], priority: int) -> list[Any]:
        futures = []
        for n, chunk in enumerate(chunks(indices, self.boxes, self.settings.batch_size,
                                         self.chunk_size)):
            futures.append(self.client.submit(
                predict_chunk, self.context.name, condition.id, chunk,
                key=f"robustpose-predict-{self.key}-{condition.id}-{n}", pure=False,
                resources=self.resources, retries=self.retries, priority=priority))
        return futures

    def plan(self, conditions: Sequence[Condition], indices: Sequence[int]) -> None:
        """Submit every chunk of `conditions` now (earlier conditions first), so the cluster
        predicts ahead while this process scores."""
        self.close()
        self._indices = list(indices)
        n = len(conditions)
        for i, condition in enumerate(conditions):
            self._planned[condition] = self._submit(condition, indices, priority=n - i)

    def predict(self, condition: Condition, indices: Sequence[int]) -> ConditionOutput:
        futures = self._planned.pop(condition, None)
        if futures is None or list(indices) != self._indices:
            if futures is not None:
                self.client.cancel(futures)
            futures = self._submit(condition, indices, priority=len(self._planned) + 1)
        hm_future = None
        if self.heatmaps and (condition.kind == "clean"
                              or condition in self.settings.stability_conditions):
            hm_future = self.client.submit(
                heatmap_task, self.context.name, condition.id,
                list(indices)[:self.settings.heatmap_images],
                key=f"robustpose-heatmaps-{self.key}-{condition.id}", pure=False,
                resources=self.resources, retries=self.retries, priority=len(futures) + 1)
        from distributed import as_completed

        bar = tqdm(total=len(futures), unit="chunk", desc=condition.id, leave=False,
                   disable=not self.progress, dynamic_ncols=True)
        results: dict[int, ChunkOutput] = {}
        order = {f.key: n for n, f in enumerate(futures)}
        try:
            for fut in as_completed(futures):
                results[order[fut.key]] = fut.result()
                bar.update(1)
        finally:
            bar.close()
        preds = Predictions()
        counts: dict | None = None
        for n in range(len(futures)):
            chunk = results[n]
            preds.update(chunk.predictions)
            self.times.merge(chunk.times)
            if chunk.attack_counts is not None:
                counts = counts if counts is not None else {}
                for k, v in chunk.attack_counts.items():
                    counts[k] = counts.get(k, 0) + int(v)
        if condition.kind == "attack" and counts is None:
            counts = {}
        out = ConditionOutput(preds, counts)
        if hm_future is not None:
            out.heatmap_stats = hm_future.result()
        return out

    def close(self) -> None:
        """Cancel the chunks of conditions planned but not asked for."""
        pending = [f for fs in self._planned.values() for f in fs]
        self._planned.clear()
        if pending:
            self.client.cancel(pending)

    def shutdown(self) -> None:
        """close(), and remove the run's plugin from the workers."""
        self.close()
        with contextlib.suppress(Exception):
            self.client.unregister_worker_plugin(self.context.name)


# ------------------------------------------------------------------------------ clusters
def cuda_device_count() -> int:
    """CUDA devices visible to this process (0 without torch or CUDA); does not create a
    CUDA context, so worker processes can still be started afterwards."""
    try:
        import torch
    except ImportError:
        return 0
    try:
        return int(torch.cuda.device_count())
    except Exception:  # noqa: BLE001 - a broken driver means no GPU here
        return 0


def gpu_worker_specs(gpus: int, threads_per_worker: int = 1) -> dict[str, dict]:
    """SpecCluster worker specs: one Nanny per GPU with its own CUDA_VISIBLE_DEVICES and the
    resource GPU=1 (what dask-cuda's LocalCUDACluster does)."""
    from distributed import Nanny

    return {f"gpu-{i}": {"cls": Nanny, "options": {
        "nthreads": threads_per_worker, "resources": {GPU: 1},
        "env": {"CUDA_VISIBLE_DEVICES": str(i)}}} for i in range(int(gpus))}


def local_cluster(workers: int | None = None, gpus: int | None = None) -> Any:
    """A Dask cluster on this machine: with GPUs (`gpus`, default the visible CUDA devices)
    one worker per GPU (dask-cuda's LocalCUDACluster when installed); else `workers` CPU
    worker processes (default: the available cores) with one thread each."""
    gpus = cuda_device_count() if gpus is None else int(gpus)
    if gpus > 0:
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError:
            LocalCUDACluster = None  # noqa: N806
        if LocalCUDACluster is not None:
            return LocalCUDACluster(n_workers=gpus, threads_per_worker=1,
                                    resources={GPU: 1})
        from distributed import Scheduler, SpecCluster

        return SpecCluster(workers=gpu_worker_specs(gpus),
                           scheduler={"cls": Scheduler, "options": {"dashboard_address": None}})
    from distributed import LocalCluster

    n = available_cores() if not workers else int(workers)
    return LocalCluster(n_workers=max(1, n), threads_per_worker=1, processes=True,
                        dashboard_address=None)


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None = None) -> Iterator[Any]:
    """A Client of the cluster at `scheduler` (e.g. tcp://10.0.0.5:8786), or of a
    `local_cluster(workers)` made for the block (closed after)."""
    from distributed import Client

    if scheduler:
        client = connect_scheduler(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    cluster = local_cluster(workers)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def default_chunk_size(num_images: int, n_workers: int) -> int:
    """Images per task: enough tasks to spread a condition over the workers (2 per worker),
    at most DEFAULT_CHUNK."""
    return max(1, min(DEFAULT_CHUNK, math.ceil(num_images / max(1, 2 * n_workers))))


def worker_count(client: Any) -> int:
    return len(client.scheduler_info().get("workers", {}))


def wait_for_workers(client: Any, scheduler: str | None, timeout: float = 60.0) -> int:
    """The number of workers once at least one has joined; ValueError after `timeout`
    seconds without any (a scheduler whose workers were not started)."""
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        where = scheduler or "made on this machine"
        raise ValueError(f"no Dask worker joined the cluster {where} within {timeout:g} s; "
                         f"start workers with `dask worker {scheduler or 'ADDR'}`") from None
    return worker_count(client)


def model_options(**options: Any) -> dict[str, Any]:
    """The keywords of `resolve_model` a worker needs (None values dropped)."""
    return {k: v for k, v in options.items() if v is not None}


__all__ = ["GPU", "ChunkOutput", "DaskPredictor", "ModelSpec", "RunContext", "chunks",
           "dask_client", "default_chunk_size", "gpu_worker_specs", "has_gpu_workers",
           "heatmap_task", "local_cluster", "model_options", "predict_chunk",
           "wait_for_workers", "worker_count"]
