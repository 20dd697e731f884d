"""A benchmark condition (clean, a corruption at a severity, or an occlusion attack) with a
stable string id used for folder names, summary keys and resumption.

`Condition` is the one place where condition ids are parsed (`Condition.from_id`) and where
attack conditions and occlusion `AttackSpec`s are converted into each other
(`Condition.from_attack`, `Condition.attack_spec`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from robustpose_bench.names import SEVERITIES

if TYPE_CHECKING:  # pragma: no cover
    from robustpose_bench.datasets.meta import DatasetMeta
    from robustpose_bench.occlusion.targets import AttackSpec

_ATTACK_RE = re.compile(r"^(?P<mode>[^/@]+)/(?P<target>[^/@]+)(?:@r(?P<radius>[^/@]+))?$")
_ID_SYNTAX = "clean, <corruption>/<severity> or attack/<mode>/<target>[@r<radius>]"


@dataclass(frozen=True, order=True)
class Condition:
    """kind: `clean`, `corruption` or `attack`.

    corruption: name + severity 1..5. attack: mode (blackout/meanout/blur) as `name` + target
    (keypoint or part name, `kind:name` when ambiguous in the layout) + radius (model-input
    pixels, keypoint attacks only; None = the default radius).
    """

    kind: str
    name: str = ""
    severity: int = 0
    target: str = ""
    radius: float | None = None

    @property
    def id(self) -> str:
        if self.kind == "clean":
            return "clean"
        if self.kind == "corruption":
            return f"{self.name}/{self.severity}"
        return f"attack/{self.attack_id}"

    @property
    def attack_id(self) -> str:
        """`<mode>/<target>[@r<radius>]`: the id without the `attack/` prefix (the key of the
        summary's `attacks`, and `AttackSpec.id`)."""
        if self.kind != "attack":
            raise ValueError(f"condition {self.id} is not an attack")
        rid = f"@r{self.radius:g}" if self.radius is not None else ""
        return f"{self.name}/{self.target}{rid}"

    @property
    def target_name(self) -> str:
        """The attacked keypoint or part name without a `keypoint:` / `part:` prefix."""
        return self.target.partition(":")[2] if ":" in self.target else self.target

    @property
    def target_kind(self) -> str | None:
        """`keypoint` / `part` when the target carries that prefix, else None (the layout
        decides; see `attack_spec`)."""
        return self.target.partition(":")[0] if ":" in self.target else None

    def __str__(self) -> str:
        return self.id

    @classmethod
    def clean(cls) -> Condition:
        return cls("clean")

    @classmethod
    def corruption(cls, name: str, severity: int) -> Condition:
        return cls("corruption", name, int(severity))

    @classmethod
    def attack(cls, mode: str, target: str, radius: float | None = None) -> Condition:
        return cls("attack", mode, 0, target, radius)

    @classmethod
    def from_id(cls, text: str) -> Condition:
        """Inverse of `Condition.id`: `clean`, `fog/3`, `attack/blackout/nose@r6`.

        Only the syntax is checked here (names against a registry or a keypoint layout are
        checked where they are used). Raises ValueError naming the id."""
        text = str(text).strip()
        if text == "clean":
            return cls.clean()
        if text.startswith("attack/"):
            m = _ATTACK_RE.match(text.removeprefix("attack/"))
            if not m:
                raise ValueError(f"cannot parse condition {text!r}; expected {_ID_SYNTAX}")
            radius = m.group("radius")
            return cls.attack(m.group("mode"), m.group("target"),
                              None if radius is None else _radius(radius, text))
        name, sep, sev = text.partition("/")
        if sep and name and sev.isdigit() and int(sev) in SEVERITIES:
            return cls.corruption(name, int(sev))
        raise ValueError(f"cannot parse condition {text!r}; expected {_ID_SYNTAX} "
                         f"(severity {', '.join(map(str, SEVERITIES))})")

    @classmethod
    def from_attack(cls, spec: AttackSpec) -> Condition:
        """The condition of an occlusion attack spec (the default radius is left implicit, so
        `Condition.from_attack(spec).attack_id == spec.id`)."""
        from robustpose_bench.occlusion.targets import DEFAULT_RADIUS

        radius = None if spec.radius is None or spec.radius == DEFAULT_RADIUS else spec.radius
        return cls.attack(spec.mode, spec.target.id, radius)

    def attack_spec(self, meta: DatasetMeta) -> AttackSpec:
        """The occlusion `AttackSpec` of this attack condition in a keypoint layout; raises
        ValueError for an unknown target or mode, or a radius on a part target."""
        from robustpose_bench.occlusion.targets import DEFAULT_RADIUS, AttackSpec, get_target

        if self.kind != "attack":
            raise ValueError(f"condition {self.id} is not an attack")
        target = get_target(self.target, meta)
        if self.radius is not None and not target.is_keypoint:
            raise ValueError(f"condition {self.id}: a radius applies to keypoint targets only")
        return AttackSpec(self.name, target, DEFAULT_RADIUS if self.radius is None else self.radius)


def _radius(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"condition {where!r}: radius {text!r} is not a positive number "
                         "(model-input pixels)")
    return value


def parse_condition(text: str) -> Condition:
    """`Condition.from_id` as a function."""
    return Condition.from_id(text)
