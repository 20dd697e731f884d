"""ONNX export of a zoo model: ONNX Runtime keypoints equal the torch pipeline's within
1e-3 px (same crops, flip test and decoding)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from robustpose_bench.adapters.base import AdapterError  # noqa: E402
from robustpose_bench.adapters.loading import load_adapter  # noqa: E402
from robustpose_bench.adapters.onnx import OnnxTopDownAdapter, export_onnx  # noqa: E402
from robustpose_bench.adapters.topdown import HeatmapTopDownAdapter  # noqa: E402
from robustpose_bench.datasets.meta import COCO  # noqa: E402
from robustpose_bench.models import create_model  # noqa: E402

SIZE = (96, 128)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("hrnet_w16_small")
    with torch.no_grad():  # make heatmaps strongly peaked, so argmax ties cannot happen
        torch.nn.init.normal_(model.final_layer.weight, std=0.5)
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "w16.onnx", SIZE)
    return model, path


def _scene():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (160, 200, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 50, 90], [80, 20, 60, 120], [150, 60, 40, 50]], float)
    return image, boxes


@pytest.mark.parametrize("flip_test", [True, False])
def test_onnx_matches_torch(exported, flip_test):
    model, path = exported
    image, boxes = _scene()
    ref = HeatmapTopDownAdapter(model, SIZE, COCO.flip_index(), device="cpu",
                                flip_test=flip_test)
    onnx = OnnxTopDownAdapter(path, flip_index=COCO.flip_index(), flip_test=flip_test)
    assert onnx.input_size == SIZE and onnx.num_keypoints == 17
    kp_t, hm_t = ref.predict_with_heatmaps(image, boxes)
    kp_o, hm_o = onnx.predict_with_heatmaps(image, boxes)
    scale = np.abs(hm_t).max()
    assert np.abs(hm_t - hm_o).max() < 1e-5 * scale  # float32 rounding only
    assert np.abs(kp_t[..., :2] - kp_o[..., :2]).max() < 1e-3
    assert np.abs(kp_t[..., 2] - kp_o[..., 2]).max() < 1e-5 * scale
    batched = onnx.predict_batch([(image, boxes[:1]), (image, boxes[1:])])
    np.testing.assert_allclose(np.concatenate(batched)[..., :2], kp_o[..., :2], atol=1e-3)


def test_onnx_spec_and_static_batch(exported, tmp_path):
    model, path = exported
    image, boxes = _scene()
    adapter = load_adapter(str(path), {"batch_size": "2"}, meta=COCO)
    assert isinstance(adapter, OnnxTopDownAdapter) and adapter.batch_size == 2
    fixed = export_onnx(model, tmp_path / "fixed.onnx", SIZE, dynamic_batch=False)
    static = OnnxTopDownAdapter(fixed, meta=COCO)  # batch 1 graph, 3 boxes x flip
    a, b = static.predict(image, boxes), adapter.predict(image, boxes)
    np.testing.assert_allclose(a[..., :2], b[..., :2], atol=1e-3)
    with pytest.raises(AdapterError, match="does not exist"):
        OnnxTopDownAdapter(tmp_path / "missing.onnx", meta=COCO)
