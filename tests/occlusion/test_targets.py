"""Target parsing, attack specs / ids and the attack grids in manifests/."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from robustpose_bench.datasets.meta import COCO, CROWDPOSE, MPII, SYNTHPOSE
from robustpose_bench.occlusion import (
    AttackSpec,
    attack_part_groups,
    get_target,
    list_modes,
    load_attack_grid,
    make_attack_specs,
    parse_targets,
    validate_radius,
)
from robustpose_bench.render.conditions import Condition

ROOT = Path(__file__).resolve().parents[2]


def test_modes_registry():
    assert list_modes()[:3] == ["blackout", "meanout", "blur"]


def test_parse_keywords_and_names():
    kps = parse_targets("all-keypoints", COCO)
    assert [t.name for t in kps] == list(COCO.keypoint_names)
    assert all(t.is_keypoint and t.indices == (i,) for i, t in enumerate(kps))
    parts = parse_targets("all-parts", COCO)
    assert [t.name for t in parts] == list(COCO.part_groups)
    assert len(parts) == 11
    mixed = parse_targets("nose, left_eye,upper_body,nose", COCO)
    assert [t.id for t in mixed] == ["nose", "left_eye", "upper_body"]
    assert parse_targets(["nose", "head"], COCO)[1].indices == (0, 1, 2, 3, 4)
    mpii = parse_targets("all-parts", MPII)
    assert len(mpii) == 11 and mpii[0].name == "head" and mpii[0].indices == (8, 9)


def test_unknown_names_rejected_with_valid_list():
    with pytest.raises(ValueError) as err:
        parse_targets("nose,noze", COCO)
    msg = str(err.value)
    assert "noze" in msg and "left_eye" in msg and "upper_body" in msg and "all-parts" in msg
    with pytest.raises(ValueError, match="no attack target"):
        parse_targets(" , ", COCO)
    with pytest.raises(ValueError, match="unknown attack target"):
        parse_targets("upper_neck", COCO)  # an MPII joint, not a COCO one


def test_ambiguous_name_needs_prefix():
    # CrowdPose has a keypoint "head" and a part "head".
    with pytest.raises(ValueError, match="both a keypoint and a part"):
        get_target("head", CROWDPOSE)
    kp = get_target("keypoint:head", CROWDPOSE)
    part = get_target("part:head", CROWDPOSE)
    assert kp.is_keypoint and kp.indices == (12,) and kp.id == "keypoint:head"
    assert not part.is_keypoint and part.indices == (12, 13) and part.id == "part:head"
    assert len(parse_targets("all-keypoints,all-parts", CROWDPOSE)) == 14 + 7


@pytest.mark.parametrize("bad", [0, -3, float("nan"), float("inf"), "x", None])
def test_radius_rejected(bad):
    with pytest.raises(ValueError, match="radius"):
        validate_radius(bad)
    if bad is not None:
        with pytest.raises(ValueError):
            AttackSpec("blackout", get_target("nose", COCO), bad)


def test_spec_ids_round_trip():
    nose = get_target("nose", COCO)
    assert AttackSpec("blackout", nose).id == "blackout/nose"
    assert AttackSpec("blur", nose, 12).id == "blur/nose@r12"
    assert AttackSpec("blur", nose, None).radius == 6.0
    part = AttackSpec("meanout", get_target("upper_body", COCO), 12)
    assert part.radius is None and part.id == "meanout/upper_body"
    for text in ("blackout/nose", "blur/nose@r12", "meanout/upper_body", "blur/left_ankle@r7.5"):
        cond = Condition.from_id(f"attack/{text}")
        spec = cond.attack_spec(COCO)
        assert spec.id == cond.attack_id == text and Condition.from_attack(spec) == cond
    # the default radius stays implicit in both ids
    assert Condition.from_attack(AttackSpec("blur", nose, 6.0)).id == "attack/blur/nose"
    with pytest.raises(ValueError, match="unknown attack mode"):
        AttackSpec("paint", nose)
    with pytest.raises(ValueError, match="unknown attack mode"):
        Condition.from_id("attack/paint/nose").attack_spec(COCO)
    with pytest.raises(ValueError, match="keypoint targets only"):
        Condition.from_id("attack/blur/head@r9").attack_spec(COCO)
    with pytest.raises(ValueError, match="unknown attack target 'tail'"):
        Condition.from_id("attack/blur/tail").attack_spec(COCO)
    for bad in ("attack/nose", "attack/blur/nose@r0", "attack/blur/nose@rx", "attack/a/b/c"):
        with pytest.raises(ValueError, match="condition 'attack/"):
            Condition.from_id(bad)


def test_make_attack_specs_cross_product():
    specs = make_attack_specs("nose,hip", "blackout,blur", COCO, radii=(6, 10))
    assert [s.id for s in specs] == ["blackout/nose", "blackout/nose@r10", "blur/nose",
                                     "blur/nose@r10", "blackout/hip", "blur/hip"]
    with pytest.raises(ValueError, match="radius"):
        make_attack_specs("nose", "blur", COCO, radii=(0,))


def test_reference_part_groups():
    coco = attack_part_groups(COCO)
    assert coco["upper_body"] == tuple(range(13))  # the reference's advanced_parts: + hips
    assert coco["left_side"] == (1, 3, 5, 7, 9, 11, 13, 15)
    assert attack_part_groups(SYNTHPOSE)["upper_body"] == tuple(range(13))
    mpii = attack_part_groups(MPII)
    assert mpii["upper_body"] == (2, 3, 8, 9, 10, 11, 12, 13, 14, 15)
    assert mpii["lower_body"] == (0, 1, 2, 3, 4, 5)
    assert attack_part_groups(CROWDPOSE) == {k: tuple(v) for k, v in CROWDPOSE.part_groups.items()}


def test_attack_grid_manifest():
    grid = load_attack_grid(ROOT / "manifests" / "attacks.yaml")
    assert grid.meta.name == "coco" and grid.application == "crop"
    assert len(grid.groups["keypoints"]) == 17 * 3
    assert len(grid.groups["parts"]) == 11 * 3
    assert [s.radius for s in grid.groups["radius_sweep"][:7]] == [6, 8, 10, 12, 14, 16, 18]
    assert len(grid.specs) == 17 * 3 + 11 * 3 + 6 * 3 and len(set(grid.ids)) == len(grid.ids)
    assert "blur/nose@r18" in grid.ids and "blackout/right_side" in grid.ids
    # keywords expand per layout; MPII has no nose, so the COCO sweep is rejected there
    with pytest.raises(ValueError, match=r"attacks\[2\].*nose"):
        load_attack_grid(ROOT / "manifests" / "attacks.yaml", meta=MPII)
    mpii = load_attack_grid({"attacks": [{"targets": "all-keypoints,all-parts"}]}, meta=MPII)
    assert len(mpii.specs) == (16 + 11) * 3
    demo = load_attack_grid(ROOT / "manifests" / "attacks-demo.yaml")
    assert demo.meta.name == "synthpose" and demo.ids == ["blackout/nose", "meanout/upper_body"]


def test_attack_grid_bad_input(tmp_path):
    with pytest.raises(ValueError, match="non-empty 'attacks'"):
        load_attack_grid({"dataset": "coco"})
    with pytest.raises(ValueError, match=r"attacks\[0\].*unknown keys"):
        load_attack_grid({"dataset": "coco", "attacks": [{"targets": "nose", "radius": 3}]})
    with pytest.raises(ValueError, match=r"attacks\[0\].*unknown attack target"):
        load_attack_grid({"dataset": "coco", "attacks": [{"targets": "nosee"}]})
    with pytest.raises(ValueError, match="radius"):
        load_attack_grid({"dataset": "coco", "attacks": [{"targets": "nose", "radii": [-1]}]})
    bad = tmp_path / "g.yaml"
    bad.write_text("attacks: [\n")
    with pytest.raises(ValueError, match="g.yaml"):
        load_attack_grid(bad)
    assert math.isclose(load_attack_grid(
        {"dataset": "mpii", "attacks": [{"targets": "head"}]}).specs[0].target.indices[0], 8)
