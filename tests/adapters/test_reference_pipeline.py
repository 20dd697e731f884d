"""Scored checkpoints reproduce the HRNet reference test pipeline (issue 15): random-weight
SimpleBaseline-R50 and HRNet-W32 networks saved as official-format checkpoints
(`module.`-prefixed state dicts, as the reference's training writes them), loaded through
`load_adapter`, run on real-size images (SynthPose images resized to 640x480 with their
annotations) with GT boxes and detected boxes. Every keypoint must equal the independent
oracle in `_hrnet_reference.py` to 1e-3 px, and every crop must be pixel-identical.

The network runs once per distinct input: both pipelines call it through `_Memo`, which
returns the stored output when a call's input tensor has the same shape, strides and bytes as
an earlier one. Every oracle call must be such a hit, which proves the network inputs
(normalisation, memory layout, mirrored batch, batch composition) equal the reference's."""
from __future__ import annotations

from dataclasses import replace

import _hrnet_reference as ref
import cv2
import numpy as np
import pytest
import torch

from robustpose_bench.adapters.loading import load_adapter
from robustpose_bench.datasets.coco import load_coco
from robustpose_bench.datasets.detections import load_detections
from robustpose_bench.datasets.meta import COCO
from robustpose_bench.evaluation.boxes import gt_boxes
from robustpose_bench.models import create_model
from robustpose_bench.models.keymaps import to_official

REAL_SIZE = (640, 480)
INPUT_SIZE = (192, 256)
# SynthPose val (seed 0) image 11: three persons, all touching the image border.
IMAGE_IDS = (11,)
# The two best detections of the file plus a box over the top-left corner (crop partly
# outside the image). Each box costs two network calls per pipeline: keep them few.
NUM_FILE_DETECTIONS = 2
EXTRA_DETECTIONS = np.array([[-20.5, -10.25, 100.0, 200.0]])


def _randomise_batchnorm(model: torch.nn.Module, seed: int) -> None:
    """Give every BatchNorm non-trivial statistics and affine parameters, like a trained
    network (the zoo initialises them to the identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) * 0.3 + 0.2)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)


class _Memo(torch.nn.Module):
    """Runs `net` once per distinct input (shape, strides, bytes); counts calls and hits."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net
        self.cache: dict[tuple, torch.Tensor] = {}
        self.calls = self.hits = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        key = (tuple(x.shape), x.stride(), x.detach().cpu().numpy().tobytes())
        self.calls += 1
        if key in self.cache:
            self.hits += 1
        else:
            self.cache[key] = self.net(x)
        return self.cache[key].clone()


@pytest.fixture(scope="module")
def scenes(synthpose_val):
    """(image, sample, detected boxes) at 640x480 for IMAGE_IDS."""
    ds = load_coco(synthpose_val["ann_file"], synthpose_val["image_root"])
    dets = load_detections(synthpose_val["detections"], [s.image_id for s in ds.samples])
    out = []
    for sample in ds.samples:
        if sample.image_id not in IMAGE_IDS:
            continue
        image = cv2.cvtColor(cv2.imread(str(ds.image_path(sample))), cv2.COLOR_BGR2RGB)
        sx, sy = REAL_SIZE[0] / sample.width, REAL_SIZE[1] / sample.height
        big = cv2.resize(image, REAL_SIZE, interpolation=cv2.INTER_LINEAR)
        k = np.array([sx, sy, 1.0])
        persons = [replace(p, bbox=p.bbox * [sx, sy, sx, sy], keypoints=p.keypoints * k,
                           area=p.area * sx * sy) for p in sample.persons]
        scaled = replace(sample, width=REAL_SIZE[0], height=REAL_SIZE[1], persons=persons)
        boxes, scores = dets[sample.image_id]
        det = boxes[np.argsort(-scores)[:NUM_FILE_DETECTIONS]] * [sx, sy, sx, sy]
        out.append((big, scaled, np.concatenate([det, EXTRA_DETECTIONS])))
    assert len(out) == len(IMAGE_IDS)
    return out


@pytest.fixture(scope="module", params=["sbl_r50", "hrnet_w32"])
def official_adapter(request, tmp_path_factory):
    name = request.param
    torch.manual_seed(15)
    model = create_model(name)
    _randomise_batchnorm(model, 15)
    path = tmp_path_factory.mktemp("official") / f"pose_{name}_256x192.pth"
    torch.save(to_official(model.state_dict()), path)
    adapter = load_adapter(f"zoo:{name}", {"checkpoint": str(path)}, meta=COCO, device="cpu")
    assert adapter.inference_protocol == "hrnet" and adapter.input_size == INPUT_SIZE
    adapter.model = _Memo(adapter.model)
    return adapter


def _reference_gt_boxes(sample) -> list:
    boxes = []
    for p in sample.persons:
        if p.iscrowd or p.keypoints.max() == 0:  # `max(obj["keypoints"]) == 0`
            continue
        box = ref.clean_bbox(list(p.bbox), sample.width, sample.height, p.area)
        if box is not None:
            boxes.append(box)
    return boxes


@pytest.mark.parametrize("box_kind", ["gt", "detected"])
def test_keypoints_reproduce_the_reference_pipeline(official_adapter, scenes, box_kind):
    adapter = official_adapter
    worst = 0.0
    for image, sample, det in scenes:
        if box_kind == "gt":
            boxes = gt_boxes(sample).boxes
            ref_boxes = _reference_gt_boxes(sample)
            np.testing.assert_array_equal(boxes, np.array(ref_boxes, dtype=np.float64))
        else:
            boxes, ref_boxes = det, [list(b) for b in det]
        cs = [ref.xywh2cs(*b, INPUT_SIZE[0] / INPUT_SIZE[1]) for b in ref_boxes]
        centers, scales = [c for c, _ in cs], [s for _, s in cs]
        batch = adapter.make_crops(image, boxes)
        kp = adapter.predict_crops(batch)
        memo = adapter.model
        calls, hits = memo.calls, memo.hits
        kp_ref, maxv_ref, crops_ref = ref.predict(memo, image, centers, scales, INPUT_SIZE,
                                                  COCO.flip_pairs)
        assert memo.calls - calls == 2 and memo.hits - hits == 2  # bit-identical inputs
        np.testing.assert_array_equal(batch.crops, np.stack(crops_ref))
        np.testing.assert_array_equal(batch.centers, np.stack(centers))
        np.testing.assert_array_equal(batch.scales, np.stack(scales))
        err = np.abs(kp[..., :2] - kp_ref)
        worst = max(worst, float(err.max()))
        assert err.max() < 1e-3, (sample.image_id, np.unravel_index(err.argmax(), err.shape))
        np.testing.assert_allclose(kp[..., 2], maxv_ref, rtol=0, atol=1e-6)
    assert worst < 1e-3
