"""Keypoint AP: every backend gives the same numbers as pycocotools / xtcocotools, to the last
bit, on hand-built edge cases, random tie-heavy sets and a synthetic COCO-like set."""
from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest
from _metric_cases import K, gt_dict, near, person, random_result

from robustpose_bench.datasets.errors import AnnotationError
from robustpose_bench.datasets.meta import COCO_SIGMAS, CROWDPOSE_KEYPOINTS, CROWDPOSE_SIGMAS
from robustpose_bench.metrics import _cocoeval_native as native
from robustpose_bench.metrics.coco import (
    KeypointEvaluator,
    evaluate_keypoints,
    get_backend,
    list_backends,
    load_gt,
)
from robustpose_bench.metrics.postprocess import rescore_and_nms, to_coco_results

BACKENDS = list_backends(installed_only=True)


def stats_all(gt, results, **kw) -> dict[str, list[float]]:
    g = load_gt(copy.deepcopy(gt), kw.pop("sigmas", None), kw.pop("use_area", True))
    return {b: list(KeypointEvaluator(g, backend=b, **kw).evaluate(results).values())
            for b in BACKENDS}


def raw_pycocotools(gt: dict, results: list[dict], sigmas=None) -> list[float]:
    """Plain pycocotools, no wrapper: the COCO reference."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        c = COCO()
        c.dataset = copy.deepcopy(gt)
        c.createIndex()
        d = c.loadRes(copy.deepcopy(results))
        ev = COCOeval(c, d, "keypoints")
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.asarray(sigmas)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats]


def raw_xtcocotools(gt: dict, results: list[dict], use_area: bool) -> list[float]:
    """Plain xtcocotools (what MMPose runs), with its own use_area flag."""
    from xtcocotools.coco import COCO
    from xtcocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        c = COCO()
        c.dataset = copy.deepcopy(gt)
        c.createIndex()
        d = c.loadRes(copy.deepcopy(results))
        ev = COCOeval(c, d, "keypoints", use_area=use_area)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats]


def assert_identical(stats: dict[str, list[float]]) -> None:
    """native, pycocotools and xtcocotools agree bit for bit; faster-coco-eval accumulates in
    C++ and may differ in the last bit of a mean (|diff| ~ 1e-16), never more."""
    ref = stats["pycocotools"] if "pycocotools" in stats else next(iter(stats.values()))
    for name, s in stats.items():
        if name == "faster-coco-eval":
            assert s == pytest.approx(ref, abs=1e-12, rel=0), f"{name} differs: {s} vs {ref}"
        else:
            assert s == ref, f"{name} differs: {s} vs {ref}"


def test_registry():
    assert list_backends()[0] == "native"
    assert get_backend("auto").name == "native"
    assert {"native", "pycocotools", "xtcocotools", "faster-coco-eval"} <= set(list_backends())
    assert set(BACKENDS) >= {"native", "pycocotools"}
    with pytest.raises(ValueError, match="unknown AP backend"):
        get_backend("nope")


def test_edge_cases_all_backends_identical(edge_case):
    name, gt, results = edge_case
    stats = stats_all(gt, results)
    assert_identical(stats)
    if name != "backend_quirks":  # GT id 0 is a pycocotools bug we do not reproduce
        assert stats["native"] == raw_pycocotools(gt, results)
    assert any(v > 0 for v in stats["native"])


@pytest.mark.parametrize("use_area", [True, False])
def test_edge_cases_use_area(edge_case, use_area):
    name, gt, results = edge_case
    stats = stats_all(gt, results, use_area=use_area)
    assert_identical(stats)
    if name != "backend_quirks":  # xtcocotools drops all-zero-confidence results there
        assert stats["native"] == raw_xtcocotools(gt, results, use_area)


def test_backend_quirks_resolved():
    """GT id 0 (pycocotools counts its match as a false positive) and all-zero confidences
    (xtcocotools drops the result) do not change our numbers: both are documented choices."""
    rng = np.random.default_rng(0)
    a = person(1, (100, 100, 100, 200), rng, ann_id=0)
    res = [near(a, rng, 1, 0.9, zero_conf=True)]
    ours = evaluate_keypoints(gt_dict([1], [a]), res, backend="native")
    assert ours["AP"] == pytest.approx(1.0)
    assert raw_pycocotools(gt_dict([1], [a]), res)[0] == pytest.approx(0.0)
    assert raw_xtcocotools(gt_dict([1], [a]), res, True)[0] == pytest.approx(0.0)
    for b in BACKENDS:
        assert evaluate_keypoints(gt_dict([1], [a]), res, backend=b)["AP"] == \
            pytest.approx(ours["AP"], abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_random_tie_heavy_sets(seed):
    """Rounded coordinates and scores: many exact ties in scores and in OKS."""
    rng = np.random.default_rng(100 + seed)
    anns, res = [], []
    images = list(range(1, 13))
    for im in images:
        for _ in range(int(rng.integers(0, 5))):
            w, h = float(rng.integers(10, 200)), float(rng.integers(20, 300))
            p = person(im, (float(rng.integers(0, 400)), float(rng.integers(0, 200)), w, h), rng,
                       vis=float(rng.choice([0.0, 0.3, 0.9])), crowd=bool(rng.random() < 0.08),
                       area=float(w * h * rng.choice([0.3, 0.6])))
            anns.append(p)
            for _ in range(int(rng.integers(0, 4))):
                res.append(near(p, rng, float(rng.choice([0.5, 3, 10])),
                                float(rng.choice([0.25, 0.5, 0.75]))))
        for _ in range(int(rng.integers(0, 4))):
            res.append(random_result(im, rng, float(rng.choice([0.25, 0.5]))))
    for r in res:
        r["keypoints"] = [float(np.round(v)) for v in r["keypoints"]]
    gt = gt_dict(images, anns)
    stats = stats_all(gt, res)
    assert_identical(stats)
    assert stats["native"] == raw_pycocotools(gt, res)
    for use_area in (False,):
        s2 = stats_all(gt, res, use_area=use_area)
        assert_identical(s2)
        assert s2["native"] == raw_xtcocotools(gt, res, use_area)


def test_synthetic_set_all_backends(synth_small):
    gt, pred = synth_small
    keep, scores = rescore_and_nms(pred.keypoints, pred.box_scores, pred.areas, pred.image_ids)
    results = to_coco_results(pred.image_ids[keep], pred.keypoints[keep], scores[keep])
    stats = stats_all(gt, results)
    assert_identical(stats)
    assert stats["native"] == raw_pycocotools(gt, results)
    assert 0.2 < stats["native"][0] < 0.9
    s2 = stats_all(gt, results, use_area=False)
    assert_identical(s2)
    assert s2["native"] == raw_xtcocotools(gt, results, False)
    assert s2["native"] != stats["native"]


def test_faster_coco_eval_native_use_area_flag_differs(synth_small):
    """Why we never pass use_area=False to faster-coco-eval: its APM/APL then differ from
    xtcocotools (it buckets by the annotation area). We rewrite the area instead."""
    pytest.importorskip("faster_coco_eval")
    from faster_coco_eval import COCO, COCOeval_faster

    gt, pred = synth_small
    keep, scores = rescore_and_nms(pred.keypoints, pred.box_scores, pred.areas, pred.image_ids)
    results = to_coco_results(pred.image_ids[keep], pred.keypoints[keep], scores[keep])
    c = COCO(copy.deepcopy(gt), print_function=lambda *a: None)
    d = c.loadRes(copy.deepcopy(results))
    ev = COCOeval_faster(c, d, "keypoints", print_function=lambda *a: None, use_area=False)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    ref = raw_xtcocotools(gt, results, False)
    assert list(ev.stats[:3]) == ref[:3]
    assert list(ev.stats[3:5]) != ref[3:5]
    ours = evaluate_keypoints(gt, results, use_area=False, backend="faster-coco-eval")
    assert list(ours.values()) == pytest.approx(ref, abs=1e-12, rel=0)


def test_custom_sigmas_and_k():
    """14 CrowdPose keypoints: sigmas found from the keypoint names, or given; backends agree."""
    rng = np.random.default_rng(5)
    k = 14
    anns, res = [], []
    for im in (1, 2, 3):
        for _ in range(3):
            x, y = rng.uniform(0, 400, 2)
            kp = np.zeros((k, 3))
            kp[:, 0], kp[:, 1], kp[:, 2] = np.round(x + rng.random(k) * 80), np.round(y + rng.random(k) * 160), 2
            anns.append({"image_id": im, "category_id": 1, "bbox": [x, y, 80, 160], "area": 6000.0,
                         "iscrowd": 0, "num_keypoints": k, "keypoints": kp.ravel().tolist()})
            for noise in (2, 6):
                d = kp.copy()
                d[:, :2] += rng.normal(0, noise, (k, 2))
                res.append({"image_id": im, "category_id": 1, "keypoints": d.ravel().tolist(),
                            "score": float(rng.random())})
    gt = gt_dict([1, 2, 3], anns)
    gt["categories"][0]["keypoints"] = list(CROWDPOSE_KEYPOINTS)
    stats = stats_all(gt, res)
    assert_identical(stats)
    assert stats["native"] == raw_pycocotools(gt, res, CROWDPOSE_SIGMAS)
    wide = stats_all(gt, res, sigmas=CROWDPOSE_SIGMAS * 3)
    assert_identical(wide)
    assert wide["native"][0] > stats["native"][0]
    gt["categories"][0]["keypoints"] = [f"kp{i}" for i in range(k)]
    with pytest.raises(ValueError, match="no OKS sigmas"):
        load_gt(gt)
    with pytest.raises(ValueError, match="declares 14 keypoints but 17"):
        load_gt(gt, sigmas=COCO_SIGMAS)


def test_perfect_and_empty():
    rng = np.random.default_rng(1)
    anns = [person(1, (100, 100, 100, 200), rng), person(2, (50, 50, 200, 300), rng)]
    gt = gt_dict([1, 2, 3], anns)
    perfect = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"],
                "score": 1.0} for a in anns]
    for b in BACKENDS:
        out = evaluate_keypoints(gt, perfect, backend=b)
        assert out["AP"] == pytest.approx(1.0) and out["AR"] == pytest.approx(1.0)
        assert out["APM"] == -1.0  # no medium person: undefined, as pycocotools
        empty = evaluate_keypoints(gt, [], backend=b)
        assert empty["AP"] == 0.0 and empty["AR"] == 0.0 and empty["APM"] == -1.0
    assert evaluate_keypoints(gt_dict([1], []), [])["AP"] == -1.0


def test_native_oks_bitwise_equal_to_pycocotools():
    """The vectorised OKS equals pycocotools computeOks bit for bit (no tolerance)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rng = np.random.default_rng(11)
    anns = [person(1, (float(rng.uniform(0, 300)), float(rng.uniform(0, 200)), 90.5, 210.25), rng,
                   vis=v) for v in (0.0, 0.2, 0.5, 1.0, 0.9, 0.0)]
    res = [random_result(1, rng, float(s)) for s in rng.random(15)]
    res += [near(a, rng, 4, float(s)) for a, s in zip(anns, rng.random(len(anns)), strict=True)]
    gt = gt_dict([1], anns)
    g = load_gt(copy.deepcopy(gt))
    with contextlib.redirect_stdout(io.StringIO()):
        c = COCO()
        c.dataset = copy.deepcopy(gt)
        c.createIndex()
        ev = COCOeval(c, c.loadRes(copy.deepcopy(res)), "keypoints")
        ev.params.imgIds = [1]
        ev._prepare()
        ref = ev.computeOks(1, 1)  # (20 best results, G)
    kp = np.array([r["keypoints"] for r in res]).reshape(-1, K, 3)
    order = np.argsort(-np.array([r["score"] for r in res]), kind="mergesort")[:20]
    d_idx, g_idx = np.meshgrid(np.arange(len(order)), np.arange(len(anns)), indexing="ij")
    ours = native._oks_pairs(g.arrays, g_idx.ravel(), kp[order], d_idx.ravel())
    assert np.array_equal(ours.reshape(ref.shape), ref)


def test_numpy_row_sum_equals_1d_sum():
    """The exactness argument relies on numpy reducing each row of a 2-D array exactly like a
    1-D array (same pairwise order): guard it."""
    rng = np.random.default_rng(0)
    for k in range(1, 40):
        a = np.exp(-rng.random((300, k)) * 5)
        assert np.array_equal(a.sum(axis=1), np.array([np.sum(r) for r in a]))


def test_backend_output_captured(capsys, synth_small):
    gt, pred = synth_small
    res = to_coco_results(pred.image_ids[:50], pred.keypoints[:50], pred.box_scores[:50])
    for b in BACKENDS:
        evaluate_keypoints(gt, res, backend=b)
    assert capsys.readouterr().out == ""


def test_paths_and_arrays(tmp_path, synth_small):
    gt, pred = synth_small
    res = to_coco_results(pred.image_ids, pred.keypoints, pred.box_scores)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(res))
    a = evaluate_keypoints(tmp_path / "gt.json", tmp_path / "res.json")
    b = KeypointEvaluator(gt).evaluate_arrays(pred.image_ids, pred.keypoints, pred.box_scores)
    assert a == b


# --------------------------------------------------------------------------- bad input
@pytest.fixture
def small_case():
    rng = np.random.default_rng(2)
    anns = [person(1, (100, 100, 100, 200), rng), person(2, (50, 50, 200, 300), rng)]
    res = [near(anns[0], rng, 2, 0.9), near(anns[1], rng, 2, 0.8), near(anns[1], rng, 9, 0.4)]
    return gt_dict([1, 2], anns), res


@pytest.mark.parametrize("mutate, where, text", [
    (lambda r: r[1].update(image_id=99), "results[1].image_id", "not in the ground truth"),
    (lambda r: r[2].update(keypoints=r[2]["keypoints"][:-3]), "results[2].keypoints", "3*K = 51"),
    (lambda r: r[1]["keypoints"].__setitem__(4, float("nan")), "results[1].keypoints", "NaN"),
    (lambda r: r[0]["keypoints"].__setitem__(0, float("inf")), "results[0].keypoints", "NaN"),
    (lambda r: r[2]["keypoints"].__setitem__(2, float("nan")), "results[2].keypoints", "NaN"),
    (lambda r: r[2].update(score=float("nan")), "results[2].score", "NaN"),
    (lambda r: r[1].update(score=float("inf")), "results[1].score", "NaN"),
    (lambda r: r[1].update(score=-0.5), "results[1].score", "negative score"),
    (lambda r: r.append(copy.deepcopy(r[0])), "results[3].keypoints", "duplicate submission"),
    (lambda r: r.append(dict(r[1], score=0.1)), "results[3].keypoints", "results[1]"),
    (lambda r: r[0].update(category_id=2), "results[0].category_id", "keypoint category"),
    (lambda r: r[0].pop("score"), "results[0].score", "missing field"),
    (lambda r: r[1].update(image_id="1"), "results[1].image_id", "integer"),
    (lambda r: r[1]["keypoints"].__setitem__(0, "12"), "results[1].keypoints", "non-numeric"),
    (lambda r: r[1]["keypoints"].__setitem__(0, True), "results[1].keypoints", "non-numeric"),
    (lambda r: r[0].update(score=None), "results[0].score", "expected a number"),
    (lambda r: r.__setitem__(1, [1, 2]), "results[1]", "expected an object"),
])
def test_bad_results_name_the_record(small_case, mutate, where, text):
    gt, res = small_case
    mutate(res)
    for b in ("native", "pycocotools"):
        with pytest.raises(AnnotationError) as exc:
            evaluate_keypoints(gt, copy.deepcopy(res), backend=b)
        assert where in str(exc.value) and text in str(exc.value)


def test_bad_arrays(small_case):
    gt, res = small_case
    ev = KeypointEvaluator(gt)
    kp = np.array([r["keypoints"] for r in res]).reshape(-1, K, 3)
    ids, sc = np.array([1, 2, 2]), np.array([0.9, 0.8, 0.4])
    with pytest.raises(AnnotationError, match=r"results\[2\].image_id"):
        ev.evaluate_arrays(np.array([1, 2, 5]), kp, sc)
    with pytest.raises(AnnotationError, match="keypoints must be"):
        ev.evaluate_arrays(ids, kp[:, :10], sc)
    bad = kp.copy()
    bad[1, 3, 1] = np.nan
    with pytest.raises(AnnotationError, match=r"results\[1\].keypoints"):
        ev.evaluate_arrays(ids, bad, sc)


def test_nan_policy_drop(small_case):
    gt, res = small_case
    with_nan = copy.deepcopy(res) + [dict(copy.deepcopy(res[0]), score=float("nan"))]
    with_nan[-1]["keypoints"][0] += 5
    clean = evaluate_keypoints(gt, res)
    for b in BACKENDS:
        out = evaluate_keypoints(gt, with_nan, backend=b, nan_policy="drop")
        assert list(out.values()) == pytest.approx(list(clean.values()), abs=1e-12)
    with pytest.raises(ValueError, match="nan_policy"):
        evaluate_keypoints(gt, res, nan_policy="ignore")


def test_bad_ground_truth(small_case):
    gt, res = small_case
    g = copy.deepcopy(gt)
    del g["annotations"][1]["area"]
    with pytest.raises(AnnotationError, match=r"annotations\[1\].area"):
        evaluate_keypoints(g, res)
    assert evaluate_keypoints(g, res, use_area=False)["AP"] > 0  # 0.53 * w * h instead
    g = copy.deepcopy(gt)
    g["annotations"][0]["image_id"] = 42
    with pytest.raises(AnnotationError, match=r"annotations\[0\].image_id"):
        evaluate_keypoints(g, res)
    g = copy.deepcopy(gt)
    g["images"].append(dict(g["images"][0]))
    with pytest.raises(AnnotationError, match=r"duplicate image id"):
        evaluate_keypoints(g, res)
    with pytest.raises(AnnotationError, match="expected a json list"):
        evaluate_keypoints(gt, {"image_id": 1})
    with pytest.raises(ValueError, match="positive"):
        evaluate_keypoints(gt, res, sigmas=[0.0] * K)


def test_duplicate_detection_many_rows(synth_small):
    gt, pred = synth_small
    ev = KeypointEvaluator(gt)
    n = 2000
    ids, kp, sc = pred.image_ids[:n].copy(), pred.keypoints[:n].copy(), pred.box_scores[:n]
    kp[1500] = kp[700]
    ids[1500] = ids[700]
    kp[1800] = kp[300]  # same keypoints on another image: not a duplicate
    ids[1800] = ids[300] + 1 if ids[300] + 1 in set(pred.image_ids.tolist()) else ids[299]
    kp[1900] = kp[1500]
    ids[1900] = ids[1500]
    with pytest.raises(AnnotationError, match=r"results\[1500\].keypoints.*as results\[700\]"):
        ev.evaluate_arrays(ids, kp, sc)


def test_prepared_gt_options(synth_small):
    gt, pred = synth_small
    res = to_coco_results(pred.image_ids[:3000], pred.keypoints[:3000], pred.box_scores[:3000])
    g_false = load_gt(gt, use_area=False)
    a = KeypointEvaluator(g_false).evaluate(res)  # its own use_area
    assert a == evaluate_keypoints(gt, res, use_area=False)
    b = KeypointEvaluator(g_false, use_area=True).evaluate(res)  # re-normalised from source
    assert b == evaluate_keypoints(gt, res) and b != a
    wide = KeypointEvaluator(g_false, sigmas=COCO_SIGMAS * 2).evaluate(res)
    assert wide == evaluate_keypoints(gt, res, sigmas=COCO_SIGMAS * 2, use_area=False)


def test_duplicate_check_with_hash_collisions():
    """Many rows equal in the hashed columns but different elsewhere stay fast and exact."""
    gt = gt_dict([1], [])
    n = 20000
    kp = np.zeros((n, K, 3))
    kp[:, 1, 0] = np.arange(n)  # differs only in a column the hash does not read
    ev = KeypointEvaluator(gt)
    assert ev.evaluate_arrays(np.ones(n, np.int64), kp, np.ones(n))["AP"] == -1.0
    kp[n - 1] = kp[5]
    with pytest.raises(AnnotationError, match=rf"results\[{n - 1}\].*results\[5\]"):
        ev.evaluate_arrays(np.ones(n, np.int64), kp, np.ones(n))


def test_synthpose_annotations_all_backends(synthpose_val):
    """The SynthPose val annotation file (COCO format) with noisy GT-derived results."""
    gt = json.loads(Path(synthpose_val["ann_file"]).read_text())
    rng = np.random.default_rng(9)
    res = []
    for a in gt["annotations"]:
        if a.get("num_keypoints", 0) == 0:
            continue
        for noise in (1.0, 4.0, 12.0):
            res.append(near(a, rng, noise, float(np.round(rng.random(), 2))))
    assert res
    stats = stats_all(gt, res)
    assert_identical(stats)
    assert stats["native"] == raw_pycocotools(gt, res)
    s2 = stats_all(gt, res, use_area=False)
    assert_identical(s2)
    assert s2["native"] == raw_xtcocotools(gt, res, False)
