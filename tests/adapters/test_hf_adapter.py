"""ViTPose through transformers: a tiny randomly initialised VitPoseConfig saved with
save_pretrained; the adapter's keypoints equal transformers' own pipeline (processor crops,
model, flip with the model's flip_pairs, processor post-processing) on the same inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")
if not hasattr(transformers, "VitPoseForPoseEstimation"):
    pytest.skip("transformers has no VitPoseForPoseEstimation", allow_module_level=True)

import cv2  # noqa: E402
from _adapter_cli import clean_ap, evaluate  # noqa: E402

from robustpose_bench.adapters.base import AdapterError  # noqa: E402
from robustpose_bench.adapters.hf import HFVitPoseAdapter, udp_matrix  # noqa: E402
from robustpose_bench.adapters.loading import load_adapter  # noqa: E402
from robustpose_bench.datasets.meta import COCO, MPII  # noqa: E402

# The model's keypoints in a shuffled order and another spelling (L_Eye, ...): the adapter
# must map them to the data set's order by name.
SPELL = {"left": "L", "right": "R"}
PERM = [3, 0, 16, 5, 8, 1, 12, 2, 9, 14, 4, 11, 6, 15, 7, 13, 10]
MODEL_NAMES = ["_".join([SPELL.get(p, p.capitalize()) for p in COCO.keypoint_names[i].split("_")])
               for i in PERM]


def _save_tiny(folder, names=MODEL_NAMES, experts=1):
    torch.manual_seed(0)
    cfg = transformers.VitPoseConfig(
        backbone_config={"model_type": "vitpose_backbone", "hidden_size": 32,
                         "num_hidden_layers": 2, "num_attention_heads": 2, "mlp_ratio": 2,
                         "image_size": [64, 48], "patch_size": [16, 16], "out_indices": [2],
                         "num_experts": experts, "part_features": 8},
        num_labels=len(names), id2label=dict(enumerate(names)))
    model = transformers.VitPoseForPoseEstimation(cfg)
    with torch.no_grad():  # peaked heatmaps: no argmax ties
        model.head.conv.weight.mul_(30.0)
    model.save_pretrained(folder)
    processor_cls = getattr(transformers, "VitPoseImageProcessorPil", None) or \
        transformers.VitPoseImageProcessor
    processor_cls(size={"height": 64, "width": 48}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _save_tiny(tmp_path_factory.mktemp("vitpose") / "tiny-vitpose")


def _scene():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    cv2.circle(image, (50, 60), 20, (255, 255, 255), -1)
    boxes = np.array([[10, 10, 60, 100], [80, 20, 50, 90]], float)
    return image, boxes


def transformers_pipeline(folder, image, boxes, flip):
    """The documented transformers usage, in the model's own keypoint order."""
    processor = transformers.AutoProcessor.from_pretrained(folder)
    model = transformers.VitPoseForPoseEstimation.from_pretrained(folder).eval()
    inputs = processor(image, boxes=[boxes.tolist()], return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs)
        if flip:
            names = [model.config.id2label[i] for i in range(model.config.num_labels)]
            pairs = torch.tensor([[names.index(n), names.index("R" + n[1:])] for n in names
                                  if n.startswith("L_")])
            flipped = model(inputs["pixel_values"].flip(3), flip_pairs=pairs)
            out.heatmaps = (out.heatmaps + flipped.heatmaps) * 0.5
    res = processor.post_process_pose_estimation(out, boxes=[boxes.tolist()])[0]
    return np.stack([np.concatenate([np.asarray(r["keypoints"]), np.asarray(r["scores"])[:, None]],
                                    1) for r in res])


def transformers_heatmaps(folder, x, flip):
    model = transformers.VitPoseForPoseEstimation.from_pretrained(folder).eval()
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    pairs = torch.tensor([[names.index(n), names.index("R" + n[1:])] for n in names
                          if n.startswith("L_")])
    with torch.no_grad():
        hm = model(torch.from_numpy(x)).heatmaps
        if flip:
            hm = (hm + model(torch.from_numpy(x).flip(3), flip_pairs=pairs).heatmaps) * 0.5
    return hm.numpy()


@pytest.mark.parametrize("flip", [False, True])
def test_equals_transformers_pipeline_in_dataset_order(tiny, flip):
    image, boxes = _scene()
    # batch_size 2 = the reference's batch: bitwise-equal heatmaps (ViTPose's DARK step
    # amplifies last-bit differences on the flat heatmaps of a random network).
    adapter = load_adapter(f"hf:{tiny}", {"flip_test": str(flip), "batch_size": "2"},
                           meta=COCO, device="cpu")
    assert isinstance(adapter, HFVitPoseAdapter) and adapter.flip_test is flip
    assert adapter.input_size == (48, 64) and adapter.keypoint_order == COCO.keypoint_names
    got = adapter.predict(image, boxes)
    ref = transformers_pipeline(tiny, image, boxes, flip)  # model order
    ref_in_coco_order = ref[:, np.argsort(PERM)]
    np.testing.assert_allclose(got, ref_in_coco_order, atol=1e-3)
    assert np.ptp(got[..., 0]) > 10
    parts = adapter.predict_batch([(image, boxes[:1]), (image, boxes[:0]), (image, boxes[1:])])
    assert [p.shape for p in parts] == [(1, 17, 3), (0, 17, 3), (1, 17, 3)]
    np.testing.assert_array_equal(np.concatenate(parts), got)
    x = adapter.pixel_values(image, boxes)
    adapter.batch_size = 1  # chunks of one person: the same heatmaps up to float rounding
    np.testing.assert_allclose(adapter.heatmaps_of_inputs(x).numpy(),
                               transformers_heatmaps(tiny, x, flip), rtol=1e-4, atol=1e-4)


def test_crops_and_hook_use_the_processor_geometry(tiny):
    image, boxes = _scene()
    adapter = HFVitPoseAdapter(str(tiny), meta=COCO, device="cpu", flip_test=False)
    crops = adapter.crops(image, boxes)
    assert crops.shape == (2, 3, 64, 48) and crops.dtype == np.uint8
    for i, box in enumerate(boxes):  # UDP matrix through OpenCV ~ the processor's SciPy warp
        warped = cv2.warpAffine(image, udp_matrix(box, (48, 64)), (48, 64), flags=cv2.INTER_LINEAR)
        diff = np.abs(warped[2:-2, 2:-2].astype(int) - crops[i].transpose(1, 2, 0)[2:-2, 2:-2])
        assert diff.mean() < 2.0
    seen = []

    def hook(i, crop, matrix):
        seen.append(i)
        return np.zeros_like(crop)

    hooked = adapter.predict(image, boxes, crop_hook=hook)
    assert seen == [0, 1]
    black = adapter.predict(np.zeros_like(image), boxes)
    np.testing.assert_allclose(hooked[..., 2], black[..., 2], atol=1e-5)


def test_moe_dataset_index_and_order_errors(tmp_path):
    folder = _save_tiny(tmp_path / "moe", experts=2)
    image, boxes = _scene()
    adapter = HFVitPoseAdapter(str(folder), meta=COCO, device="cpu")
    assert adapter.dataset_index == 0  # several experts: COCO's by default
    a = adapter.predict(image, boxes)
    b = HFVitPoseAdapter(str(folder), meta=COCO, device="cpu", dataset_index=1).predict(image, boxes)
    assert not np.allclose(a, b)  # another expert, other keypoints
    with pytest.raises(AdapterError, match="dataset_index=2 but the model has 2 expert"):
        HFVitPoseAdapter(str(folder), meta=COCO, dataset_index=2)
    with pytest.raises(AdapterError, match=r"no model keypoint named 'pelvis', 'thorax'"):
        load_adapter(f"hf:{folder}", {}, meta=MPII)


def test_offline_hub_error_is_one_line(tmp_path, monkeypatch, synthpose_val):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    with pytest.raises(AdapterError) as err:
        load_adapter("hf:usyd-community/vitpose-base-simple", {}, meta=COCO)
    assert str(err.value).startswith("hf:usyd-community/vitpose-base-simple: cannot load")
    assert "\n" not in str(err.value)
    res, summary = evaluate(synthpose_val, "hf:usyd-community/vitpose-base-simple",
                            tmp_path / "run", env={"HF_HUB_OFFLINE": "1",
                                                   "HF_HOME": str(tmp_path / "hf-home")})
    assert res.returncode != 0 and summary is None
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and "hf:usyd-community/vitpose-base-simple" in errors[0]
    assert "Traceback" not in res.stderr
    monkeypatch.delenv("HF_HUB_OFFLINE")  # a hub that cannot be reached fails in seconds
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    for key in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(AdapterError, match=r"^hf:usyd-community/vitpose-base-simple: not in the "
                                           r"local Hugging Face cache and the hub 127\.0\.0\.1:9 "
                                           r"cannot be reached"):
        load_adapter("hf:usyd-community/vitpose-base-simple", {}, meta=COCO)
    with pytest.raises(AdapterError, match="nothing after 'hf:'"):
        load_adapter("hf:", {}, meta=COCO)


def test_hf_family_end_to_end(tiny, synthpose_val, tmp_path):
    res, summary = evaluate(synthpose_val, f"hf:{tiny}", tmp_path / "run", "batch_size=8")
    assert res.returncode == 0, res.stderr[-2000:]
    assert 0.0 <= clean_ap(summary) <= 100.0
    assert summary["model"]["params"] > 10_000
