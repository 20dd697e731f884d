"""`Summary`, the one definition of summary.json: lossless round trip, the checks the
leaderboard relies on, attack keys through `Condition`, one-line errors on load."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "leaderboard"))
from _summary_factory import make_summary  # noqa: E402

from robustpose_bench.render.conditions import Condition  # noqa: E402
from robustpose_bench.results import Summary, SummaryError, target_kind  # noqa: E402


def test_round_trip_keeps_every_key_and_order(tmp_path):
    data = make_summary(attacks=True, stability=True)
    data["gap_to_clean"] = 1.5
    data["future_key"] = {"kept": True}
    s = Summary.from_dict(data)
    assert s.to_json() == data
    assert s.extra == {"future_key": {"kept": True}}
    s.save(tmp_path)
    back = Summary.load(tmp_path)
    assert back == s and back.source == str(tmp_path / "summary.json")
    written = json.loads((tmp_path / "summary.json").read_text())
    assert list(written)[:6] == ["schema_version", "metric", "units", "clean", "clean_metrics",
                                 "mPC"]
    assert s["mPC"] == data["mPC"] and s.get("nope", 3) == 3 and "attacks" in s


def test_validate_accepts_the_factory_and_names_problems():
    assert Summary.from_dict(make_summary()).validate() == []
    bad = make_summary(missing=["fog/3"])
    bad.update(clean="70", metric="mAP", units="fraction")
    bad["model"] = {"name": ""}
    bad["manifest"] = {"sha256": "abc"}
    del bad["schema_version"]
    problems = Summary.from_dict(bad, source="x/summary.json").validate()
    text = "\n".join(problems)
    for needle in ("schema_version is None, expected 1", "metric is 'mAP'",
                   "units is 'fraction'", "clean is '70'", "model.name missing",
                   "manifest.sha256 is 'abc'", "1 of 75 benchmark conditions missing (fog/3)",
                   "summary is marked partial"):
        assert needle in text, needle
    assert all(p.startswith("x/summary.json: ") for p in problems)
    assert Summary.from_dict(make_summary(missing=["fog/3"])).validate(allow_partial=True) == []


def test_recompute_and_inconsistent_mpc():
    data = make_summary()
    s = Summary.from_dict(data)
    rec = s.recompute()
    assert rec["mPC"] == pytest.approx(data["mPC"]) and rec["rPC"] == pytest.approx(data["rPC"])
    data["mPC"] += 1.0
    assert any("mPC = " in p for p in Summary.from_dict(data).validate())


def test_attack_keys_parse_through_condition():
    data = make_summary(attacks=True)
    data["attacks"]["blur/nose@r12"] = {"AP": 50.0}
    data["attacks"]["not-an-id"] = {"AP": 1.0}
    s = Summary.from_dict(data)
    conds = s.attack_conditions()
    assert conds["blur/nose@r12"] == Condition.attack("blur", "nose", 12.0)
    assert "not-an-id" not in conds
    assert s.attack_kind("blackout/nose") == "keypoint"
    assert s.attack_kind("meanout/upper_body") == "part"
    assert s.attack_scores()["blur/nose@r12"] == 50.0
    problems = s.validate(need_attacks=True)
    assert any("attack key 'not-an-id'" in p for p in problems)
    # a kind prefix wins; unknown data sets use the COCO layout
    assert target_kind(Condition.attack("blur", "part:head"), "crowdpose") == "part"
    assert target_kind(Condition.attack("blur", "left_eye"), "unknown") == "keypoint"


@pytest.mark.parametrize("content, needle", [
    (None, "no summary.json"),
    ("{not json", "cannot read summary"),
    ("[1, 2]", "expected a json object, got list"),
])
def test_load_errors_name_the_file(tmp_path, content, needle):
    if content is not None:
        (tmp_path / "summary.json").write_text(content)
    with pytest.raises(SummaryError, match=needle) as info:
        Summary.load(tmp_path)
    assert str(tmp_path) in str(info.value) and "\n" not in str(info.value)


def test_str_is_one_line():
    s = Summary.from_dict(make_summary(attacks=True))
    text = str(s)
    assert "\n" not in text and text.startswith("hrnet_w16_small on synthpose, AP clean 70.00")
    assert "attacks" in text and repr(s) == f"Summary({text})"
