"""Keypoint-order mapping by name: known orders, spelling variants, whole-body subsets on a
COCO data set, clear errors listing what cannot be mapped."""
from __future__ import annotations

import numpy as np
import pytest

from robustpose_bench.adapters.base import AdapterError
from robustpose_bench.adapters.keypoint_order import (
    COCO_WHOLEBODY_KEYPOINTS,
    HALPE26_KEYPOINTS,
    KNOWN_ORDERS,
    KeypointMapping,
    canonical_name,
    flip_index_by_name,
    flip_pairs_by_name,
    model_to_dataset,
    resolve_order,
)
from robustpose_bench.datasets.meta import COCO, CROWDPOSE, MPII


def test_known_orders_sizes_and_spelling():
    assert {k: len(v) for k, v in KNOWN_ORDERS.items()} == {
        "coco": 17, "mpii": 16, "coco_wholebody": 133, "halpe26": 26, "crowdpose": 14}
    assert COCO_WHOLEBODY_KEYPOINTS[17:23] == ("left_big_toe", "left_small_toe", "left_heel",
                                                "right_big_toe", "right_small_toe", "right_heel")
    assert COCO_WHOLEBODY_KEYPOINTS[23] == "face-0" and COCO_WHOLEBODY_KEYPOINTS[90] == "face-67"
    assert COCO_WHOLEBODY_KEYPOINTS[91] == "left_hand_root"
    assert COCO_WHOLEBODY_KEYPOINTS[112] == "right_hand_root"
    assert HALPE26_KEYPOINTS[17:20] == ("head", "neck", "hip")
    for spelling in ("L_Shoulder", "LShoulder", "left-shoulder", "Left Shoulder", "leftShoulder"):
        assert canonical_name(spelling) == "left_shoulder"
    assert canonical_name("top_head") == "head"  # MMPose's CrowdPose spelling
    assert canonical_name("upper_neck") != canonical_name("neck")  # different points
    assert resolve_order("WholeBody") == COCO_WHOLEBODY_KEYPOINTS
    assert resolve_order("a, b ,c") == ("a", "b", "c")


@pytest.mark.parametrize("order", ["coco_wholebody", "halpe26"])
def test_coco_subset_of_bigger_models(order):
    names = KNOWN_ORDERS[order]
    mapping = KeypointMapping.build(names, COCO.keypoint_names)
    np.testing.assert_array_equal(mapping.index, np.arange(17))
    rng = np.random.default_rng(0)
    out = rng.normal(size=(3, len(names), 3))
    np.testing.assert_array_equal(mapping.apply(out), out[:, :17])


def test_reordering_by_name_moves_values():
    # A CrowdPose model (MMPose spelling `top_head`) on the CrowdPose data set, and the COCO
    # limbs of a CrowdPose-ordered model's output picked out for a 12-keypoint target.
    mm_names = list(CROWDPOSE.keypoint_names)
    mm_names[12] = "top_head"
    ident = KeypointMapping.build(mm_names, CROWDPOSE.keypoint_names)
    assert ident.is_identity
    limbs = [n for n in COCO.keypoint_names if n in CROWDPOSE.keypoint_names]
    mapping = KeypointMapping.build(MPII.keypoint_names, limbs)
    out = np.arange(16 * 3, dtype=float).reshape(1, 16, 3)
    mapped = mapping.apply(out)
    for t, name in enumerate(limbs):
        assert mapped[0, t, 0] == out[0, MPII.keypoint_names.index(name), 0]


def test_unmappable_names_are_listed():
    with pytest.raises(AdapterError) as err:
        KeypointMapping.build(MPII.keypoint_names, COCO.keypoint_names, "mpii model",
                              "the data set coco")
    msg = str(err.value)
    assert "'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear' (5 of 17)" in msg
    assert "\n" not in msg
    with pytest.raises(AdapterError, match="no model keypoint named 'head', 'neck'"):
        KeypointMapping.build(COCO.keypoint_names, CROWDPOSE.keypoint_names)
    with pytest.raises(AdapterError, match="not a known keypoint order"):
        resolve_order("coco18")
    with pytest.raises(AdapterError, match="given twice: left_eye"):
        resolve_order(["left_eye", "L_Eye"])
    with pytest.raises(AdapterError, match="returned 5 keypoints"):
        KeypointMapping.build(COCO.keypoint_names, COCO.keypoint_names).apply(np.zeros((1, 5, 3)))


def test_model_to_dataset_decisions():
    names, m = model_to_dataset(None, 17, COCO)  # counts agree: the data set's order
    assert names == COCO.keypoint_names and m.is_identity
    names, m = model_to_dataset(None, 133, COCO)  # one known order of that size
    assert names == COCO_WHOLEBODY_KEYPOINTS and m.index.tolist() == list(range(17))
    with pytest.raises(AdapterError, match="cannot be mapped"):
        model_to_dataset(None, 16, COCO, "mpii")
    with pytest.raises(AdapterError, match="predicts 17 keypoints but its keypoint order has 16"):
        model_to_dataset(None, 17, COCO, "mpii")
    with pytest.raises(AdapterError, match="pass --model-arg keypoint_order"):
        model_to_dataset(None, 21, COCO)
    assert model_to_dataset(None, 21, None) == (None, None)


def test_flip_pairs_by_name_in_model_order():
    assert flip_pairs_by_name(COCO.keypoint_names) == sorted(
        tuple(sorted(p)) for p in COCO.flip_pairs)
    np.testing.assert_array_equal(flip_index_by_name(MPII.keypoint_names), MPII.flip_index())
    wb = flip_index_by_name(COCO_WHOLEBODY_KEYPOINTS)
    assert wb[COCO_WHOLEBODY_KEYPOINTS.index("left_pinky_finger4")] == \
        COCO_WHOLEBODY_KEYPOINTS.index("right_pinky_finger4")
    assert wb[COCO_WHOLEBODY_KEYPOINTS.index("face-30")] == \
        COCO_WHOLEBODY_KEYPOINTS.index("face-30")
