"""Ultralytics YOLO-pose as a bottom-up adapter: a model built from the package's own YAML
(random weights, nothing downloaded), run through `YOLO.predict`; keypoints and scores
compared with an independent letterbox + decode of the raw network output written here."""
from __future__ import annotations

import copy
import importlib.util

import cv2
import numpy as np
import pytest
import torch

if importlib.util.find_spec("ultralytics") is None:
    pytest.skip("ultralytics is not installed", allow_module_level=True)
try:
    import ultralytics  # noqa: F401
except Exception as exc:  # e.g. no torchvision metadata at all
    pytest.skip(f"ultralytics cannot be imported: {exc}", allow_module_level=True)

from _adapter_cli import clean_ap, evaluate  # noqa: E402

from robustpose_bench.adapters.base import AdapterError  # noqa: E402
from robustpose_bench.adapters.loading import load_adapter  # noqa: E402
from robustpose_bench.adapters.ultralytics import UltralyticsPoseAdapter  # noqa: E402
from robustpose_bench.datasets.meta import COCO, MPII  # noqa: E402

YAML = "yolo26n-pose.yaml"  # end-to-end head: `nms=False` needs no torchvision
IMGSZ = 160


def _torchvision_imports() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:
        return False
    return True


@pytest.fixture(scope="module")
def adapter():
    torch.manual_seed(0)
    return load_adapter(f"ultralytics:{YAML}", {"imgsz": str(IMGSZ), "nms": "false",
                                                "conf": "0.0", "max_det": "50"},
                        meta=COCO, device="cpu")


def letterbox(image_bgr, size, stride):
    """Ultralytics' rectangular letterbox (predict mode, `auto`): scale to fit `size`, pad
    to a multiple of `stride`, centred, with 114."""
    h, w = image_bgr.shape[:2]
    r = min(size / h, size / w)
    nw, nh = round(w * r), round(h * r)
    dw, dh = ((size - nw) % stride) / 2, ((size - nh) % stride) / 2
    img = cv2.resize(image_bgr, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) \
        else image_bgr
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT,
                             value=(114, 114, 114))
    return img, r, (left, top)


def test_yolo_pose_equals_independent_decode(adapter):
    assert isinstance(adapter, UltralyticsPoseAdapter) and adapter.bottom_up
    assert adapter.num_keypoints == 17 and adapter.keypoint_order == COCO.keypoint_names
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (120, 200, 3), dtype=np.uint8)
    kp, scores = adapter.predict(image, None)
    assert kp.shape == (len(scores), 17, 3) and len(scores) > 0
    assert np.all(np.diff(scores) <= 1e-6)  # highest score first

    net = copy.deepcopy(adapter.model.model).eval()
    net.model[-1].end2end = True  # the one-to-one head that `nms=False` selects
    stride = int(max(net.stride))
    img, r, (px, py) = letterbox(np.ascontiguousarray(image[..., ::-1]), IMGSZ, stride)
    x = torch.from_numpy(img[..., ::-1].transpose(2, 0, 1).copy()).float()[None] / 255.0
    with torch.no_grad():
        raw = net(x)
    raw = (raw[0] if isinstance(raw, (list, tuple)) else raw)[0].numpy()  # (N, 6 + 51)
    raw = raw[raw[:, 4] > 0.0][:50]
    assert raw.shape[1] == 6 + 17 * 3
    ref_scores = raw[:, 4]
    ref = raw[:, 6:].reshape(-1, 17, 3).astype(np.float64)
    ref[..., 0] = np.clip((ref[..., 0] - px) / r, 0, image.shape[1])
    ref[..., 1] = np.clip((ref[..., 1] - py) / r, 0, image.shape[0])
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(kp[..., :2], ref[..., :2], atol=0.05)
    np.testing.assert_allclose(kp[..., 2], ref[..., 2], atol=1e-4)


def test_order_and_input_errors(adapter, tmp_path):
    with pytest.raises(AdapterError, match="cannot be mapped to the data set mpii"):
        load_adapter(f"ultralytics:{YAML}", {"imgsz": "64", "nms": "false"}, meta=MPII)
    with pytest.raises(AdapterError, match="weights file .*missing.pt does not exist"):
        load_adapter(f"ultralytics:{tmp_path / 'missing.pt'}", {}, meta=COCO)
    with pytest.raises(AdapterError, match="need imgsz >= 32"):
        load_adapter(f"ultralytics:{YAML}", {"imgsz": "8"}, meta=COCO)
    with pytest.raises(ValueError, match="uint8 RGB"):
        adapter.predict(np.zeros((10, 10)), None)


@pytest.mark.skipif(not _torchvision_imports(), reason="NMS models need an importable torchvision")
def test_nms_model_runs(tmp_path):
    torch.manual_seed(0)
    a = UltralyticsPoseAdapter("yolo11n-pose.yaml", meta=COCO, imgsz=96, conf=0.0, max_det=5,
                               device="cpu")
    kp, scores = a.predict(np.zeros((80, 100, 3), np.uint8))
    assert kp.shape[1:] == (17, 3) and len(scores) <= 5


def test_ultralytics_family_end_to_end(synthpose_val, tmp_path):
    res, summary = evaluate(synthpose_val, f"ultralytics:{YAML}", tmp_path / "run",
                            "imgsz=160", "nms=false", "max_det=20")
    assert res.returncode == 0, res.stderr[-2000:]
    assert 0.0 <= clean_ap(summary) <= 100.0
    assert summary["model"]["bottom_up"] is True
