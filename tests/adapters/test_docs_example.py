"""The example adapters of docs/adapters.md run as written (loaded from a file spec) and
agree with the built-in pipeline up to the example's coarser decoding."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robustpose_bench.adapters.loading import load_adapter
from robustpose_bench.adapters.topdown import HeatmapTopDownAdapter
from robustpose_bench.datasets.meta import COCO
from robustpose_bench.geometry import box_to_center_scale

DOC = Path(__file__).resolve().parents[2] / "docs" / "adapters.md"


class BrightSpot(nn.Module):
    """Heatmaps = 4x4-pooled brightness (one clear peak per bright blob), 17 scaled copies."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = F.avg_pool2d(x.mean(1, keepdim=True), 4)
        return g.repeat(1, 17, 1, 1) * torch.linspace(1.0, 2.0, 17).view(1, 17, 1, 1)


def _scene():
    ys, xs = np.mgrid[0:240, 0:320]
    image = np.zeros((240, 320), float)
    for x, y in ((60, 100), (205, 118)):
        image += 255 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 6.0 ** 2))
    image = np.stack([image.clip(0, 255).astype(np.uint8)] * 3, axis=-1)
    boxes = np.array([[20, 20, 90, 180], [150, 40, 120, 150]], float)
    return image, boxes


def test_docs_example_adapter(tmp_path):
    text = DOC.read_text()
    block = re.search(r"<!-- example-adapter.*?-->\s*```python\n(.*?)```", text, re.S).group(1)
    assert len(block.strip().splitlines()) <= 40
    (tmp_path / "my_adapter.py").write_text(block)
    net = BrightSpot().eval()
    program = torch.export.export(net, (torch.zeros(2, 3, 256, 192),),
                                  dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1)}})
    torch.export.save(program, str(tmp_path / "net.pt2"))
    adapter = load_adapter(f"{tmp_path / 'my_adapter.py'}:MyAdapter",
                           {"weights": str(tmp_path / "net.pt2")}, meta=COCO, device="cpu")
    image, boxes = _scene()
    out = adapter.predict(image, boxes)
    ref = HeatmapTopDownAdapter(net, (192, 256), COCO.flip_index(), device="cpu",
                                flip_test=False).predict(image, boxes)
    _, scale = box_to_center_scale(boxes, 0.75)
    cell = scale[:, 1] * 200 / 64  # image px per heatmap cell
    err = np.abs(out[..., :2] - ref[..., :2]).max(axis=(1, 2))
    assert (err <= 0.25 * cell + 1e-3).all(), (err, cell)  # only the quarter offset differs
    np.testing.assert_allclose(out[..., 2], ref[..., 2], rtol=1e-5)
    assert np.abs(out[0, 0, :2] - [60, 100]).max() < 3 and np.abs(out[1, 0, :2] - [205, 118]).max() < 3

    # The three-line subclass of the built-in pipeline from the same page.
    sub = re.search(r"```python\n(from robustpose_bench.adapters.topdown import .*?)```", text,
                    re.S).group(1)
    (tmp_path / "my_heatmap_adapter.py").write_text("import torch\n" + sub)
    piped = load_adapter(f"{tmp_path / 'my_heatmap_adapter.py'}:MyHeatmapAdapter",
                         {"weights": str(tmp_path / "net.pt2")}, meta=COCO, device="cpu")
    flipped = HeatmapTopDownAdapter(net, (192, 256), COCO.flip_index(), device="cpu")
    np.testing.assert_allclose(piped.predict(image, boxes), flipped.predict(image, boxes),
                               atol=1e-4)
