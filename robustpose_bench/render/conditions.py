"""A benchmark condition (clean, a corruption at a severity, or an occlusion attack) with a
stable string id used for folder names, summary keys and resumption."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Condition:
    """kind: `clean`, `corruption` or `attack`.

    corruption: name + severity 1..5. attack: mode (blackout/meanout/blur) + target (keypoint
    or part name) + radius (model-input pixels, keypoint attacks only).
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
        rid = f"@r{self.radius:g}" if self.radius is not None else ""
        return f"attack/{self.name}/{self.target}{rid}"

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


def parse_condition(text: str) -> Condition:
    """Inverse of `Condition.id`: `clean`, `fog/3`, `attack/blackout/nose@r6`."""
    if text == "clean":
        return Condition.clean()
    parts = text.split("/")
    if parts[0] == "attack" and len(parts) == 3:
        target, _, radius = parts[2].partition("@r")
        return Condition.attack(parts[1], target, float(radius) if radius else None)
    if len(parts) == 2 and parts[1].isdigit():
        return Condition.corruption(parts[0], int(parts[1]))
    raise ValueError(f"cannot parse condition {text!r}; expected clean, <corruption>/<severity> "
                     f"or attack/<mode>/<target>[@r<radius>]")
