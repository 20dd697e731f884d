"""ONNX SimCC (RTMPose-style) and RTMO-style graphs: small torch networks exported in the
test, keypoints compared with an independent NumPy decode written here from RTMPose's
definition, and with rtmlib's RTMPose / RTMO classes when rtmlib is installed."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

ort = pytest.importorskip("onnxruntime")

from _adapter_cli import clean_ap, evaluate  # noqa: E402
from _onnx_models import TinyRTMO, TinySimCC, export  # noqa: E402

from robustpose_bench.adapters.base import AdapterError  # noqa: E402
from robustpose_bench.adapters.loading import load_adapter  # noqa: E402
from robustpose_bench.adapters.rtmo import RTMOOnnxAdapter  # noqa: E402
from robustpose_bench.adapters.simcc import SimCCOnnxAdapter, decode_simcc  # noqa: E402
from robustpose_bench.datasets.meta import COCO  # noqa: E402

SIZE = (48, 64)  # width, height
MEAN = np.array([123.675, 116.28, 103.53])
STD = np.array([58.395, 57.12, 57.375])


@pytest.fixture(scope="module")
def simcc17(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("simcc")
    return export(TinySimCC(17, SIZE), folder / "rtm17.onnx", (1, 3, SIZE[1], SIZE[0]),
                  ["simcc_x", "simcc_y"])


@pytest.fixture(scope="module")
def rtmo(tmp_path_factory):
    return export(TinyRTMO(17, 64), tmp_path_factory.mktemp("rtmo") / "rtmo.onnx",
                  (1, 3, 64, 64), ["dets", "keypoints"], dynamic_batch=False)


def _scene():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 50, 90], [70, 15, 60, 100], [120, 60, 35, 45]], float)
    return image, boxes


def reference_rtmpose(path, image, boxes, score="min"):
    """RTMPose top-down inference written from its definition (bbox_xyxy2cs with padding
    1.25, aspect fix, 3-point warp, ImageNet mean/std on 0-255 RGB, argmax / 2, linear
    rescale), independent of the adapter's code."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    w, h = SIZE
    out = []
    for x, y, bw, bh in boxes:
        center = np.array([x + bw / 2, y + bh / 2])
        sw, sh = bw * 1.25, bh * 1.25
        sw, sh = (sw, sw * h / w) if sw > sh * w / h else (sh * w / h, sh)
        src = np.float32([center, center + [0, -sw / 2], center + [sw / 2, -sw / 2]])
        dst = np.float32([[w / 2, h / 2], [w / 2, h / 2 - w / 2], [w, h / 2 - w / 2]])
        crop = cv2.warpAffine(image, cv2.getAffineTransform(src, dst), (w, h),
                              flags=cv2.INTER_LINEAR)
        inp = ((crop - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32)
        sx, sy = sess.run(None, {"input": inp})
        loc = np.stack([sx[0].argmax(1), sy[0].argmax(1)], 1) / 2.0
        mx, my = sx[0].max(1), sy[0].max(1)
        sc = np.minimum(mx, my) if score == "min" else (mx + my) / 2
        xy = loc / np.array([w, h]) * np.array([sw, sh]) + center - np.array([sw, sh]) / 2
        out.append(np.concatenate([xy, sc[:, None]], 1))
    return np.stack(out)


def test_simcc_detected_and_equal_to_independent_decode(simcc17):
    image, boxes = _scene()
    adapter = load_adapter(str(simcc17), {"batch_size": "2"}, meta=COCO)
    assert isinstance(adapter, SimCCOnnxAdapter)
    assert adapter.input_size == SIZE and adapter.split_ratio == 2.0
    assert adapter.keypoint_order == COCO.keypoint_names
    got = adapter.predict(image, boxes)
    ref = reference_rtmpose(simcc17, image, boxes)
    assert got.shape == (3, 17, 3)
    np.testing.assert_allclose(got[..., :2], ref[..., :2], atol=1e-3)
    np.testing.assert_allclose(got[..., 2], ref[..., 2], rtol=1e-5, atol=1e-5)
    assert np.ptp(got[..., 0]) > 20  # the keypoints move around: not a degenerate network
    parts = adapter.predict_batch([(image, boxes[:1]), (image, boxes[1:]), (image, boxes[:0])])
    np.testing.assert_allclose(np.concatenate(parts), got)
    assert parts[2].shape == (0, 17, 3)


def test_simcc_matches_rtmlib(simcc17):
    rtmlib = pytest.importorskip("rtmlib")
    image, boxes = _scene()
    xyxy = boxes.copy()
    xyxy[:, 2:] += xyxy[:, :2]
    ref = rtmlib.RTMPose(str(simcc17), model_input_size=SIZE, backend="onnxruntime",
                         device="cpu")
    kp, sc = ref(image, bboxes=xyxy.tolist())  # RGB in: the adapter's default channel order
    ours = SimCCOnnxAdapter(simcc17, meta=COCO, score="mean").predict(image, boxes)
    np.testing.assert_allclose(ours[..., :2], kp, atol=1e-3)
    np.testing.assert_allclose(ours[..., 2], sc, rtol=1e-5, atol=1e-5)


def test_decode_simcc_rules():
    x = np.full((1, 2, 8), -1.0)
    y = np.full((1, 2, 6), -1.0)
    x[0, 0, 5], y[0, 0, 2] = 0.9, 0.4
    loc, val = decode_simcc(x, y, 2.0, "min")
    np.testing.assert_allclose(loc[0, 0], [2.5, 1.0])
    assert val[0, 0] == pytest.approx(0.4)
    np.testing.assert_allclose(loc[0, 1], [-0.5, -0.5])  # score <= 0: MMPose's -1 / ratio
    assert decode_simcc(x, y, 2.0, "max")[1][0, 0] == pytest.approx(0.9)
    assert decode_simcc(x, y, 2.0, "mean")[1][0, 0] == pytest.approx(0.65)
    with pytest.raises(AdapterError, match="score='best'"):
        decode_simcc(x, y, 2.0, "best")


def test_simcc_crop_hook_and_static_batch(simcc17, tmp_path):
    image, boxes = _scene()
    adapter = SimCCOnnxAdapter(simcc17, meta=COCO)
    seen = []

    def hook(i, crop, matrix):
        seen.append((i, crop.shape, matrix.shape))
        return np.zeros_like(crop)

    hooked = adapter.predict(image, boxes, crop_hook=hook)
    assert seen == [(i, (64, 48, 3), (2, 3)) for i in range(3)]
    black = adapter.predict(np.zeros_like(image), boxes)
    np.testing.assert_allclose(hooked, black, atol=1e-6)  # same crops -> same keypoints
    torch.manual_seed(0)
    fixed = export(TinySimCC(17, SIZE), tmp_path / "fixed.onnx", (1, 3, 64, 48),
                   ["simcc_x", "simcc_y"], dynamic_batch=False)
    np.testing.assert_allclose(SimCCOnnxAdapter(fixed, meta=COCO).predict(image, boxes),
                               adapter.predict(image, boxes), atol=1e-4)


def test_wholebody_order_maps_to_coco(tmp_path):
    torch.manual_seed(3)
    path = export(TinySimCC(26, SIZE), tmp_path / "halpe.onnx", (1, 3, 64, 48),
                  ["simcc_x", "simcc_y"])
    image, boxes = _scene()
    full = SimCCOnnxAdapter(path)  # no data set: the model's own (Halpe-26) order
    assert full.num_keypoints == 26 and full.keypoint_order[17] == "head"
    on_coco = load_adapter(str(path), {}, meta=COCO)
    assert on_coco.num_keypoints == 17
    np.testing.assert_allclose(on_coco.predict(image, boxes), full.predict(image, boxes)[:, :17])


def test_simcc_bad_input(simcc17, tmp_path):
    with pytest.raises(AdapterError, match="simcc_x has 96 bins but input 40x64 at split ratio 2"):
        SimCCOnnxAdapter(simcc17, input_size="40x64", split_ratio=2.0)
    with pytest.raises(AdapterError, match="kind='sim'.*heatmap, simcc, rtmo"):
        load_adapter(str(simcc17), {"kind": "sim"}, meta=COCO)
    with pytest.raises(AdapterError, match="predicts 17 keypoints but its keypoint order has 16"):
        load_adapter(str(simcc17), {"keypoint_order": "mpii"}, meta=COCO)
    with pytest.raises(AdapterError, match="does not exist"):
        load_adapter(str(tmp_path / "nope.onnx"), {}, meta=COCO)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a graph")
    with pytest.raises(AdapterError, match=r"bad\.onnx: cannot be loaded"):
        load_adapter(str(bad), {}, meta=COCO)
    with pytest.raises(AdapterError, match="unknown model argument 'split'"):
        load_adapter(str(simcc17), {"split": "2"}, meta=COCO)


def _letterbox(image, size):
    r = min(size / image.shape[0], size / image.shape[1])
    out = np.full((size, size, 3), 114, np.uint8)
    nh, nw = int(image.shape[0] * r), int(image.shape[1] * r)
    out[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, r


def test_rtmo_bottom_up_equals_independent_decode(rtmo):
    image = np.random.default_rng(2).integers(0, 255, (100, 80, 3), dtype=np.uint8)
    adapter = load_adapter(str(rtmo), {}, meta=COCO)
    assert isinstance(adapter, RTMOOnnxAdapter) and adapter.bottom_up
    kp, scores = adapter.predict(image, None)
    padded, r = _letterbox(image[..., ::-1], 64)  # RTMO is fed BGR
    sess = ort.InferenceSession(str(rtmo), providers=["CPUExecutionProvider"])
    dets, kpts = sess.run(None, {"input": padded.transpose(2, 0, 1)[None].astype(np.float32)})
    # scores 0.9, 0.8, 0.85 (near-duplicate of 0), 0.05 (< 0.1), 0.7 (IoU 0.68 with 1)
    np.testing.assert_allclose(scores, [0.9, 0.8], rtol=1e-6)
    want = kpts[0, [0, 1]].astype(np.float64)
    want[..., :2] /= r
    np.testing.assert_allclose(kp, want, rtol=1e-5, atol=1e-4)
    assert r == pytest.approx(0.64)
    lower = RTMOOnnxAdapter(rtmo, meta=COCO, nms_thr=0.7).predict(image)[1]
    np.testing.assert_allclose(lower, [0.9, 0.8, 0.7], rtol=1e-6)  # 0.68 < 0.7 kept
    with pytest.raises(AdapterError, match="nms_thr=1.5"):
        RTMOOnnxAdapter(rtmo, nms_thr=1.5)


def test_rtmo_matches_rtmlib(rtmo):
    rtmlib = pytest.importorskip("rtmlib")
    image = np.random.default_rng(2).integers(0, 255, (100, 80, 3), dtype=np.uint8)
    ref = rtmlib.RTMO(str(rtmo), model_input_size=(64, 64), score_thr=0.1, nms_thr=0.65,
                      backend="onnxruntime", device="cpu")
    kp, kscores = ref(np.ascontiguousarray(image[..., ::-1]))  # rtmlib: BGR as read by cv2
    ours, _ = RTMOOnnxAdapter(rtmo, meta=COCO).predict(image)
    np.testing.assert_allclose(ours[..., :2], kp, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ours[..., 2], kscores, rtol=1e-5)


def test_onnx_family_end_to_end(simcc17, rtmo, synthpose_val, tmp_path):
    for path in (simcc17, rtmo):
        res, summary = evaluate(synthpose_val, str(path), tmp_path / path.stem)
        assert res.returncode == 0, res.stderr[-2000:]
        assert 0.0 <= clean_ap(summary) <= 100.0
