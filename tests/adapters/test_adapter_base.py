"""The adapter contract's output checks: wrong shape, wrong K, wrong N, NaN / inf, bottom-up
results, declared keypoint layouts."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from robustpose_bench.adapters.base import (
    AdapterError,
    AdapterOutputError,
    BottomUpAdapter,
    TopDownAdapter,
    check_bottom_up_output,
    check_output,
    describe_adapter,
    is_bottom_up,
    supports_batch,
    supports_crop_hook,
    supports_heatmaps,
    validate_adapter,
)
from robustpose_bench.datasets.meta import COCO, MPII

REF = "image 397133 (000000397133.jpg)"


def test_good_output_passes_and_converts():
    out = check_output("mine", REF, np.ones((2, 17, 3), np.float32), 2, 17)
    assert out.dtype == np.float64 and out.shape == (2, 17, 3)
    t = check_output("mine", REF, torch.ones(1, 17, 3), 1, 17)
    assert isinstance(t, np.ndarray)
    assert check_output("mine", REF, [], 0, 17).shape == (0, 17, 3)


@pytest.mark.parametrize("out,n,pattern", [
    (np.ones((2, 17)), 2, r"expected a \(2, 17, 3\) array.*got shape \(2, 17\)"),
    (np.ones((3, 17, 3)), 2, "2 boxes given but 3 predictions"),
    (np.ones((2, 16, 3)), 2, "16 keypoints per person, the data set has 17"),
    (np.ones((2, 17, 2)), 2, "last axis has 2 values"),
    ("abc", 1, "not a numeric array"),
])
def test_bad_shapes_name_adapter_and_sample(out, n, pattern):
    with pytest.raises(AdapterOutputError, match=pattern) as err:
        check_output("my_adapter", REF, out, n, 17)
    assert "adapter my_adapter" in str(err.value) and "397133" in str(err.value)


def test_nan_and_inf_name_first_bad_person_and_keypoint():
    out = np.ones((3, 17, 3))
    out[1, 4, 1] = np.nan
    out[2, 0, 0] = np.inf
    with pytest.raises(AdapterOutputError, match=r"person 1, keypoint 4: y is nan \(2 non-finite"):
        check_output("a", REF, out, 3, 17)
    out = np.ones((1, 17, 3))
    out[0, 16, 2] = -np.inf
    with pytest.raises(AdapterOutputError, match="keypoint 16: confidence is -inf"):
        check_output("a", REF, out, 1, 17)


def test_bottom_up_outputs():
    kp, sc = check_bottom_up_output("bu", REF, (np.ones((4, 17, 3)), np.arange(4)), 17)
    assert kp.shape == (4, 17, 3) and sc.tolist() == [0, 1, 2, 3]
    kp, sc = check_bottom_up_output("bu", REF, (np.zeros((0, 17, 3)), []), 17)
    assert kp.shape == (0, 17, 3) and sc.shape == (0,)
    with pytest.raises(AdapterOutputError, match=r"must return \(keypoints"):
        check_bottom_up_output("bu", REF, np.ones((4, 17, 3)), 17)
    with pytest.raises(AdapterOutputError, match="4 people but 3 scores"):
        check_bottom_up_output("bu", REF, (np.ones((4, 17, 3)), np.ones(3)), 17)
    with pytest.raises(AdapterOutputError, match="person 1: score is nan"):
        check_bottom_up_output("bu", REF, (np.ones((2, 17, 3)), [1, np.nan]), 17)


class TopDown:
    name = "td"
    num_keypoints = 17
    keypoint_order = COCO.keypoint_names
    input_size = (192, 256)

    def predict(self, image, boxes, crop_hook=None):
        return np.zeros((len(boxes), 17, 3))

    def predict_batch(self, items):
        return [self.predict(i, b) for i, b in items]

    def heatmaps(self, image, boxes):
        return np.zeros((len(boxes), 17, 64, 48))


class BottomUp:
    bottom_up = True

    def predict(self, image, boxes):
        return np.zeros((0, 17, 3)), np.zeros(0)


def test_protocols_and_capabilities():
    td, bu = TopDown(), BottomUp()
    assert isinstance(td, TopDownAdapter) and isinstance(bu, BottomUpAdapter)
    assert not isinstance(td, BottomUpAdapter)
    assert is_bottom_up(bu) and not is_bottom_up(td)
    assert supports_batch(td) and supports_heatmaps(td) and supports_crop_hook(td)
    assert not supports_batch(bu) and not supports_crop_hook(bu)
    info = describe_adapter(td)
    assert info["name"] == "td" and info["input_size"] == [192, 256] and info["params"] is None


def test_validate_adapter_layouts():
    validate_adapter(TopDown(), 17, COCO.keypoint_names)
    with pytest.raises(AdapterError, match="predicts 17 keypoints but the data set has 16"):
        validate_adapter(TopDown(), 16, MPII.keypoint_names)
    swapped = TopDown()
    order = list(COCO.keypoint_names)
    order[1], order[2] = order[2], order[1]
    swapped.keypoint_order = order
    with pytest.raises(AdapterError, match="keypoint 1 is 'right_eye'.*another order"):
        validate_adapter(swapped, 17, COCO.keypoint_names)
    with pytest.raises(AdapterError, match="no predict"):
        validate_adapter(object())
