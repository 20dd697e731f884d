"""CUDA out-of-memory during prediction halves the batch and retries (no GPU needed: the
adapter raises torch's OOM error the way a CUDA model would)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from robustpose_bench.datasets import load_coco  # noqa: E402
from robustpose_bench.evaluation.boxes import boxes_for_dataset  # noqa: E402
from robustpose_bench.evaluation.predict import PredictState, predict_condition  # noqa: E402
from robustpose_bench.evaluation.source import ImageSource  # noqa: E402
from robustpose_bench.render.conditions import Condition  # noqa: E402
from robustpose_bench.render.protocol import get_protocol  # noqa: E402


class OomAboveFour:
    """predict_batch fails with CUDA OOM when given more than 4 boxes at once."""

    def __init__(self):
        self.batch_size = 64
        self.calls: list[int] = []

    def predict(self, image, boxes):
        return self.predict_batch([(image, boxes)])[0]

    def predict_batch(self, items):
        n = sum(len(b) for _, b in items)
        self.calls.append(n)
        if n > 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return [np.concatenate([np.repeat(b[:, None, :2], 17, axis=1),
                                np.ones((len(b), 17, 1))], axis=2) for _, b in items]


def test_oom_halves_batch_and_retries(synthpose_val):
    ds = load_coco(synthpose_val["ann_file"], synthpose_val["image_root"])
    boxes = boxes_for_dataset(ds, None)
    adapter = OomAboveFour()
    state = PredictState(batch_size=64)
    out = predict_condition(adapter, "oom", ImageSource(ds, get_protocol("robustpose")),
                            Condition.clean(), boxes, list(range(len(ds))), 17, state,
                            progress=False)
    assert state.batch_size <= 4 and adapter.batch_size == state.batch_size
    assert len(out) == len(ds)
    assert all(out[i].shape == (len(boxes[i]), 17, 3) for i in out)
    assert any(n > 4 for n in adapter.calls)  # it did run out of memory first
