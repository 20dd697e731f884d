"""Issue 12 items 4, 6, 7 and issue 15's plumbing: what decides the numbers is applied as
documented and recorded in summary.json (and the leaderboard row).

- stability R(T, T^mp) / RUC count only labelled keypoints of persons matched to GT, with a
  named perturbation set (`extra` default, `stable-heatmap` the paper's);
- OKS-NMS areas: the reference's `(scale * 200).prod()` in float32 under `hrnet` (checked
  against a transcription of HRNet's `_xywh2cs`), and for an adapter without `input_size`
  the box at its own aspect, recorded;
- use_area recorded (summary + leaderboard row);
- the inference protocol reaches the zoo adapter, the ONNX adapter, user classes, GT boxes,
  the summary, the fingerprint and the leaderboard row.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import robustpose_bench as rpb
from robustpose_bench.adapters.base import AdapterError
from robustpose_bench.evaluation.boxes import boxes_for_dataset, match_to_gt
from robustpose_bench.evaluation.evaluators import StabilityEvaluator, nms_areas, oks_nms_area_rule
from robustpose_bench.evaluation.predictions import ImagePrediction, Predictions
from robustpose_bench.metrics.stability import PERTURBATION_SETS

HERE = Path(__file__).parent
ORACLE = f"{HERE / 'oracle_adapter.py'}:OracleAdapter"


def _reference():
    """tests/adapters/_hrnet_reference.py: an independent transcription of HRNet's test code."""
    spec = importlib.util.spec_from_file_location(
        "_hrnet_reference_for_nms", HERE.parent / "adapters" / "_hrnet_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- OKS-NMS areas
def test_nms_areas_are_the_references_float32_products():
    rng = np.random.default_rng(3)
    boxes = np.column_stack([rng.uniform(0, 600, 500), rng.uniform(0, 400, 500),
                             rng.uniform(0.3, 300, 500), rng.uniform(0.3, 400, 500)])
    boxes[:5, 2:] = [[1, 1], [0.5, 7], [33.3, 0.7], [640, 1], [191.99, 256.01]]
    ref = _reference()
    for aspect in (192 / 256, 288 / 384, 1.0):
        scales = np.array([ref.xywh2cs(*b, aspect)[1] for b in boxes])
        assert scales.dtype == np.float32
        want = np.prod(scales * 200, 1)  # the reference: all_boxes[:, 4] = np.prod(s*200, 1)
        got = nms_areas(boxes, aspect, np.float32)
        assert np.array_equal(got, want.astype(np.float64))
        f64 = nms_areas(boxes, aspect, np.float64)
        assert not np.array_equal(f64, got) and np.allclose(f64, got, rtol=1e-6)
    # no input size: the box at its own aspect, enlarged 1.25x
    assert np.allclose(nms_areas(boxes, None), 1.25 * boxes[:, 2] * 1.25 * boxes[:, 3],
                       rtol=1e-12)
    assert oks_nms_area_rule([192, 256], "hrnet") == {"rule": "model_aspect",
                                                      "aspect": 0.75, "dtype": "float32"}
    assert oks_nms_area_rule(None, "mmpose") == {"rule": "box_aspect", "aspect": None,
                                                 "dtype": "float32"}


def test_adapter_without_input_size_records_the_box_aspect_rule(synthpose_val, tmp_path):
    data = rpb.load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])
    oracle = {"model_args": {"ann": str(synthpose_val["ann_file"]), "jitter": "3"}}
    summary = rpb.evaluate(ORACLE, data, "none", boxes=synthpose_val["detections"], **oracle)
    rule = summary.metric_options["oks_nms_area"]
    assert rule == {"rule": "box_aspect", "aspect": None, "dtype": "float32"}
    assert summary.metric_options["use_area"] is True
    assert summary.fingerprint["fields"]["metric"]["oks_nms_area"] == rule
    assert summary.model["input_size"] is None


# --------------------------------------------------------------------------- stability
def _two_persons(synthpose_val):
    """A sample of SynthPose val with two or more GT persons, its dataset, and that sample's
    GT boxes plus one box far from any person (an unmatched detection)."""
    data = rpb.load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])
    i = next(n for n, s in enumerate(data.samples)
             if sum(p.num_keypoints > 0 and not p.iscrowd for p in s.persons) >= 2)
    return data, i


def test_stability_counts_labelled_keypoints_of_matched_persons(synthpose_val):
    data, i = _two_persons(synthpose_val)
    sample = data.samples[i]
    gt = boxes_for_dataset(data, None)[i]
    far = np.array([[sample.width - 3.0, sample.height - 3.0, 2.0, 2.0]])
    boxes = np.concatenate([gt.boxes, far])
    n = len(boxes)
    k = data.meta.num_keypoints
    rng = np.random.default_rng(0)
    clean = rng.uniform(0, 100, (n, k, 3))
    moved = clean.copy()
    labelled = np.zeros((n, k), bool)
    for row, g in enumerate(gt.gt_index):
        labelled[row] = sample.persons[g].keypoints[:, 2] > 0
    moved[..., 0] += np.where(labelled, 1.0, 100.0)  # 1 px where labelled, 100 px elsewhere
    moved[-1, :, 1] += 50.0  # the unmatched detection moves a lot too
    scores = np.ones(n)
    match = match_to_gt(sample, boxes, scores)
    assert match[-1] == -1 and (match[:-1] == gt.gt_index).all()
    ref = Predictions()
    ref.add(ImagePrediction(i, clean, boxes, scores))
    ev = StabilityEvaluator(ref)  # matched here by IoU; the sweep passes SampleBoxes.gt_index
    ev.reset()
    ev.process([sample], [ImagePrediction(i, moved, boxes, scores)])
    out = ev.evaluate()["stability"]
    terms = int(labelled.sum())
    assert out["R"] == pytest.approx(terms * 1.0) and out["num_terms"] == terms
    assert out["persons"] == len(gt) and out["unmatched_boxes"] == 1
    assert out["curve"][0] == 1.0 and out["RUC"] == 1.0  # every counted keypoint moved 1 px
    given = StabilityEvaluator(ref, {i: np.append(gt.gt_index, -1)})
    given.reset()
    given.process([sample], [ImagePrediction(i, moved, boxes, scores)])
    assert given.evaluate() == {"stability": out}


def test_perturbation_sets_by_name_are_recorded(synthpose_val, tmp_path):
    data = rpb.load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])
    oracle = {"model_args": {"ann": str(synthpose_val["ann_file"]), "jitter": "2"}}
    summary = rpb.evaluate(ORACLE, data, "none", stability="stable-heatmap",
                           stability_severities=[2], boxes=synthpose_val["detections"],
                           out=tmp_path / "o", **oracle)
    assert PERTURBATION_SETS["stable-heatmap"] == ("gaussian_blur", "jpeg_compression",
                                                   "saturate", "spatter", "speckle_noise")
    assert set(summary.stability) == {f"{c}/2" for c in PERTURBATION_SETS["stable-heatmap"]}
    assert summary.metric_options["stability_set"] == "stable-heatmap"
    entry = summary.stability["jpeg_compression/2"]
    assert entry["unmatched_boxes"] > 0  # SynthPose's detections include false positives
    gt_persons = sum(1 for s in data.samples for p in s.persons
                     if p.num_keypoints > 0 and not p.iscrowd)
    assert 0 < entry["persons"] <= gt_persons
    default = rpb.evaluate(ORACLE, data, "none", stability="extra", stability_severities=[1],
                           **oracle)
    assert default.metric_options["stability_set"] == "extra"
    assert set(default.stability) == {f"{c}/1" for c in PERTURBATION_SETS["extra"]}


# --------------------------------------------------------------------------- use_area
def test_use_area_is_recorded_in_summary_and_leaderboard_row(synthpose_val, tmp_path):
    from robustpose_bench.leaderboard.summary import corruption_row

    data = rpb.load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])
    oracle = {"model_args": {"ann": str(synthpose_val["ann_file"]), "jitter": "2"}}
    rows = {}
    for use_area in (True, False):
        s = rpb.evaluate(ORACLE, data, "fog/2", use_area=use_area, **oracle)
        assert s.metric_options["use_area"] is use_area
        assert s.fingerprint["fields"]["metric"]["use_area"] is use_area
        rows[use_area] = corruption_row(s)
    assert rows[True]["use_area"] == "true" and rows[False]["use_area"] == "false"
    assert rows[True]["clean"] != rows[False]["clean"]  # the option changes the numbers
    assert rows[True]["inference_protocol"] == "hrnet"


# --------------------------------------------------------------------------- inference protocol
def test_inference_protocol_reaches_every_adapter_kind(synthpose_val, tmp_path):
    from robustpose_bench.adapters.loading import load_adapter
    from robustpose_bench.adapters.onnx import export_onnx
    from robustpose_bench.datasets.meta import get_meta
    from robustpose_bench.models import create_model

    meta = get_meta("synthpose")
    zoo = load_adapter("zoo:hrnet_w16_small", {}, meta=meta, inference_protocol="mmpose")
    assert zoo.inference_protocol == "mmpose"
    assert load_adapter("zoo:hrnet_w16_small", {"inference_protocol": "mmpose"},
                        meta=meta).inference_protocol == "mmpose"
    assert load_adapter("zoo:hrnet_w16_small", {}, meta=meta).inference_protocol == "hrnet"
    onnx = export_onnx(create_model("hrnet_w16_small"), tmp_path / "m.onnx", (96, 128))
    assert load_adapter(str(onnx), {}, meta=meta,
                        inference_protocol="mmpose").inference_protocol == "mmpose"
    user = tmp_path / "user_adapter.py"
    user.write_text("import numpy as np\n"
                    "class Takes:\n"
                    "    def __init__(self, inference_protocol='hrnet'):\n"
                    "        self.inference_protocol = inference_protocol\n"
                    "    def predict(self, image, boxes):\n"
                    "        return np.zeros((len(boxes), 17, 3))\n")
    assert load_adapter(f"{user}:Takes", {}, meta=meta,
                        inference_protocol="mmpose").inference_protocol == "mmpose"
    data = rpb.load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])
    built = load_adapter("zoo:hrnet_w16_small", {}, meta=meta)  # an object: hrnet
    with pytest.raises(AdapterError, match="uses the inference protocol 'hrnet', not the "
                                           "'mmpose' asked for"):
        rpb.evaluate(built, data, "none", inference_protocol="mmpose")
    with pytest.raises(ValueError, match="unknown inference protocol 'mmpos'"):
        rpb.evaluate("synthpose_hrnet_w16_standard", data, "none", inference_protocol="mmpos")


def test_inference_protocol_is_applied_and_recorded(synthpose_val, tmp_path):
    from robustpose_bench.leaderboard.summary import corruption_row
    from robustpose_bench.train.validate import validate_model

    data = rpb.load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])
    runs = {p: rpb.evaluate("synthpose_hrnet_w16_standard", data, "fog/2",
                            inference_protocol=p, out=tmp_path / p) for p in ("hrnet", "mmpose")}
    for name, s in runs.items():
        assert s.protocol["inference_protocol"] == name
        assert s.fingerprint["fields"]["inference_protocol"] == name
        assert corruption_row(s)["inference_protocol"] == name
    assert runs["hrnet"].clean != runs["mmpose"].clean  # other GT boxes, other keypoints
    boxes = {p: json.loads((tmp_path / p / "conditions/clean/results.json").read_text())
             for p in runs}
    assert boxes["hrnet"] != boxes["mmpose"]
    # training validation takes the same protocol and gives the sweep's clean numbers
    from robustpose_bench.evaluation.resolve import resolve_model

    net = resolve_model("synthpose_hrnet_w16_standard", data.meta).adapter.model
    val = validate_model(net, data, (96, 128), inference_protocol="mmpose",
                         decode="dark")  # the shipped model's decoder
    assert val == {k: v for k, v in runs["mmpose"].clean_metrics.items() if v is not None}
