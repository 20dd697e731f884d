"""The named inference protocols pin the reference box conventions and the float32 crop
geometry (issue 15), with values worked out by hand from the reference formulas:
HRNet `clean_bbox` (x2 = min(W-1, x1 + max(0, w-1))), MMPose 1.x corner clipping, `_xywh2cs`
in float32 and `get_affine_transform` on float32 point pairs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from robustpose_bench.adapters.topdown import HeatmapTopDownAdapter, make_crops
from robustpose_bench.datasets.meta import COCO
from robustpose_bench.datasets.types import Dataset, Person, Sample
from robustpose_bench.evaluation.boxes import gt_boxes
from robustpose_bench.geometry import (
    affine_points,
    box_to_center_scale,
    clean_bbox,
    clip_bbox_xyxy,
    get_affine_transform,
)
from robustpose_bench.inference_protocol import (
    DEFAULT_INFERENCE_PROTOCOL,
    INFERENCE_PROTOCOLS,
    InferenceProtocol,
    get_inference_protocol,
    inference_protocol_names,
    register_inference_protocol,
)

W, H = 640, 480
BORDER = [-3.5, 10.0, 50.0, 480.0]      # left of the image and down to its last row
RIGHT = [620.25, 0.0, 30.0, 10.0]       # past the right edge
THIN = [100.0, 50.0, 0.6, 30.0]         # under 1 px wide
ODD = [10.0, 20.0, 33.0, 45.0]          # odd-sized
OUTSIDE = [700.0, 10.0, 20.0, 20.0]     # entirely right of the image


def _box(rule, box, area=None, size=(W, H)):
    return rule(np.array(box), size[0], size[1], area)


def test_hrnet_clean_bbox_by_hand():
    # x1 = max(0, -3.5) = 0, x2 = min(639, 0 + 49) = 49; y2 = min(479, 10 + 479) = 479.
    np.testing.assert_array_equal(_box(clean_bbox, BORDER), [0, 10, 49, 469])
    # x2 = min(639, 620.25 + 29) = 639 -> w = 18.75; h = 10 - 1.
    np.testing.assert_array_equal(_box(clean_bbox, RIGHT), [620.25, 0, 18.75, 9])
    # w - 1 < 0 -> x2 = x1: a 0-wide box, still kept (the raw area is > 0).
    np.testing.assert_array_equal(_box(clean_bbox, THIN), [100, 50, 0, 29])
    # 1 px smaller than the raw box, so its centre moves 0.5 px up-left: (26, 42), not (26.5, 42.5).
    np.testing.assert_array_equal(_box(clean_bbox, ODD), [10, 20, 32, 44])
    assert _box(clean_bbox, OUTSIDE) is None              # x2 = 639 < x1 = 700
    assert _box(clean_bbox, ODD, area=0.0) is None        # the annotation's area decides
    assert _box(clean_bbox, [5.0, 5.0, 0.0, 0.0]) is None
    # Unknown image size (0): no clipping to the image, the -1 still applies.
    np.testing.assert_array_equal(_box(clean_bbox, BORDER, size=(0, 0)), [0, 10, 49, 479])


def test_mmpose_corner_clipping_by_hand():
    # x2 = clip(-3.5 + 50, 0, 639) = 46.5; y2 = clip(490, 0, 479) = 479.
    np.testing.assert_array_equal(_box(clip_bbox_xyxy, BORDER), [0, 10, 46.5, 469])
    np.testing.assert_array_equal(_box(clip_bbox_xyxy, RIGHT), [620.25, 0, 18.75, 10])
    # float32 corners: 100.6 is stored as 100.59999847..., so w = 0.59999847.
    thin = _box(clip_bbox_xyxy, THIN)
    assert thin[2] == np.float32(100.6) - np.float32(100.0) and abs(thin[2] - 0.59999847) < 1e-8
    np.testing.assert_array_equal(_box(clip_bbox_xyxy, ODD), ODD)
    assert _box(clip_bbox_xyxy, OUTSIDE) is None          # both corners clip to 639
    np.testing.assert_array_equal(_box(clip_bbox_xyxy, ODD, area=0.0), ODD)  # area unused


def test_float32_center_scale_is_the_reference_xywh2cs():
    # Cleaned ODD box (32 x 44): 32 < 0.75 * 44 -> w = 33; scale = float32([33, 44] / 200),
    # then x1.25 in float32: float32(0.165) * 1.25 = 0.20625001, one ulp above 0.20625.
    c, s = box_to_center_scale(np.array([10.0, 20.0, 32.0, 44.0]), 0.75, dtype=np.float32)
    assert c.dtype == np.float32 and s.dtype == np.float32
    np.testing.assert_array_equal(c, [26.0, 42.0])
    assert s[0] == np.float32(0.20625001) and s[0] != np.float32(0.20625)
    assert s[1] == np.float32(0.275)
    # The thin box after cleaning (0 x 29): w = 29 * 0.75 = 21.75.
    c, s = box_to_center_scale(np.array([100.0, 50.0, 0.0, 29.0]), 0.75, dtype=np.float32)
    np.testing.assert_array_equal(c, [100.0, 64.5])
    assert s[0] == np.float32(0.1359375) and s[1] == np.float32(0.18124999)
    # float64 (the default) keeps every step in float64.
    _, s64 = box_to_center_scale(np.array([10.0, 20.0, 32.0, 44.0]), 0.75)
    assert s64.dtype == np.float64 and abs(s64[0] - 0.20625) < 1e-15


def test_float32_crop_matrix_by_hand():
    box = np.array([339.94, 228.28, 10.73, 14.43])
    c, s = box_to_center_scale(box, 0.75, dtype=np.float32)
    assert c[0] == np.float32(345.305) and c[1] == np.float32(235.495)
    # scale_x * 200 in float32 = 13.528125; the second source point is the centre moved up by
    # half of it, stored as float32: 235.495 - 6.7640625 -> 228.73093.
    assert s[0] * np.float32(200) == np.float32(13.528125)
    src1_y = np.float32(228.73093)
    k = 96.0 / (float(c[1]) - float(src1_y))
    expected = np.array([[k, 0.0, 96.0 - k * float(c[0])], [0.0, k, 128.0 - k * float(c[1])]])
    m32 = get_affine_transform(c, s, 0.0, (192, 256), dtype=np.float32)
    np.testing.assert_allclose(m32, expected, rtol=0, atol=1e-9)
    c64, s64 = box_to_center_scale(box, 0.75)
    m64 = get_affine_transform(c64, s64, 0.0, (192, 256))
    assert np.abs(m64 - expected).max() > 1e-3  # float64 centre/scale: another crop
    corners = np.array([[339.94, 228.28], [350.67, 242.71]])
    shift = np.abs(affine_points(corners, m32) - affine_points(corners, m64)).max()
    assert 1e-4 < shift < 1e-3  # crop px: enough to flip near-tie argmaxes
    # The adapter's crops use exactly this matrix under the default protocol.
    image = np.zeros((480, 640, 3), np.uint8)
    batch = make_crops(image, box[None], (192, 256))
    np.testing.assert_array_equal(batch.matrices[0], m32)
    assert batch.centers.dtype == np.float32
    inv = get_affine_transform(c, s, 0.0, (48, 64), inv=True, dtype=np.float32)
    np.testing.assert_allclose(affine_points([24.0, 32.0], inv), c, atol=1e-4)


def test_registry_names_and_errors():
    assert DEFAULT_INFERENCE_PROTOCOL == "hrnet"
    assert inference_protocol_names()[:2] == ("hrnet", "mmpose")
    assert get_inference_protocol().name == "hrnet"
    assert get_inference_protocol("mmpose").gt_box is clip_bbox_xyxy
    with pytest.raises(ValueError, match=r"unknown inference protocol 'mmpose0'; choose one of "
                                         r"hrnet, mmpose"):
        get_inference_protocol("mmpose0")
    with pytest.raises(ValueError, match="unknown inference protocol 3"):
        get_inference_protocol(3)
    with pytest.raises(ValueError, match="already registered"):
        register_inference_protocol(get_inference_protocol("hrnet"))
    with pytest.raises(ValueError, match="float32 or float64"):
        InferenceProtocol("half", clean_bbox, np.float16, "")
    with pytest.raises(ValueError, match="unknown inference protocol 'hrnet2'"):
        HeatmapTopDownAdapter(_Zero(), flip_test=False, device="cpu", inference_protocol="hrnet2")
    adapter = HeatmapTopDownAdapter(_Zero(), flip_test=False, device="cpu",
                                    inference_protocol="mmpose")
    assert adapter.inference_protocol == "mmpose"


class _Zero(torch.nn.Module):
    num_keypoints = 17

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0], 17, x.shape[2] // 4, x.shape[3] // 4)


def _person(bbox, kp=5, crowd=False, center=None, area=None):
    bbox = np.asarray(bbox, dtype=np.float64)
    k = np.zeros((17, 3))
    k[:kp] = [bbox[0] + 1, bbox[1] + 1, 2]
    return Person(bbox=bbox, keypoints=k, area=bbox[2] * bbox[3] if area is None else area,
                  iscrowd=crowd, center=center, scale=None if center is None else 1.0)


def test_gt_boxes_follow_the_protocol():
    mpii_box = [-30.0, -40.0, 200.0, 200.0]  # MPII-style crop box: never cleaned
    sample = Sample(1, "a.jpg", W, H, [
        _person(BORDER), _person(ODD, crowd=True), _person(ODD, kp=0), _person(THIN),
        _person(OUTSIDE), _person(mpii_box, center=np.array([70.0, 60.0])), _person(ODD)])
    hr = gt_boxes(sample)
    assert hr.gt_index.tolist() == [0, 3, 5, 6]
    np.testing.assert_array_equal(hr.boxes, [[0, 10, 49, 469], [100, 50, 0, 29], mpii_box,
                                             [10, 20, 32, 44]])
    np.testing.assert_array_equal(hr.scores, 1.0)
    mm = gt_boxes(sample, "mmpose")
    assert mm.gt_index.tolist() == [0, 3, 5, 6]
    np.testing.assert_array_equal(mm.boxes[[0, 2, 3]], [[0, 10, 46.5, 469], mpii_box, ODD])
    with pytest.raises(ValueError, match="unknown inference protocol 'x'"):
        gt_boxes(sample, "x")


def test_a_third_protocol_is_one_registration():
    def raw(bbox, width, height, area):
        return np.asarray(bbox, np.float64) if bbox[2] > 0 and bbox[3] > 0 else None

    proto = register_inference_protocol(InferenceProtocol("raw64", raw, np.float64, "test"))
    try:
        sample = Sample(1, "a.jpg", W, H, [_person(ODD)])
        np.testing.assert_array_equal(gt_boxes(sample, "raw64").boxes, [ODD])
        batch = make_crops(np.zeros((H, W, 3), np.uint8), np.array([ODD]), (192, 256),
                           inference_protocol="raw64")
        assert batch.scales.dtype == np.float64
        np.testing.assert_array_equal(batch.centers, [[26.5, 42.5]])
        assert proto in INFERENCE_PROTOCOLS.values()
    finally:
        INFERENCE_PROTOCOLS.pop("raw64")


def test_training_records_use_the_shared_clean_bbox():
    from robustpose_bench.train.data import TopDownTrainDataset

    mpii_box = [-30.0, -40.0, 200.0, 200.0]
    sample = Sample(1, "a.jpg", W, H, [_person(BORDER), _person(OUTSIDE), _person(ODD, area=0.0),
                                      _person(mpii_box, center=np.array([70.0, 60.0]))])
    ds = TopDownTrainDataset(Dataset(COCO, [sample]), (192, 256), (48, 64))
    assert [r[1] for r in ds.records] == [0, 3]
    np.testing.assert_array_equal(ds.records[0][2], [0, 10, 49, 469])
    np.testing.assert_array_equal(ds.records[1][2], mpii_box)


@pytest.mark.parametrize("rule", [clean_bbox, clip_bbox_xyxy])
@pytest.mark.parametrize("bad", [[1, 2, 3], [1, 2, float("nan"), 4], "abcd", None])
def test_bad_boxes_get_a_one_line_error(rule, bad):
    with pytest.raises(ValueError, match="bbox must be 4 finite numbers x, y, w, h"):
        rule(bad, W, H, None)
