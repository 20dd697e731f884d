"""Attack targets (one keypoint or one body part of a data set's layout) and attack specs
(mode + target + radius) with stable string ids; Pytel et al., PROTOCOL.md section 7."""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from robustpose_bench.datasets.meta import COCO_KEYPOINTS, MPII_KEYPOINTS, DatasetMeta

#: Default keypoint-attack radius in model-input (crop) pixels at 256x192 (Pytel et al.:
#: it covers the 13x13 ground-truth heatmap Gaussian).
DEFAULT_RADIUS = 6.0
#: Model input (width, height) the radii and blur kernels are defined in.
DEFAULT_INPUT_SIZE = (192, 256)
#: Part blur: Gaussian kernel 31 px, sigma 5 px (OpenCV's default sigma for a 31 px kernel,
#: 0.3 * ((31 - 1) / 2 - 1) + 0.8 = 5.0), in model-input pixels.
PART_BLUR_KERNEL = 31
PART_BLUR_SIGMA = 5.0
#: Keywords of the target syntax.
ALL_KEYPOINTS = "all-keypoints"
ALL_PARTS = "all-parts"

KEYPOINT = "keypoint"
PART = "part"

# The reference code draws `upper_body` (and MPII `lower_body`) from its `advanced_parts`
# table, which differs from DatasetMeta.part_groups (those follow HRNet's half-body split,
# which the trainers use): COCO upper_body adds the hips, MPII upper_body has the hips instead
# of the thorax and MPII lower_body has no pelvis. Attacks on these two layouts use the
# reference groups; any other layout uses its declared part_groups as they are.
REFERENCE_PART_OVERRIDES: dict[tuple[str, ...], dict[str, tuple[int, ...]]] = {
    COCO_KEYPOINTS: {"upper_body": tuple(range(13))},
    MPII_KEYPOINTS: {"upper_body": (2, 3, 8, 9, 10, 11, 12, 13, 14, 15),
                     "lower_body": (0, 1, 2, 3, 4, 5)},
}


def attack_part_groups(meta: DatasetMeta) -> dict[str, tuple[int, ...]]:
    """Part name -> keypoint indices used by the attacks: `meta.part_groups` with the
    reference's groups for the COCO and MPII layouts (see REFERENCE_PART_OVERRIDES)."""
    groups = {name: tuple(int(i) for i in idx) for name, idx in meta.part_groups.items()}
    for name, idx in REFERENCE_PART_OVERRIDES.get(tuple(meta.keypoint_names), {}).items():
        if name in groups:
            groups[name] = idx
    return groups


@dataclass(frozen=True)
class Target:
    """One attack target of a keypoint layout.

    kind: "keypoint" (a circle on one keypoint) or "part" (a rectangle over a part group).
    name: the keypoint or part name. indices: the 0-based keypoint indices it refers to (one for
    a keypoint, the group for a part). ambiguous: the name is both a keypoint and a part of
    the layout (CrowdPose "head"), so its id carries the kind prefix.
    """

    kind: str
    name: str
    indices: tuple[int, ...]
    ambiguous: bool = False

    @property
    def id(self) -> str:
        """Stable string used in folder names and summary keys: the name, or `kind:name` when
        the name alone is ambiguous in the layout."""
        return f"{self.kind}:{self.name}" if self.ambiguous else self.name

    @property
    def is_keypoint(self) -> bool:
        return self.kind == KEYPOINT


def _valid_list(meta: DatasetMeta) -> str:
    parts = ", ".join(meta.part_groups) or "(none declared)"
    return (f"keypoints: {', '.join(meta.keypoint_names)}; parts: {parts}; "
            f"or {ALL_KEYPOINTS} / {ALL_PARTS}")


def _keypoint_target(meta: DatasetMeta, name: str) -> Target:
    return Target(KEYPOINT, name, (meta.keypoint_names.index(name),),
                  ambiguous=name in meta.part_groups)


def _part_target(meta: DatasetMeta, name: str) -> Target:
    indices = attack_part_groups(meta)[name]
    k = meta.num_keypoints
    bad = [i for i in indices if not 0 <= i < k]
    if bad or not indices:
        raise ValueError(f"{meta.name}: part {name!r} has keypoint indices {list(indices)} "
                         f"outside 0..{k - 1}")
    return Target(PART, name, indices, ambiguous=name in meta.keypoint_names)


def get_target(name: str, meta: DatasetMeta) -> Target:
    """One target by name: a keypoint name, a part name, or `keypoint:NAME` / `part:NAME`.

    Raises ValueError naming the valid targets when the name is unknown, or when it is both a
    keypoint and a part of the layout and carries no prefix.
    """
    token = name.strip()
    if ":" in token:
        kind, _, bare = token.partition(":")
        if kind == KEYPOINT and bare in meta.keypoint_names:
            return _keypoint_target(meta, bare)
        if kind == PART and bare in meta.part_groups:
            return _part_target(meta, bare)
        raise ValueError(f"unknown attack target {name!r} for {meta.name}; valid: "
                         f"{_valid_list(meta)}")
    is_kp = token in meta.keypoint_names
    is_part = token in meta.part_groups
    if is_kp and is_part:
        raise ValueError(f"attack target {name!r} is both a keypoint and a part of {meta.name}; "
                         f"write keypoint:{token} or part:{token}")
    if is_kp:
        return _keypoint_target(meta, token)
    if is_part:
        return _part_target(meta, token)
    raise ValueError(f"unknown attack target {name!r} for {meta.name}; valid: {_valid_list(meta)}")


def parse_targets(spec: str | Sequence[str], meta: DatasetMeta) -> list[Target]:
    """Parse `nose,left_eye,...`, `all-keypoints`, `all-parts` and part names (mixable,
    comma-separated or a sequence of tokens) into targets, in order, without duplicates.

    Raises ValueError for an empty list or an unknown name (the message lists the valid ones).
    """
    tokens: list[str] = []
    for item in [spec] if isinstance(spec, str) else list(spec):
        tokens.extend(t.strip() for t in str(item).split(",") if t.strip())
    if not tokens:
        raise ValueError(f"no attack target given; valid: {_valid_list(meta)}")
    out: list[Target] = []
    for token in tokens:
        if token == ALL_KEYPOINTS:
            new = [_keypoint_target(meta, n) for n in meta.keypoint_names]
        elif token == ALL_PARTS:
            if not meta.part_groups:
                raise ValueError(f"{meta.name} declares no body parts; {ALL_PARTS} is not "
                                 "available (add part_groups to its DatasetMeta)")
            new = [_part_target(meta, n) for n in meta.part_groups]
        else:
            new = [get_target(token, meta)]
        out.extend(t for t in new if t not in out)
    return out


def validate_radius(radius: float) -> float:
    """Radius as float; ValueError unless finite and > 0."""
    try:
        r = float(radius)
    except (TypeError, ValueError):
        raise ValueError(f"attack radius must be a number, got {radius!r}") from None
    if not math.isfinite(r) or r <= 0:
        raise ValueError(f"attack radius must be > 0 (model-input pixels), got {radius!r}")
    return r


@dataclass(frozen=True)
class AttackSpec:
    """One attack condition: mode (blackout | meanout | blur), target, radius.

    radius: circle radius in model-input pixels for keypoint targets; None for parts (a
    part's rectangle is defined by its keypoints). id: `<mode>/<target>` plus `@r<radius>` when
    a keypoint radius differs from the default 6, e.g. `blackout/nose`, `blur/nose@r12`,
    `meanout/upper_body` (parsed back by `render.conditions.Condition`: `Condition.from_id`,
    `Condition.attack_spec`).
    """

    mode: str
    target: Target
    radius: float | None = DEFAULT_RADIUS

    def __post_init__(self) -> None:
        from robustpose_bench.occlusion.modes import get_mode

        get_mode(self.mode)
        if self.target.is_keypoint:
            object.__setattr__(self, "radius", validate_radius(
                DEFAULT_RADIUS if self.radius is None else self.radius))
        else:
            object.__setattr__(self, "radius", None)

    @property
    def id(self) -> str:
        suffix = ""
        if self.radius is not None and self.radius != DEFAULT_RADIUS:
            suffix = f"@r{self.radius:g}"
        return f"{self.mode}/{self.target.id}{suffix}"


def make_attack_specs(targets: str | Sequence[str] | Iterable[Target], modes: str | Sequence[str],
                      meta: DatasetMeta, radii: Sequence[float] = (DEFAULT_RADIUS,)
                      ) -> list[AttackSpec]:
    """Cross product targets x modes x radii (radii apply to keypoint targets only; a part
    target appears once per mode). Order: target, then mode, then radius; no duplicates."""
    if isinstance(targets, str) or (isinstance(targets, Sequence) and targets
                                    and isinstance(targets[0], str)):
        tlist = parse_targets(targets, meta)  # type: ignore[arg-type]
    else:
        tlist = list(targets)  # type: ignore[arg-type]
    mode_list = [m.strip() for m in (modes.split(",") if isinstance(modes, str) else modes)
                 if m.strip()]
    if not mode_list:
        raise ValueError("no attack mode given")
    radius_list = [validate_radius(r) for r in radii]
    if not radius_list:
        raise ValueError("no attack radius given")
    out: list[AttackSpec] = []
    for target in tlist:
        for mode in mode_list:
            for radius in (radius_list if target.is_keypoint else [None]):
                spec = AttackSpec(mode, target, radius)
                if spec not in out:
                    out.append(spec)
    return out
