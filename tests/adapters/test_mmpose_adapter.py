"""MMPose back end: a clear error without mmpose; a real run is skipped when it is absent."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from robustpose_bench.adapters.base import AdapterError

HAS_MMPOSE = importlib.util.find_spec("mmpose") is not None


@pytest.mark.skipif(HAS_MMPOSE, reason="mmpose is installed")
def test_clear_error_without_mmpose(tmp_path):
    from robustpose_bench.adapters.mmpose import MMPoseTopDownAdapter

    with pytest.raises(AdapterError, match=r"needs mmpose >= 1\.0.*robustpose-bench\[mmpose\]"):
        MMPoseTopDownAdapter(tmp_path / "cfg.py", tmp_path / "w.pth")


@pytest.mark.skipif(not HAS_MMPOSE, reason="mmpose is not installed")
def test_mmpose_runs_our_weights_under_mmpose_names(tmp_path):
    from robustpose_bench.adapters.mmpose import MMPoseTopDownAdapter
    from robustpose_bench.models import create_model, keymaps

    root = Path(importlib.util.find_spec("mmpose").submodule_search_locations[0])
    configs = list(root.rglob("td-hm_res50_8xb64-210e_coco-256x192.py"))
    if not configs:
        pytest.skip("this mmpose installation ships no configs")
    model = create_model("sbl_r50")
    torch.save({"state_dict": keymaps.to_mmpose(model.state_dict(), 1)}, tmp_path / "w.pth")
    adapter = MMPoseTopDownAdapter(configs[0], tmp_path / "w.pth", device="cpu")
    out = adapter.predict(np.zeros((200, 160, 3), np.uint8), np.array([[10, 10, 80, 150]]))
    assert out.shape == (1, 17, 3) and np.isfinite(out).all()


@pytest.mark.skipif(HAS_MMPOSE, reason="mmpose is installed")
def test_mmpose_prefix_without_mmpose_is_one_line():
    from robustpose_bench.adapters.loading import load_adapter

    with pytest.raises(AdapterError) as err:
        load_adapter("mmpose:td-hm_hrnet-w32_8xb64-210e_coco-256x192.py", {"checkpoint": "w.pth"})
    assert str(err.value).startswith("model spec 'mmpose:td-hm_hrnet-w32_8xb64-210e_coco-256x192"
                                     ".py' needs mmpose: pip install 'robustpose-bench[mmpose]'")
