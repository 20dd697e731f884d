"""The adapter families registry: spec dispatch, missing-extra errors, the listing of
`robustpose models --families`."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from robustpose_bench.adapters.base import AdapterError
from robustpose_bench.adapters.families import FAMILIES, family_rows, find_family
from robustpose_bench.adapters.loading import load_adapter
from robustpose_bench.cli.models import command as models_command
from robustpose_bench.datasets.meta import COCO


def test_dispatch_by_prefix_then_suffix():
    assert find_family("hf:usyd-community/vitpose-base-simple").name == "hf"
    assert find_family("ultralytics:yolo11n-pose.pt").name == "ultralytics"
    assert find_family("ultralytics:export/yolo11n-pose.onnx").name == "ultralytics"
    assert find_family("mmpose:cfg.py").name == "mmpose"
    assert find_family("models/rtmpose-m.ONNX").name == "onnx"
    assert find_family("zoo:hrnet_w32") is None and find_family("my.py:Adapter") is None
    assert find_family("hf:x").target("hf:x") == "x"


def test_missing_extra_is_one_clear_line(monkeypatch):
    fake = replace(next(f for f in FAMILIES if f.name == "hf"),
                   modules=("no_such_module_for_robustpose",))
    monkeypatch.setattr("robustpose_bench.adapters.families.FAMILIES", (fake,))
    with pytest.raises(AdapterError) as err:
        load_adapter("hf:some/model", {}, meta=COCO)
    assert str(err.value) == ("model spec 'hf:some/model' needs no_such_module_for_robustpose: "
                              "pip install 'robustpose-bench[hf]' (see docs/adapters.md)")
    with pytest.raises(AdapterError, match="nothing after 'hf:'.*hf:usyd-community"):
        load_adapter("hf:  ", {}, meta=COCO)


def test_models_lists_families():
    rows = family_rows()
    names = [r["name"] for r in rows]
    assert names[:3] == ["zoo", "checkpoint", "python"]
    assert {"hf", "ultralytics", "mmpose", "onnx"} <= set(names)
    res = CliRunner().invoke(models_command, ["--families", "--json"])
    assert res.exit_code == 0, res.output
    listed = {r["name"]: r for r in json.loads(res.output)}
    assert "robustpose-bench[ultralytics]" in listed["ultralytics"]["needs"]
    assert isinstance(listed["onnx"]["installed"], bool)
    text = CliRunner().invoke(models_command, ["--families"]).output
    assert "hf:usyd-community/vitpose-base-simple" in text and "installed" in text
