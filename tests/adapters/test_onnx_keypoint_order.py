"""The ONNX heatmap adapter with a model keypoint order other than the data set's: outputs
reordered by name, flip test pairs taken from the model's names."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from robustpose_bench.adapters.onnx import OnnxTopDownAdapter, export_onnx  # noqa: E402
from robustpose_bench.datasets.meta import COCO  # noqa: E402
from robustpose_bench.models import create_model  # noqa: E402

PERM = [16, 3, 0, 5, 9, 1, 12, 2, 8, 14, 4, 11, 6, 15, 7, 13, 10]


@pytest.mark.parametrize("flip_test", [False, True])
def test_heatmap_graph_in_another_order(tmp_path, flip_test):
    torch.manual_seed(0)
    model = create_model("hrnet_w16_small")
    with torch.no_grad():
        torch.nn.init.normal_(model.final_layer.weight, std=0.5)
    path = export_onnx(model, tmp_path / "w16.onnx", (96, 128))
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (160, 200, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 50, 90], [80, 20, 60, 120]], float)
    plain = OnnxTopDownAdapter(path, meta=COCO, flip_test=flip_test).predict(image, boxes)
    # The same network, declared as predicting COCO's keypoints in the order PERM: channel c
    # is keypoint COCO[PERM[c]], so data set keypoint t is channel PERM.index(t).
    names = ",".join(COCO.keypoint_names[i] for i in PERM)
    other = OnnxTopDownAdapter(path, meta=COCO, flip_test=flip_test, keypoint_order=names)
    assert other.keypoint_order == COCO.keypoint_names and other.num_keypoints == 17
    got = other.predict(image, boxes)
    idx = [PERM.index(t) for t in range(17)]
    if not flip_test:
        np.testing.assert_allclose(got, plain[:, idx], atol=1e-6)
    else:  # flip pairs follow the names: channel c's partner is the channel of its mirror
        flip = other.flip_index
        for c in range(17):
            assert COCO.keypoint_names[PERM[flip[c]]] == \
                COCO.keypoint_names[COCO.flip_index()[PERM[c]]]
        assert got.shape == (2, 17, 3) and np.isfinite(got).all()
    assert other.predict(image, boxes[:0]).shape == (0, 17, 3)
