"""The reported rows of leaderboard/{coco,mpii,ochuman}-c.csv against the AdvMix paper
(Wang et al., CVPR 2021), Tables 1, 2, 3, 5, 6, 8: hand-copied numbers and, when the paper
text is available beside the clone (../shared/papers/), every row number for number."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from robustpose_bench.leaderboard.csvfile import read_table
from robustpose_bench.leaderboard.schema import (
    BENCHMARK_CORRUPTIONS,
    PAPER_CORRUPTION_HEADERS,
    mean_consistent,
    ratio_consistent,
)
from robustpose_bench.leaderboard.validate import validate

REPO = Path(__file__).resolve().parents[2]
LB = REPO / "leaderboard"
DET = "COCO_val2017_detections_AP_H_56_person.json"
PAPER_CANDIDATES = (
    REPO.parent / "shared" / "papers" / "advmix-robust-pose-benchmark.txt",
    REPO / ".." / "shared" / "papers" / "advmix-robust-pose-benchmark.txt",
)


def rows(stem: str) -> list[dict[str, str]]:
    return read_table(LB / f"{stem}.csv").rows


def find(stem: str, **where: str) -> dict[str, str]:
    hits = [r for r in rows(stem) if all(r[k] == v for k, v in where.items())]
    assert len(hits) == 1, f"{stem}: {where} matched {len(hits)} rows"
    return hits[0]


# (file, key cells, expected cells) copied by hand from the paper text.
HAND_COPIED = [
    ("coco-c", dict(table="1", model="SBL", backbone="ResNet-50", input_size="128x96"),
     dict(clean="59.0", mPC="40.7", rPC="69.0", gaussian_noise="37.8", zoom_blur="13.3",
          jpeg_compression="47.1", boxes=DET, method="Standard")),
    ("coco-c", dict(table="1", model="HRNet", backbone="HRNet-W48", input_size="384x288"),
     dict(clean="76.3", mPC="54.2", rPC="71.1", gaussian_noise="52.8", brightness="72.3",
          pixelate="59.2")),
    ("coco-c", dict(table="1", model="PifPaf", backbone="ShuffleNet V2", input_size="641x641"),
     dict(clean="60.7", mPC="32.9", rPC="54.2", zoom_blur="8.8", fog="47.6", boxes="none")),
    ("coco-c", dict(table="1", model="HrHRNet", backbone="HrHRNet-W32", input_size="640x640"),
     dict(clean="68.5", mPC="39.6", rPC="57.8", motion_blur="33.8", jpeg_compression="33.2")),
    ("mpii-c", dict(table="1", backbone="ResNet-152"),
     dict(clean="89.6", mPC="79.6", rPC="88.8", gaussian_noise="74.1", contrast="71.4",
          metric="PCKh", boxes="gt", input_size="256x256")),
    ("mpii-c", dict(table="1", backbone="HRNet-W32"),
     dict(clean="90.3", mPC="80.1", rPC="88.7", zoom_blur="56.0", elastic_transform="89.5")),
    ("ochuman-c", dict(table="1", backbone="HrHRNet-W48", input_size="640x640"),
     dict(clean="40.9", mPC="35.4", rPC="86.4", zoom_blur="21.1", jpeg_compression="32.6")),
    ("ochuman-c", dict(table="1", backbone="ResNet-101"),
     dict(clean="39.6", mPC="34.9", rPC="88.1", snow="31.4", model="PifPaf")),
    ("coco-c", dict(table="2", method="AdvMix", backbone="HRNet-W48"),
     dict(clean="75.4", mPC="57.1", rPC="75.7", input_size="256x192", boxes=DET)),
    ("coco-c", dict(table="2", method="AdvMix", backbone="ResNet-152"),
     dict(clean="72.3", mPC="53.2", rPC="73.6", model="SBL")),
    ("coco-c", dict(table="2", method="AdvMix", backbone="HrHRNet-W32"),
     dict(clean="68.3", mPC="45.4", rPC="66.5", boxes="none", input_size="512x512")),
    ("mpii-c", dict(table="3", method="AdvMix", backbone="HRNet-W32"),
     dict(clean="90.5", mPC="83.9", rPC="92.7")),
    ("mpii-c", dict(table="3", method="AdvMix", backbone="ResNet-50"),
     dict(clean="88.9", mPC="82.0", rPC="92.3")),
    ("coco-c", dict(table="5", method="FPD†"), dict(clean="76.6", mPC="53.4", rPC="69.7",
                                                    boxes="gt")),
    ("coco-c", dict(table="5", method="Stylized Only"),
     dict(clean="67.5", mPC="46.7", rPC="69.1")),
    ("coco-c", dict(table="5", method="Stylized + AdvMix"),
     dict(clean="76.5", mPC="56.5", rPC="73.8")),
    ("coco-c", dict(table="6", method="AdvMix-Image"), dict(clean="77.5", mPC="55.1",
                                                            rPC="71.2")),
    ("coco-c", dict(table="6", method="DirichletMix"), dict(clean="76.5", mPC="54.4",
                                                            rPC="71.1")),
    ("coco-c", dict(table="8", method="AdvMix", input_size="128x96"),
     dict(clean="66.3", mPC="48.9", rPC="73.8", backbone="HRNet-W32", boxes=DET)),
    ("coco-c", dict(table="8", method="AdvMix", input_size="384x288"),
     dict(clean="76.2", mPC="56.8", rPC="74.5")),
]


@pytest.mark.parametrize("stem,key,expected", HAND_COPIED,
                         ids=[f"{s}-T{k['table']}-{i}" for i, (s, k, _) in
                              enumerate(HAND_COPIED)])
def test_hand_copied_numbers(stem, key, expected):
    row = find(stem, **key)
    for col, value in expected.items():
        assert row[col] == value, f"{stem} {key}: {col}={row[col]!r}, paper {value!r}"
    assert row["source"] == "reported" and "AdvMix" in row["paper"]


def test_row_counts_per_table():
    assert Counter(r["table"] for r in rows("coco-c")) == {"1": 19, "2": 12, "5": 9, "6": 5,
                                                           "8": 6}
    assert Counter(r["table"] for r in rows("mpii-c")) == {"1": 4, "3": 6}
    assert Counter(r["table"] for r in rows("ochuman-c")) == {"1": 7}
    assert rows("synthpose-c") == [] or all(r["source"] == "measured"
                                            for r in rows("synthpose-c"))


def test_committed_files_validate():
    assert validate([LB]) == []


@pytest.mark.parametrize("stem", ["coco-c", "mpii-c", "ochuman-c"])
def test_rpc_is_mpc_over_clean_within_rounding(stem):
    for r in rows(stem):
        assert ratio_consistent(r["rPC"], r["mPC"], r["clean"]), r
        exact = 100 * float(r["mPC"]) / float(r["clean"])
        assert abs(exact - float(r["rPC"])) < 0.2, r
        parts = [r[c] for c in BENCHMARK_CORRUPTIONS]
        if all(parts):
            assert mean_consistent(r["mPC"], parts), r
            assert abs(sum(map(float, parts)) / 15 - float(r["mPC"])) <= 0.1, r


def test_rounding_check_catches_wrong_rpc():
    assert ratio_consistent("67.9", "47.8", "70.4")
    assert not ratio_consistent("68.3", "47.8", "70.4")
    assert ratio_consistent("67.90", "47.80", "70.40")
    assert not ratio_consistent("67.96", "47.80", "70.40")


# ---------------------------------------------------------------- the paper text itself

def paper_path() -> Path | None:
    for p in PAPER_CANDIDATES:
        if p.is_file():
            return p
    return None


def parse_paper(text: str) -> list[tuple[int, str | None, dict[str, str]]]:
    """(table number, Table 1 sub-heading, cells) for every row of every table; blank cells
    continue the value above (Table 1 prints Method/Backbone once per group)."""
    lines = text.splitlines()
    out = []
    table = None
    sub = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"Table (\d+)\.", line)
        if m:
            table = int(m.group(1))
        if line.startswith("Results of"):
            sub = line.strip()
        if line.startswith("Method\t"):
            header = [h.strip() for h in line.split("\t")]
            carry = [""] * len(header)
            i += 1
            while i < len(lines) and lines[i].strip():
                cells = [c.strip() for c in lines[i].split("\t")]
                cells += [""] * (len(header) - len(cells))
                cells = [c or carry[j] for j, c in enumerate(cells)]
                carry = cells
                out.append((table, sub if table == 1 else None, dict(zip(header, cells,
                                                                          strict=False))))
                i += 1
            continue
        i += 1
    return out


def expected_rows(parsed) -> dict[str, list[dict[str, str]]]:
    """The leaderboard cells each paper row must produce, per file."""
    out: dict[str, list[dict[str, str]]] = {"coco-c": [], "mpii-c": [], "ochuman-c": []}

    def clean_name(s: str) -> str:
        return re.sub(r"\s*\[[\d,\s]+\]", "", re.sub(r"\s*\[†\]", "†", s)).strip()

    for table, sub, r in parsed:
        if table not in (1, 2, 3, 5, 6, 8):
            continue
        cells = {"table": str(table), "clean": r.get("AP*") or r["PCKh*"], "mPC": r["mPC"],
                 "rPC": r["rPC"], "metric": "AP" if "AP*" in r else "PCKh"}
        if table == 1:
            stem = ("mpii-c" if "MPII-C" in sub else "ochuman-c" if "OCHuman-C" in sub
                    else "coco-c")
            cells.update(model=clean_name(r["Method"]), method="Standard",
                         boxes=("none" if "bottom-up" in sub else "gt" if stem == "mpii-c"
                                else DET))
            for head, col in PAPER_CORRUPTION_HEADERS.items():
                cells[col] = r[head]
        else:
            stem = "mpii-c" if table == 3 else "coco-c"
            cells["method"] = clean_name(r["Method"])
        if table in (5, 6):
            cells.update(backbone="HRNet-W32", input_size="256x192", boxes="gt",
                         model="HRNet")
        else:
            cells["backbone"] = re.sub(r"^Resnet", "ResNet", r["Backbone"])
            cells["input_size"] = re.sub(r"\s*×\s*", "x", r["Input size"])
        if table in (2, 3, 8):
            cells["model"] = {"res": "SBL", "hrn": "HRNet", "hrh": "HrHRNet"}[
                cells["backbone"][:3].lower()]
            cells["boxes"] = ("gt" if table == 3 else "none" if cells["model"] == "HrHRNet"
                              else DET)
        out[stem].append(cells)
    return out


@pytest.fixture(scope="module")
def paper_rows():
    p = paper_path()
    if p is None:
        pytest.skip("AdvMix paper text not found beside the clone (../shared/papers/)")
    return expected_rows(parse_paper(p.read_text(encoding="utf-8")))


def test_paper_has_the_expected_tables(paper_rows):
    assert {k: len(v) for k, v in paper_rows.items()} == {"coco-c": 51, "mpii-c": 10,
                                                          "ochuman-c": 7}


@pytest.mark.parametrize("stem", ["coco-c", "mpii-c", "ochuman-c"])
def test_every_reported_row_matches_the_paper(paper_rows, stem):
    csv_rows = [r for r in rows(stem) if r["source"] == "reported"]
    assert len(csv_rows) == len(paper_rows[stem])
    unmatched = list(csv_rows)
    for exp in paper_rows[stem]:
        key = ("table", "model", "method", "backbone", "input_size", "boxes")
        hits = [r for r in unmatched if all(r[k] == exp[k] for k in key)]
        assert len(hits) == 1, f"{stem}: paper row {exp} matched {len(hits)} CSV rows"
        row = hits[0]
        unmatched.remove(row)
        for col, value in exp.items():
            assert row[col] == value, f"{stem} table {exp['table']} {exp['method']} " \
                f"{exp['backbone']} {exp['input_size']}: {col}={row[col]!r}, paper {value!r}"
        if exp["table"] != "1":
            assert all(row[c] == "" for c in BENCHMARK_CORRUPTIONS), \
                f"table {exp['table']} prints no per-corruption numbers: {row}"
        assert row["protocol"] == "advmix" and row["date"] == "2021-05"
    assert unmatched == []
