"""Occlusion attacks: keypoint circles and body-part rectangles filled by blackout, meanout or
blur, in crop mode (the paper's protocol) or image mode; Pytel et al., PROTOCOL.md §7.

Entry points: `parse_targets` / `AttackSpec` (what to attack), `make_crop_hook` (crop mode,
inside the top-down adapter), `attack_image` (image mode, rendered files), `keypoint_ap`
(per-keypoint AP breakdown), `load_attack_grid` (manifests/attacks.yaml). The mode registry:
`register_mode`, `list_modes`, `get_mode`.
"""
from robustpose_bench.occlusion.attack import (
    ATTACKED,
    NO_SCALE,
    NOT_VISIBLE,
    OUTSIDE,
    STATUSES,
    TOO_FEW_KEYPOINTS,
    UNMATCHED,
    AttackCounts,
    PersonAttack,
    draw_attack,
    region_for,
)
from robustpose_bench.occlusion.crop import (
    DEFAULT_IOU_THRESHOLD,
    CropAttackHook,
    attack_crop,
    box_iou,
    make_crop_hook,
    make_crop_hook_for_persons,
    match_boxes,
    reference_pixel_scale,
)
from robustpose_bench.occlusion.grid import load_attack_grid
from robustpose_bench.occlusion.image import attack_image, person_pixel_scale
from robustpose_bench.occlusion.keypoint import keypoint_circle
from robustpose_bench.occlusion.modes import (
    Canvas,
    GaussianSpec,
    get_mode,
    list_modes,
    register_mode,
)
from robustpose_bench.occlusion.part import part_rect, part_rect_for
from robustpose_bench.occlusion.perkeypoint import (
    keypoint_ap,
    per_keypoint_ap,
    remaining_keypoints,
    restrict_keypoints,
)
from robustpose_bench.occlusion.region import Circle, Rect, region_mask
from robustpose_bench.occlusion.targets import (
    ALL_KEYPOINTS,
    ALL_PARTS,
    DEFAULT_INPUT_SIZE,
    DEFAULT_RADIUS,
    PART_BLUR_KERNEL,
    PART_BLUR_SIGMA,
    AttackSpec,
    Target,
    attack_part_groups,
    get_target,
    make_attack_specs,
    parse_targets,
    validate_radius,
)

__all__ = [
    "ALL_KEYPOINTS", "ALL_PARTS", "ATTACKED", "DEFAULT_INPUT_SIZE", "DEFAULT_IOU_THRESHOLD",
    "DEFAULT_RADIUS", "NOT_VISIBLE", "NO_SCALE", "OUTSIDE", "PART_BLUR_KERNEL",
    "PART_BLUR_SIGMA", "STATUSES", "TOO_FEW_KEYPOINTS", "UNMATCHED", "AttackCounts",
    "AttackSpec", "Canvas", "Circle", "CropAttackHook", "GaussianSpec", "PersonAttack", "Rect",
    "Target", "attack_crop", "attack_part_groups", "attack_image", "box_iou", "draw_attack", "get_mode", "get_target",
    "keypoint_ap", "keypoint_circle", "list_modes", "load_attack_grid", "make_attack_specs",
    "make_crop_hook", "make_crop_hook_for_persons", "match_boxes",
    "parse_targets", "part_rect", "part_rect_for", "per_keypoint_ap", "person_pixel_scale",
    "reference_pixel_scale",
    "region_for", "region_mask", "register_mode", "remaining_keypoints", "restrict_keypoints",
    "validate_radius",
]
