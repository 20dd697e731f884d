"""Loading adapters from CLI specs: user files and modules (with typed --model-arg values),
zoo names with checkpoints, checkpoint files with their JSON sidecar."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
import torch

from robustpose_bench.adapters.args import convert_value, parse_input_size, parse_model_args
from robustpose_bench.adapters.base import AdapterError
from robustpose_bench.adapters.loading import load_adapter
from robustpose_bench.adapters.topdown import HeatmapTopDownAdapter
from robustpose_bench.datasets.meta import COCO, MPII, SYNTHPOSE
from robustpose_bench.models import create_model
from robustpose_bench.models.checkpoint import save_checkpoint

USER_ADAPTER = '''
from __future__ import annotations

import numpy as np


class CenterAdapter:
    """Every keypoint at the box centre (a user-written adapter)."""

    num_keypoints = 17

    def __init__(self, scale: float = 1.0, k: int = 17, flip: bool = False,
                 tags: list | None = None, meta=None, note="x"):
        self.scale, self.k, self.flip, self.tags, self.meta, self.note = (
            scale, k, flip, tags, meta, note)
        self.name = "center"

    def predict(self, image, boxes):
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        centre = boxes[:, :2] + boxes[:, 2:] / 2
        out = np.ones((len(boxes), self.k, 3))
        out[..., :2] = centre[:, None, :] * self.scale
        return out


class NeedsPath:
    def __init__(self, weights: str):
        self.weights = weights

    def predict(self, image, boxes):
        return np.zeros((len(boxes), 17, 3))
'''


@pytest.fixture()
def user_file(tmp_path):
    path = tmp_path / "my_adapter.py"
    path.write_text(USER_ADAPTER)
    return path


def test_file_spec_with_typed_args(user_file):
    args = parse_model_args(["scale=2.5", "k=17", "flip=yes", 'tags=["a", 1]', "note=[1, 2]"])
    adapter = load_adapter(f"{user_file}:CenterAdapter", args, meta=COCO)
    assert adapter.scale == 2.5 and adapter.k == 17 and adapter.flip is True
    assert adapter.tags == ["a", 1] and adapter.note == [1, 2]  # unannotated: literal_eval
    assert adapter.meta is COCO  # injected because the constructor asks for `meta`
    out = adapter.predict(np.zeros((10, 10, 3), np.uint8), np.array([[0, 0, 4, 2]]))
    np.testing.assert_allclose(out[0, 0, :2], [5.0, 2.5])
    same = load_adapter(f"{user_file}:CenterAdapter", {"tags": "none"})
    assert same.tags is None and same.meta is None


def test_file_spec_errors(user_file, tmp_path):
    with pytest.raises(AdapterError, match="unknown model argument 'sclae'.*scale, k, flip"):
        load_adapter(f"{user_file}:CenterAdapter", {"sclae": "2"})
    with pytest.raises(AdapterError, match=r"flip='maybe': expected a boolean"):
        load_adapter(f"{user_file}:CenterAdapter", {"flip": "maybe"})
    with pytest.raises(AdapterError, match=r"k='seventeen': expected int"):
        load_adapter(f"{user_file}:CenterAdapter", {"k": "seventeen"})
    with pytest.raises(AdapterError, match="has no 'Missing'.*CenterAdapter, NeedsPath"):
        load_adapter(f"{user_file}:Missing", {})
    with pytest.raises(AdapterError, match="missing required model argument.*weights"):
        load_adapter(f"{user_file}:NeedsPath", {})
    with pytest.raises(AdapterError, match="does not exist"):
        load_adapter(f"{tmp_path / 'nope.py'}:X", {})
    bad = tmp_path / "broken_adapter.py"
    bad.write_text("import not_a_module_anywhere\n")
    with pytest.raises(AdapterError, match="import failed: ModuleNotFoundError"):
        load_adapter(f"{bad}:X", {})
    with pytest.raises(AdapterError, match="predicts 17 keypoints but the data set has 16"):
        load_adapter(f"{user_file}:CenterAdapter", {}, meta=MPII)
    with pytest.raises(AdapterError, match="not understood"):
        load_adapter("just_a_word", {})
    with pytest.raises(AdapterError, match="expected key=value"):
        parse_model_args(["novalue"])
    with pytest.raises(AdapterError, match="--model-arg scale given twice"):
        parse_model_args(["scale=1", "scale=2"])


def test_module_spec(user_file, monkeypatch):
    monkeypatch.syspath_prepend(str(user_file.parent))
    adapter = load_adapter("my_adapter:CenterAdapter", {"scale": "3"})
    assert adapter.scale == 3.0
    with pytest.raises(AdapterError, match="cannot import module 'no_such_pkg.mod'"):
        load_adapter("no_such_pkg.mod:CenterAdapter", {})


def test_user_file_loads_in_a_fresh_interpreter(user_file):
    code = textwrap.dedent(f"""
        import numpy as np
        from robustpose_bench.adapters.args import parse_model_args
        from robustpose_bench.adapters.loading import load_adapter
        from robustpose_bench.datasets.meta import COCO
        a = load_adapter({str(user_file) + ':CenterAdapter'!r}, parse_model_args(['scale=2']),
                         meta=COCO)
        print(a.predict(np.zeros((8, 8, 3), np.uint8), np.array([[0, 0, 2, 2]]))[0, 0, 0])
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "2.0"


def test_convert_value_by_annotation():
    assert convert_value("3", int) == 3 and convert_value("3", float) == 3.0
    assert convert_value("off", bool) is False and convert_value("TRUE", bool) is True
    assert convert_value("none", Optional[int]) is None  # noqa: UP045 (typing.Union form)
    assert convert_value("4", int | None) == 4
    assert convert_value("[192, 256]", tuple[int, int]) == (192, 256)
    assert convert_value('{"a": 1}', dict) == {"a": 1}
    assert convert_value("w.pth", Path) == Path("w.pth")
    assert convert_value("1e-3", "float") == 1e-3  # postponed annotation string
    assert convert_value("hello", "str | None") == "hello"
    assert convert_value("0.5", object) == 0.5 and convert_value("a b", object) == "a b"
    assert parse_input_size("192x256") == (192, 256) == parse_input_size("[192, 256]")
    with pytest.raises(AdapterError, match="WIDTHxHEIGHT"):
        parse_input_size("big")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("hrnet_w16_small")
    folder = tmp_path_factory.mktemp("ckpt")
    path = save_checkpoint(model, folder / "best.safetensors",
                           {"method": "standard", "input_size": [64, 96],
                            "keypoint_names": list(SYNTHPOSE.keypoint_names),
                            "inference": {"flip_test": True, "decode": "dark"}})
    return model, path


def test_checkpoint_file_spec_uses_sidecar(trained):
    model, path = trained
    adapter = load_adapter(str(path), {}, meta=SYNTHPOSE, device="cpu")
    assert isinstance(adapter, HeatmapTopDownAdapter)
    assert adapter.input_size == (64, 96) and adapter.method == "standard"
    assert adapter.decode == "dark" and adapter.flip_test
    assert adapter.name == "hrnet_w16_small:best.safetensors"
    assert torch.equal(adapter.model.final_layer.weight, model.final_layer.weight)
    out = adapter.predict(np.zeros((50, 60, 3), np.uint8), np.array([[5, 5, 20, 30]]))
    assert out.shape == (1, 17, 3)


def test_zoo_spec(trained):
    _, path = trained
    adapter = load_adapter("zoo:hrnet_w16_small",
                           {"checkpoint": str(path), "input_size": "48x64", "flip_test": "false",
                            "batch_size": "4", "decode": "standard"}, meta=COCO, device="cpu")
    assert adapter.input_size == (48, 64) and not adapter.flip_test and adapter.batch_size == 4
    assert adapter.decode == "standard"
    bare = load_adapter("hrnet_w16_small", {}, meta=COCO, device="cpu")  # random weights
    assert bare.input_size == (96, 128)
    with pytest.raises(AdapterError, match="unknown model argument.*chekpoint"):
        load_adapter("zoo:hrnet_w16_small", {"chekpoint": str(path)}, meta=COCO)
    with pytest.raises(AdapterError, match="unknown model 'hrnet_w99'"):
        load_adapter("zoo:hrnet_w99", {}, meta=COCO)
    with pytest.raises(AdapterError, match="holds a hrnet_w16_small.*use --model zoo:hrnet_w16"):
        load_adapter("zoo:sbl_r50", {"checkpoint": str(path)}, meta=COCO)
    with pytest.raises(AdapterError, match="17 keypoints but the data set mpii has 16"):
        load_adapter(str(path), {}, meta=MPII)


def test_zoo_checkpoint_safety_through_load_adapter(tmp_path):
    model = create_model("sbl_r18_lite")
    torch.save({"state_dict": model.state_dict(), "cfg": np.load}, tmp_path / "x.pth")
    with pytest.raises(AdapterError, match="--trust-checkpoint"):
        load_adapter("zoo:sbl_r18_lite", {"checkpoint": str(tmp_path / "x.pth")}, meta=COCO)
    ok = load_adapter("zoo:sbl_r18_lite", {"checkpoint": str(tmp_path / "x.pth")}, meta=COCO,
                      trust_checkpoint=True, device="cpu")
    assert torch.equal(ok.model.final_layer.bias, model.final_layer.bias)
    torch.save(model.state_dict(), tmp_path / "plain.pth")
    with pytest.raises(AdapterError, match="no JSON sidecar names its zoo model"):
        load_adapter(str(tmp_path / "plain.pth"), {}, meta=COCO)
    assert load_adapter(str(tmp_path / "plain.pth"), {"model": "sbl_r18_lite"}, meta=COCO,
                        device="cpu").input_size == (96, 128)


def test_sidecar_keypoint_names_are_checked(tmp_path):
    model = create_model("sbl_r18_lite")
    names = list(COCO.keypoint_names)
    names[0] = "head_top"
    path = save_checkpoint(model, tmp_path / "odd.safetensors", {"keypoint_names": names})
    with pytest.raises(AdapterError, match="keypoint 0 is 'head_top'"):
        load_adapter(str(path), {}, meta=COCO)
    assert json.loads(path.with_suffix(".json").read_text())["keypoint_names"][0] == "head_top"


def test_inference_head_from_sidecar(tmp_path):
    model = create_model("sbl_r18_lite")
    path = save_checkpoint(model, tmp_path / "h.safetensors",
                           {"inference": {"head": "no_such_method"}})
    with pytest.raises(AdapterError, match="inference head 'no_such_method' is unknown"):
        load_adapter(str(path), {}, meta=COCO)
    stable = pytest.importorskip("robustpose_bench.methods.stable_heatmap")
    if not hasattr(stable, "wrap_for_inference"):
        pytest.skip("stable heatmap method has no inference head")
    path = save_checkpoint(model, tmp_path / "s.safetensors",
                           {"inference": {"head": "stable_heatmap", "rcc": True}})
    adapter = load_adapter(str(path), {}, meta=COCO, device="cpu")
    assert type(adapter.model).__name__ == "StableHeatmapHead"
    out = adapter.predict(np.zeros((60, 50, 3), np.uint8), np.array([[5, 5, 30, 40]]))
    assert out.shape == (1, 17, 3) and np.isfinite(out).all()
