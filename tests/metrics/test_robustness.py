"""mPC / rPC and the breakdowns, checked by hand; missing conditions are never silent."""
from __future__ import annotations

import pytest

from robustpose_bench.metrics.robustness import aggregate
from robustpose_bench.names import CATEGORIES, CORRUPTIONS, EXTRA_CORRUPTIONS


def full_table(offset: float = 0.0) -> dict:
    # score = 60 - severity - index of the corruption
    return {c: {s: 60.0 - s - i + offset for s in range(1, 6)} for i, c in enumerate(CORRUPTIONS)}


def test_names_match_corruptions_module():
    corr = pytest.importorskip("robustpose_bench.corruptions")
    assert CORRUPTIONS == tuple(corr.CORRUPTIONS)
    assert EXTRA_CORRUPTIONS == tuple(corr.EXTRA_CORRUPTIONS)
    # the registry's per-corruption categories agree with the one table of names.py
    assert {cat: tuple(n for n in CORRUPTIONS if corr.get_corruption(n).category == cat)
            for cat in CATEGORIES} == CATEGORIES


def test_hand_computed():
    r = aggregate(full_table(), clean=70.0)
    # per corruption i: mean over severities of 60 - s - i = 57 - i; mPC = 57 - mean(i) = 50
    assert r["per_corruption"]["gaussian_noise"] == 57.0
    assert r["per_corruption"]["jpeg_compression"] == 43.0
    assert r["mPC"] == 50.0 and r["rPC"] == pytest.approx(50 / 70)
    assert r["gap_to_clean"] == 20.0 and r["clean"] == 70.0
    assert r["per_severity"] == {"1": 52.0, "2": 51.0, "3": 50.0, "4": 49.0, "5": 48.0}
    # categories: mean of 57 - i over i = 0..2, 3..6, 7..10, 11..14
    assert r["per_category"] == {"noise": 56.0, "blur": 52.5, "weather": 48.5, "digital": 44.5}
    assert r["partial"] is False and r["missing"] == [] and r["num_conditions"] == 75
    assert r["extras"] == {}


def test_string_severities_and_extras_do_not_enter_mpc():
    t = {c: {str(s): v for s, v in sev.items()} for c, sev in full_table().items()}
    t["speckle_noise"] = {"1": 0.0, "3": 10.0}
    t["saturate"] = {5: 99.0}
    r = aggregate(t, 70.0)
    assert r["mPC"] == 50.0
    assert r["extras"]["speckle_noise"] == {"mean": 5.0, "per_severity": {"1": 0.0, "3": 10.0}}
    assert r["extras"]["saturate"]["mean"] == 99.0


def test_missing_conditions_raise_or_are_labelled_partial():
    t = full_table()
    del t["fog"]
    del t["snow"][3]
    with pytest.raises(ValueError, match=r"snow/3, fog/1, fog/2, fog/3, fog/4, fog/5"):
        aggregate(t, 70.0)
    r = aggregate(t, 70.0, allow_partial=True)
    assert r["partial"] is True and r["missing"] == ["snow/3", "fog/1", "fog/2", "fog/3",
                                                     "fog/4", "fog/5"]
    assert r["num_conditions"] == 69 and "fog" not in r["per_corruption"]
    snow = 60.0 - 7  # index 7
    assert r["per_corruption"]["snow"] == pytest.approx(((snow - 1) + (snow - 2) + (snow - 4) + (snow - 5)) / 4)
    assert r["mPC"] == pytest.approx(sum(r["per_corruption"].values()) / 14)
    with pytest.raises(ValueError, match=r"75"):
        aggregate({}, 70.0)
    empty = aggregate({}, 70.0, allow_partial=True)
    assert empty["mPC"] is None and empty["rPC"] is None and len(empty["missing"]) == 75


@pytest.mark.parametrize("table, match", [
    ({"gaussian_noise": {6: 1.0}}, "severity 6"),
    ({"gaussian_noise": {"x": 1.0}}, "severity 'x'"),
    ({"gaussian_noise": {1: float("nan")}}, "finite"),
    ({"gaussian_noise": {1: "50"}}, "finite"),
    ({"gaussian_noise": {1: 1.0, "1": 2.0}}, "given twice"),
    ({"fancy_blur": {1: 1.0}}, "unknown corruption 'fancy_blur'"),
    ({"gaussian_noise": [1.0]}, "severity -> score"),
])
def test_bad_tables(table, match):
    with pytest.raises(ValueError, match=match):
        aggregate(table, 70.0, allow_partial=True)


def test_zero_clean():
    r = aggregate(full_table(-60.0), 0.0)
    assert r["rPC"] is None and r["mPC"] == -10.0
    with pytest.raises(ValueError, match="clean"):
        aggregate(full_table(), float("nan"))
