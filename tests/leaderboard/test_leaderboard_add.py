"""`add_results`: summary checks (75 conditions, versions, manifest), idempotent add/replace,
numbers of the measured row, occlusion rows."""
from __future__ import annotations

import hashlib
import json

import pytest
from _summary_factory import CORRUPTIONS, SHA, make_summary

from robustpose_bench.leaderboard import LeaderboardError, add_results, read_table, validate
from robustpose_bench.leaderboard.schema import OCCLUSION_SCHEMA


def test_add_twice_gives_one_row(board, write_results):
    results = write_results(make_summary())
    csv = board / "synthpose-c.csv"
    first = add_results(results, csv)
    second = add_results(results, csv)
    assert (first.action, second.action) == ("added", "unchanged")
    table = read_table(csv)
    assert len(table.rows) == 1
    assert validate([csv]) == []


def test_changed_numbers_replace_the_row(board, write_results):
    csv = board / "synthpose-c.csv"
    add_results(write_results(make_summary(clean=70.0), "a"), csv)
    out = add_results(write_results(make_summary(clean=72.0), "b"), csv)
    assert out.action == "replaced"
    rows = read_table(csv).rows
    assert len(rows) == 1 and rows[0]["clean"] == "72.00"


def test_different_method_is_a_new_row(board, write_results):
    csv = board / "synthpose-c.csv"
    add_results(write_results(make_summary(method="Standard"), "a"), csv)
    add_results(write_results(make_summary(method="AdvMix", robustness=1.3), "b"), csv)
    add_results(write_results(make_summary(method="Standard"), "a2"), csv, method="Standard")
    assert [r["method"] for r in read_table(csv).rows] == ["Standard", "AdvMix"]


def test_measured_row_numbers(board, write_results):
    s = make_summary(clean=70.0, params=1234567, input_size=(192, 256), seed=3)
    row = add_results(write_results(s), board / "synthpose-c.csv", name="my-net").row
    values = [v for c in CORRUPTIONS for v in s["per_condition"][c].values()]
    assert len(values) == 75
    mpc = sum(values) / 75
    assert row["mPC"] == f"{mpc:.2f}"
    assert row["rPC"] == f"{100 * mpc / 70.0:.2f}"
    assert row["clean"] == "70.00"
    for c in CORRUPTIONS:
        assert row[c] == f"{sum(s['per_condition'][c].values()) / 5:.2f}"
    assert row["model"] == "my-net" and row["method"] == "Standard"
    assert row["input_size"] == "256x192" and row["params"] == "1234567"
    assert row["seed"] == "3" and row["protocol"] == "robustpose" and row["boxes"] == "gt"
    assert row["source"] == "measured" and row["version"] == "0.1.0"
    assert row["manifest_sha256"] == SHA and row["date"] == "2025-01-02"
    assert row["paper"] == row["table"] == row["notes"] == ""


def test_measured_row_lands_beside_reported_rows(board, write_results):
    s = make_summary(dataset="coco", clean=74.0, robustness=2.0)
    s["boxes"] = "COCO_val2017_detections_AP_H_56_person.json"
    add_results(write_results(s), board / "coco-c.csv")
    table = read_table(board / "coco-c.csv")
    assert len(table.rows) == 52
    assert sum(r["source"] == "reported" for r in table.rows) == 51
    assert validate([board]) == []


def test_missing_conditions_refused_unless_allowed(board, write_results):
    missing = [f"fog/{s}" for s in range(1, 6)] + ["snow/5"]
    results = write_results(make_summary(missing=missing))
    csv = board / "synthpose-c.csv"
    with pytest.raises(LeaderboardError, match=r"6 of 75 benchmark conditions missing"):
        add_results(results, csv)
    assert read_table(csv).rows == []
    row = add_results(results, csv, allow_partial=True).row
    assert row["fog"] == "" and row["snow"] != ""
    assert row["notes"] == "partial: 69/75 conditions"
    assert validate([csv]) == []


@pytest.mark.parametrize("mutate,message", [
    (lambda s: s["versions"].pop("robustpose_bench"), "versions.robustpose_bench missing"),
    (lambda s: s.update(manifest={"benchmark": "x", "sha256": "abc"}), "manifest.sha256"),
    (lambda s: s.pop("manifest"), "manifest.sha256"),
    (lambda s: s.update(mPC=s["mPC"] + 1.0), "mPC = "),
    (lambda s: s.update(rPC=50.0), "rPC = 50.0"),
    (lambda s: s.update(schema_version=2), "schema_version"),
    (lambda s: s.update(metric="mAP"), "metric"),
    (lambda s: s.update(clean=-3), "clean is -3"),
    (lambda s: s["per_condition"]["fog"].update({"3": "high"}), "per_condition"),
    (lambda s: s["model"].update(input_size=[256]), "model.input_size"),
])
def test_bad_summaries_are_refused(board, write_results, mutate, message):
    s = make_summary()
    mutate(s)
    with pytest.raises(LeaderboardError) as exc:
        add_results(write_results(s), board / "synthpose-c.csv")
    assert message in str(exc.value)
    assert "summary.json" in str(exc.value)


def test_missing_summary(tmp_path, board):
    with pytest.raises(LeaderboardError, match="no summary.json"):
        add_results(tmp_path, board / "synthpose-c.csv")
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(LeaderboardError, match="cannot read summary"):
        add_results(tmp_path, board / "synthpose-c.csv")


def test_manifest_must_match(tmp_path, board, write_results):
    manifest = tmp_path / "bench" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_text(json.dumps({"benchmark": "synthpose-c",
                                    "benchmark_sha256": "1" * 64}))
    file_sha = hashlib.sha256(manifest.read_bytes()).hexdigest()
    csv = board / "synthpose-c.csv"
    with pytest.raises(LeaderboardError, match="does not match the benchmark manifest"):
        add_results(write_results(make_summary()), csv, manifest=manifest)
    # the file's own hash, or its benchmark_sha256 (stable across re-renders), both match
    add_results(write_results(make_summary(manifest_sha=file_sha), "a"), csv,
                manifest=manifest)
    out = add_results(write_results(make_summary(manifest_sha="1" * 64), "b"), csv,
                      manifest=manifest.parent)
    assert out.row["manifest_sha256"] == "1" * 64
    s = make_summary(manifest_sha="1" * 64)
    s["manifest"]["benchmark"] = "coco-c"
    with pytest.raises(LeaderboardError, match="differs from"):
        add_results(write_results(s, "c"), csv, manifest=manifest)


def test_wrong_benchmark_file_refused(board, write_results):
    with pytest.raises(LeaderboardError, match="does not belong in coco-c.csv"):
        add_results(write_results(make_summary(dataset="synthpose")), board / "coco-c.csv")
    s = make_summary(dataset="mpii", metric="AP")
    with pytest.raises(LeaderboardError, match="metric 'AP' does not belong in mpii-c.csv"):
        add_results(write_results(s), board / "mpii-c.csv")
    mp = make_summary(dataset="mpii", metric="PCKh", clean=88.0)
    assert add_results(write_results(mp, "m"), board / "mpii-c.csv").action == "added"


def test_default_csv_from_dataset(tmp_path, write_results):
    lb = tmp_path / "lb"
    out = add_results(write_results(make_summary()), None, leaderboard_dir=lb)
    assert out.csv_path == lb / "synthpose-c.csv" and out.csv_path.exists()


def test_dry_run_writes_nothing(board, write_results):
    csv = board / "synthpose-c.csv"
    before = csv.read_bytes()
    out = add_results(write_results(make_summary()), csv, dry_run=True)
    assert out.action == "added" and csv.read_bytes() == before


def test_occlusion_row(board, write_results):
    s = make_summary(dataset="coco", attacks=True)
    s["attacks"]["blur/nose@r12"] = {"AP": 10.0}
    csv = board / "coco-occlusion.csv"
    row = add_results(write_results(s), csv).row
    default = {k: v["AP"] for k, v in s["attacks"].items() if "@r" not in k}
    assert len(default) == 3 * (17 + 11)
    assert row["num_attacks"] == str(len(default))
    assert row["attacked"] == f"{sum(default.values()) / len(default):.2f}"
    kp = [v for k, v in default.items() if k.split("/")[1] in
          ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
           "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
           "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")]
    assert row["keypoint_attacks"] == f"{sum(kp) / len(kp):.2f}"
    assert row["worst_attack"] == "blackout/upper_body"
    assert row["worst"] == f"{70.0 - 44.0:.2f}"
    assert row["blackout/nose"] == f"{70.0 - 5.0:.2f}"
    assert "radius-sweep" in row["notes"]
    table = read_table(csv)
    assert table.schema is OCCLUSION_SCHEMA and len(table.rows) == 1
    assert validate([csv]) == []
    assert add_results(write_results(s), csv).action == "unchanged"


def test_occlusion_needs_attacks(board, write_results):
    with pytest.raises(LeaderboardError, match="no attacks"):
        add_results(write_results(make_summary(dataset="coco")), board / "coco-occlusion.csv")


def test_rpc_above_100_is_allowed(board, write_results):
    """A model can score better under corruption than clean (rPC > 100): a ratio, not a
    percentage of 0..100; mPC itself stays within 0..100."""
    s = make_summary(clean=8.0)
    for c in s["per_condition"].values():
        for k in c:
            c[k] = 12.0
    s["mPC"], s["rPC"] = 12.0, 150.0
    row = add_results(write_results(s), board / "synthpose-c.csv").row
    assert (row["mPC"], row["rPC"]) == ("12.00", "150.00")
    assert validate([board / "synthpose-c.csv"]) == []
