"""The evaluator objects (reset / process / evaluate) against the reference tools they wrap:
pycocotools on the written results file, every installed AP backend, the MPII PCKh scorer on
its results file, pycocotools' per-keypoint AP; the one metric rule; RunSettings round trip."""
from __future__ import annotations

import json

import numpy as np
import pytest

from robustpose_bench.datasets import load_dataset
from robustpose_bench.datasets.meta import COCO, CROWDPOSE, MPII, SYNTHPOSE, DatasetMeta
from robustpose_bench.evaluation import (
    AttackedKeypointAPEvaluator,
    DataSpec,
    EvaluatorGroup,
    ImagePrediction,
    KeypointAPEvaluator,
    PCKhEvaluator,
    RunSettings,
    StabilityEvaluator,
    default_metric,
)
from robustpose_bench.evaluation.boxes import boxes_for_dataset
from robustpose_bench.metrics.coco import list_backends
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.protocol import get_protocol


def _outputs(dataset, shift: float = 0.0, seed: int = 0) -> list[ImagePrediction]:
    """GT keypoints of every GT box, moved by a per-person random offset of up to `shift` px."""
    rng = np.random.default_rng(seed)
    out = []
    for i, (sample, b) in enumerate(zip(dataset.samples, boxes_for_dataset(dataset, None),
                                        strict=True)):
        kp = np.array([sample.persons[g].keypoints for g in b.gt_index],
                      dtype=float).reshape(-1, dataset.meta.num_keypoints, 3)
        kp[..., :2] += rng.uniform(-shift, shift, size=(len(kp), 1, 2))
        kp[..., 2] = rng.uniform(0.3, 1.0, size=kp.shape[:2])
        out.append(ImagePrediction(i, kp, b.boxes, b.scores))
    return out


@pytest.fixture(scope="module")
def coco_val(synthpose_val):
    return load_dataset(synthpose_val["ann_file"], synthpose_val["image_root"])


def test_keypoint_ap_equals_pycocotools_on_its_results_file(coco_val):
    from pycocotools.coco import COCO as PyCOCO
    from pycocotools.cocoeval import COCOeval

    outputs = _outputs(coco_val, shift=6.0)
    ev = KeypointAPEvaluator(coco_val, aspect=0.75)
    ev.reset()
    ev.process([coco_val.samples[o.index] for o in outputs[:5]], outputs[:5])
    ev.process([coco_val.samples[o.index] for o in outputs[5:]], outputs[5:])
    ours = ev.evaluate()
    results = ev.files()["results.json"][0]
    gt = PyCOCO(str(coco_val.ann_file))
    cocoeval = COCOeval(gt, gt.loadRes(results), "keypoints")
    cocoeval.params.kpt_oks_sigmas = np.asarray(SYNTHPOSE.sigmas)
    cocoeval.evaluate()
    cocoeval.accumulate()
    cocoeval.summarize()
    ref = [100.0 * s if s >= 0 else None for s in cocoeval.stats[:10]]
    assert list(ours.values()) == pytest.approx(ref, abs=1e-9)
    assert 0 < ours["AP"] < 100
    # every installed backend, through the same object
    for backend in list_backends(installed_only=True):
        other = KeypointAPEvaluator(coco_val, aspect=0.75, backend=backend)
        other.process([coco_val.samples[o.index] for o in outputs], outputs)
        assert other.evaluate() == pytest.approx(ours, abs=1e-9), backend
    # reset forgets; the GT is parsed once and reused
    scorer = ev.scorer()
    ev.reset()
    ev.process([coco_val.samples[0]], outputs[:1])
    assert ev.evaluate()["AP"] < ours["AP"] and ev.scorer() is scorer


def test_process_checks_inputs_and_outputs_agree(coco_val):
    ev = KeypointAPEvaluator(coco_val)
    with pytest.raises(ValueError, match="2 inputs but 1 outputs"):
        ev.process(coco_val.samples[:2], _outputs(coco_val)[:1])
    group = EvaluatorGroup([KeypointAPEvaluator(coco_val), KeypointAPEvaluator(coco_val)])
    group.process(coco_val.samples, _outputs(coco_val))
    with pytest.raises(ValueError, match="AP, AP50, .* given twice"):
        group.evaluate()


def test_pckh_equals_the_mpii_scorer_on_its_results_file(synthpose_val, tmp_path):
    from robustpose_bench.metrics.pckh import mpii_score

    mpii = load_dataset(synthpose_val["mpii_file"], synthpose_val["image_root"],
                        gt_mat=synthpose_val["mpii_gt_mat"])
    outputs = _outputs(mpii, shift=12.0, seed=1)
    ev = PCKhEvaluator(mpii)
    ev.process([mpii.samples[o.index] for o in outputs], outputs)
    ours = ev.evaluate()
    doc, _ = ev.files()["results.json"]
    (tmp_path / "preds.json").write_text(json.dumps(
        [{"joints": p} for p in doc["preds_0based"]]))
    ref = mpii_score(synthpose_val["mpii_file"], tmp_path / "preds.json",
                     synthpose_val["mpii_gt_mat"])
    assert ours["PCKh"] == pytest.approx(100.0 * ref["PCKh"], abs=1e-9)
    assert 0 < ours["PCKh"] < 100


def test_attacked_keypoint_ap_and_stability(coco_val):
    from robustpose_bench.occlusion import keypoint_ap

    outputs = _outputs(coco_val, shift=5.0)
    samples = [coco_val.samples[o.index] for o in outputs]
    part = AttackedKeypointAPEvaluator(coco_val, Condition.from_id("attack/blur/upper_body"))
    part.process(samples, outputs)
    assert part.evaluate() == {"AP_keypoint": None}
    nose = AttackedKeypointAPEvaluator(coco_val, Condition.from_id("attack/blackout/nose"))
    nose.process(samples, outputs)
    ap = KeypointAPEvaluator(coco_val)
    ap.process(samples, outputs)
    ap.evaluate()
    ref = keypoint_ap(str(coco_val.ann_file), ap.results, [0], sigmas=SYNTHPOSE.sigmas)["AP"]
    assert nose.evaluate()["AP_keypoint"] == pytest.approx(100.0 * ref)
    clean = KeypointAPEvaluator(coco_val)  # any evaluator collects Predictions
    clean.process(samples, outputs)
    same = StabilityEvaluator(clean.predictions)
    same.process(samples, outputs)
    assert same.evaluate()["stability"]["R"] == 0.0
    assert same.evaluate()["stability"]["RUC"] == pytest.approx(1.0)
    moved = StabilityEvaluator(clean.predictions)
    moved.process(samples, _outputs(coco_val, shift=9.0, seed=3))
    assert moved.evaluate()["stability"]["R"] > 0


def test_one_rule_for_the_default_metric():
    assert default_metric(COCO) == "AP" and default_metric(SYNTHPOSE) == "AP"
    assert default_metric(CROWDPOSE) == "AP" and default_metric(MPII) == "PCKh"
    no_sigmas = DatasetMeta("handpose", ("a", "b"), (), None)
    assert default_metric(no_sigmas) == "PCKh"


def test_run_settings_round_trip_and_bad_file(tmp_path):
    s = RunSettings(protocol=get_protocol("advmix").with_overrides(seed=3),
                    data=DataSpec(ann="a.json", images="img"),
                    conditions=[Condition.from_id("fog/2"),
                                Condition.from_id("attack/blur/nose@r9")],
                    stability_conditions=[Condition.from_id("spatter/3")], boxes="det.json",
                    shard=(1, 4), model={"name": "m", "input_size": [96, 128]})
    s.save(tmp_path)
    back = RunSettings.load(tmp_path)
    assert back == s and back.to_json() == s.to_json()
    assert back.all_conditions()[0] == Condition.clean() and back.boxes_name == "det.json"
    (tmp_path / "run.json").write_text(json.dumps({"protocol": {"name": "nope"}}))
    with pytest.raises(ValueError, match="run.json: not the run settings of this version"):
        RunSettings.load(tmp_path)
    with pytest.raises(ValueError, match="shard must be i/n with 0 <= i < n, got 4/4"):
        RunSettings(protocol=get_protocol("robustpose"), shard=(4, 4))
