"""Part rectangles: minimum box plus the reference's special cases, for COCO, MPII and any
layout with declared parts."""
from __future__ import annotations

import numpy as np
import pytest

from robustpose_bench.datasets.meta import COCO, CROWDPOSE, MPII
from robustpose_bench.occlusion import Rect, part_rect, part_rect_for


def kps_from(points: dict[int, tuple[float, float]], k: int = 17, v: int = 2) -> np.ndarray:
    kp = np.zeros((k, 3))
    for i, (x, y) in points.items():
        kp[i] = [x, y, v]
    return kp


def box(rect: Rect | None) -> tuple | None:
    return None if rect is None else (rect.x1, rect.y1, rect.x2, rect.y2)


def approx(rect: Rect) -> tuple:
    return pytest.approx((rect.x1, rect.y1, rect.x2, rect.y2))


def test_default_min_rect_corpus():
    kp = kps_from({5: (10, 20), 6: (40, 22), 11: (14, 70), 12: (37, 68), 0: (25, 5)})
    assert box(part_rect_for(kp, "corpus", COCO)) == approx(Rect(10, 20, 40, 70))


def test_upper_body_reaches_the_hips():
    kp = kps_from({0: (25, 5), 5: (10, 20), 6: (40, 22), 9: (5, 50), 11: (14, 70), 12: (37, 68)})
    assert box(part_rect_for(kp, "upper_body", COCO)) == approx(Rect(5, 5, 40, 70))


def test_head_box_enlarged_1_2_about_centre():
    kp = kps_from({0: (50, 30), 1: (45, 25), 2: (55, 25), 3: (40, 28), 4: (60, 28)})
    # min box x 40..60, y 25..30 -> centre (50, 27.5), size 20 x 5 -> 24 x 6
    assert box(part_rect_for(kp, "head", COCO)) == approx(Rect(38, 24.5, 62, 30.5))
    # labelled-but-occluded keypoints count (v = 1), unlabelled ones do not
    kp[3, 2] = 0
    kp[4, 2] = 1
    assert box(part_rect_for(kp, "head", COCO)) == approx(Rect.from_center(52.5, 27.5, 18, 6))


def test_hip_two_joints_twice_the_distance_with_min_height():
    kp = kps_from({11: (60, 100), 12: (40, 100)})
    # d = (20, 0) -> d' = (20, 5): centre (50, 100), size 40 x 10
    assert box(part_rect_for(kp, "hip", COCO)) == approx(Rect(30, 95, 70, 105))


def test_limb_rules():
    full = kps_from({5: (100, 100), 7: (110, 140), 9: (130, 170)})
    assert box(part_rect_for(full, "left_arm", COCO)) == approx(Rect(100, 100, 130, 170))
    # wrist missing: centred on the elbow, 2 * d' from shoulder to elbow
    no_wrist = kps_from({5: (100, 100), 7: (110, 140)})
    # d = (10, 40) -> d' = (10, 40): size 20 x 80 around (110, 140)
    assert box(part_rect_for(no_wrist, "left_arm", COCO)) == approx(Rect(100, 100, 120, 180))
    # shoulder missing, vertical forearm: width floor 0.25 * 30 = 7.5 -> size 15 x 60
    no_shoulder = kps_from({7: (110, 140), 9: (110, 170)})
    assert box(part_rect_for(no_shoulder, "left_arm", COCO)) == approx(Rect(102.5, 110, 117.5, 170))
    # elbow missing: the two ends, centred on their midpoint, size d'
    no_elbow = kps_from({5: (100, 100), 9: (130, 170)})
    assert box(part_rect_for(no_elbow, "left_arm", COCO)) == approx(Rect(100, 100, 130, 170))
    # legs work the same way (hip, knee, ankle), right side too
    leg = kps_from({12: (50, 100), 14: (52, 140)})
    r = part_rect_for(leg, "right_leg", COCO)
    assert r.center == pytest.approx((52, 140)) and r.size == pytest.approx((20, 80))


def test_too_few_keypoints_gives_none():
    assert part_rect_for(kps_from({5: (1, 1)}), "left_arm", COCO) is None
    assert part_rect_for(kps_from({}), "corpus", COCO) is None
    assert part_rect_for(kps_from({11: (3, 3), 12: (9, 3)}, v=0), "hip", COCO) is None


def test_mpii_parts():
    # MPII head = upper_neck (8), head_top (9): centre midpoint, (2 dx', dy')
    kp = kps_from({8: (100, 100), 9: (104, 60)}, k=16)
    # d = (4, 40) -> d' = (10, 40): size 20 x 40 around (102, 80)
    assert box(part_rect_for(kp, "head", MPII)) == approx(Rect(92, 60, 112, 100))
    # MPII right arm is (wrist 10, elbow 11, shoulder 12): the middle joint is the elbow
    arm = kps_from({10: (10, 80), 11: (20, 50)}, k=16)
    r = part_rect_for(arm, "right_arm", MPII)
    assert r.center == pytest.approx((20, 50)) and r.size == pytest.approx((20, 60))
    hip = kps_from({2: (40, 100), 3: (60, 104)}, k=16)
    assert box(part_rect_for(hip, "hip", MPII)) == approx(Rect.from_center(50, 102, 40, 10))


def test_any_declared_layout_works():
    kp = kps_from({0: (10, 10), 2: (20, 40), 4: (35, 60)}, k=14)
    assert box(part_rect_for(kp, "left_arm", CROWDPOSE)) == approx(Rect(10, 10, 35, 60))
    head = kps_from({12: (50, 10), 13: (50, 30)}, k=14)
    assert box(part_rect_for(head, "head", CROWDPOSE)) == approx(Rect.from_center(50, 20, 10, 20))
    with pytest.raises(ValueError, match="valid: head, left_arm"):
        part_rect_for(kp, "upper_body", CROWDPOSE)
    # a user-defined group uses the plain minimum rectangle, a 2-keypoint one the pair rule
    assert box(part_rect(kp, "my_part", (0, 2, 4))) == approx(Rect(10, 10, 35, 60))
    assert box(part_rect(kp, "my_pair", (0, 4))) == approx(Rect.from_center(22.5, 35, 50, 100))
    with pytest.raises(ValueError, match="outside"):
        part_rect(kp, "bad", (0, 20))


@pytest.mark.parametrize("part", list(COCO.part_groups))
def test_geometry_commutes_with_scaling(part):
    """The rules are similarity-equivariant: crop-frame boxes are image boxes mapped."""
    rng = np.random.default_rng(3)
    kp = kps_from({i: tuple(rng.uniform(0, 300, 2)) for i in range(17)})
    kp[rng.choice(17, 5, replace=False), 2] = 0
    s, t = 0.37, np.array([-12.5, 40.25])
    kp2 = kp.copy()
    kp2[:, :2] = kp[:, :2] * s + t
    a, b = part_rect_for(kp, part, COCO), part_rect_for(kp2, part, COCO)
    if a is None:
        assert b is None
    else:
        assert (b.x1, b.y1, b.x2, b.y2) == pytest.approx(
            (a.x1 * s + t[0], a.y1 * s + t[1], a.x2 * s + t[0], a.y2 * s + t[1]))
