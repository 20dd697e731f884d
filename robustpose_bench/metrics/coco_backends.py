"""AP engines of the COCO keypoint evaluation, one registry: `native` (our vectorised
re-implementation, the default), `faster-coco-eval`, `xtcocotools` and `pycocotools`; all give
identical numbers for every option (docs/metrics.md). A backend maps a prepared ground truth
and validated results to the 10 COCO stats."""
from __future__ import annotations

import contextlib
import copy
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from robustpose_bench.metrics import _cocoeval_native as native
from robustpose_bench.metrics.coco_gt import KeypointGT, KeypointResults

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- backends
BackendFn = Callable[[KeypointGT, KeypointResults], np.ndarray]


@dataclass(frozen=True)
class Backend:
    """An AP engine: `run(gt, results) -> (10,) stats` and whether it can be imported."""

    name: str
    run: BackendFn
    module: str | None
    speed_rank: int  # lower = faster; `auto` takes the fastest installed one

    def installed(self) -> bool:
        if self.module is None:
            return True
        import importlib.util

        return importlib.util.find_spec(self.module) is not None


BACKENDS: dict[str, Backend] = {}


def register_backend(name: str, module: str | None = None, speed_rank: int = 100
                     ) -> Callable[[BackendFn], BackendFn]:
    """Decorator registering an AP backend under `name`."""

    def deco(fn: BackendFn) -> BackendFn:
        BACKENDS[name] = Backend(name, fn, module, speed_rank)
        return fn

    return deco


def list_backends(installed_only: bool = False) -> list[str]:
    """Backend names, fastest first."""
    items = sorted(BACKENDS.values(), key=lambda b: b.speed_rank)
    return [b.name for b in items if not installed_only or b.installed()]


def get_backend(name: str = "auto") -> Backend:
    """A backend by name; `auto` = the fastest installed one (all are exact for every option,
    see docs/metrics.md)."""
    if name == "auto":
        for n in list_backends(installed_only=True):
            return BACKENDS[n]
        raise RuntimeError("no AP backend is installed")
    try:
        b = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown AP backend {name!r}; known: auto, {', '.join(list_backends())}"
                         ) from None
    if not b.installed():
        raise RuntimeError(f"AP backend {name!r} needs the package {b.module!r}, which is not "
                           "installed")
    return b


@register_backend("native", speed_rank=0)
def _run_native(gt: KeypointGT, res: KeypointResults) -> np.ndarray:
    img_idx = np.searchsorted(gt.arrays.image_ids, res.image_ids)
    precision, recall = native.evaluate(gt.arrays, img_idx, res.keypoints, res.scores)
    return native.summarize(precision, recall)


def _result_dicts(gt: KeypointGT, res: KeypointResults, conf_one: bool = False) -> list[dict]:
    kp = res.keypoints.copy()
    if conf_one:
        kp[:, :, 2] = 1.0
    flat = kp.reshape(len(kp), -1).tolist()
    ids = res.image_ids.tolist()
    sc = res.scores.tolist()
    cat = gt.category_id
    return [{"image_id": i, "category_id": cat, "keypoints": f, "score": s}
            for i, f, s in zip(ids, flat, sc, strict=True)]


@contextlib.contextmanager
def _quiet(backend: str):
    """Capture what a backend prints; pass it to the debug log."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield
    text = buf.getvalue().strip()
    if text:
        log.debug("%s output:\n%s", backend, text)


def _empty_stats(gt: KeypointGT) -> np.ndarray:
    # pycocotools cannot load an empty result list; the native result is exact here.
    return _run_native(gt, KeypointResults(np.zeros(0, np.int64),
                                           np.zeros((0, gt.num_keypoints, 3)), np.zeros(0)))


@register_backend("faster-coco-eval", module="faster_coco_eval", speed_rank=1)
def _run_faster(gt: KeypointGT, res: KeypointResults) -> np.ndarray:
    if len(res) == 0:
        return _empty_stats(gt)
    from faster_coco_eval import COCO, COCOeval_faster

    def quiet(*_a: Any, **_k: Any) -> None:
        return None

    with _quiet("faster-coco-eval"):
        if "faster" not in gt._backend_cache:
            gt._backend_cache["faster"] = COCO(copy.deepcopy(gt.coco), print_function=quiet)
        cgt = gt._backend_cache["faster"]
        cdt = cgt.loadRes(_result_dicts(gt, res))
        ev = COCOeval_faster(cgt, cdt, "keypoints", print_function=quiet,
                             kpt_oks_sigmas=gt.sigmas, use_area=True)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats[:10], dtype=np.float64)


def _cached_gt(gt: KeypointGT, key: str, coco_class: Any) -> Any:
    """The ground truth as a pycocotools-style `COCO` object of `coco_class`, indexed once per
    KeypointGT and backend (a deep copy: the engines add fields to the dataset dict)."""
    if key not in gt._backend_cache:
        c = coco_class()
        c.dataset = copy.deepcopy(gt.coco)
        c.createIndex()
        gt._backend_cache[key] = c
    return gt._backend_cache[key]


@register_backend("pycocotools", module="pycocotools", speed_rank=3)
def _run_pycocotools(gt: KeypointGT, res: KeypointResults) -> np.ndarray:
    if len(res) == 0:
        return _empty_stats(gt)
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with _quiet("pycocotools"):
        cgt = _cached_gt(gt, "pycocotools", COCO)
        cdt = cgt.loadRes(_result_dicts(gt, res))
        ev = COCOeval(cgt, cdt, "keypoints")
        ev.params.kpt_oks_sigmas = gt.sigmas.copy()
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats[:10], dtype=np.float64)


@register_backend("xtcocotools", module="xtcocotools", speed_rank=2)
def _run_xtcocotools(gt: KeypointGT, res: KeypointResults) -> np.ndarray:
    if len(res) == 0:
        return _empty_stats(gt)
    from xtcocotools.coco import COCO
    from xtcocotools.cocoeval import COCOeval

    with _quiet("xtcocotools"):
        cgt = _cached_gt(gt, "xtcocotools", COCO)
        # xtcocotools drops results whose keypoint confidences are all 0; confidences do not
        # enter OKS, so we pass 1.0 and keep pycocotools' semantics (every result counts).
        cdt = cgt.loadRes(_result_dicts(gt, res, conf_one=True))
        ev = COCOeval(cgt, cdt, "keypoints", sigmas=gt.sigmas.copy(), use_area=True)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats[:10], dtype=np.float64)


