"""The attack grid of a benchmark definition (`manifests/attacks*.yaml`): named groups of
targets x modes x radii expanded into AttackSpecs; the grid of Pytel et al. Figs. 3-7."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from robustpose_bench.datasets.meta import DatasetMeta, get_meta
from robustpose_bench.definitions import read_definition
from robustpose_bench.occlusion.crop import DEFAULT_IOU_THRESHOLD
from robustpose_bench.occlusion.keypoint import DEFAULT_MIN_VISIBILITY
from robustpose_bench.occlusion.modes import list_modes
from robustpose_bench.occlusion.targets import (
    DEFAULT_INPUT_SIZE,
    DEFAULT_RADIUS,
    AttackSpec,
    make_attack_specs,
)

APPLICATIONS = ("crop", "image")
_GROUP_KEYS = {"name", "targets", "modes", "radii"}


@dataclass
class AttackGrid:
    """An expanded attack grid.

    specs: every attack once, in file order (a spec listed by two groups appears once).
    groups: group name -> its specs. application: `crop` (the paper's protocol, inside the
    top-down evaluator) or `image` (rendered files). definition: the raw YAML mapping (data
    set paths, protocol, ...).
    """

    name: str
    meta: DatasetMeta
    specs: list[AttackSpec]
    groups: dict[str, list[AttackSpec]]
    application: str = "crop"
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE
    iou_threshold: float = DEFAULT_IOU_THRESHOLD
    min_visibility: int = DEFAULT_MIN_VISIBILITY
    per_keypoint: bool = True
    definition: dict = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        """Attack ids `<mode>/<target>[@r<radius>]` (prefix `attack/` for condition ids)."""
        return [s.id for s in self.specs]


def _as_list(value: object, where: str) -> list:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ValueError(f"{where}: expected a list or a comma-separated string, got {value!r}")


def load_attack_grid(source: str | Path | Mapping, meta: DatasetMeta | None = None) -> AttackGrid:
    """Read and expand an attack grid: a packaged definition name (`attacks`, `attacks-demo`),
    a YAML path, or an already-parsed mapping.

    meta: the keypoint layout (default: `get_meta(definition["dataset"])`). Raises ValueError
    naming the file and field for unknown targets / modes, bad radii or unknown keys.
    """
    if isinstance(source, Mapping):
        data, where = dict(source), "attack grid"
    else:
        data, where = read_definition(source, "attack grid")
    if not isinstance(data, dict) or not isinstance(data.get("attacks"), list) or \
            not data["attacks"]:
        raise ValueError(f"{where}: expected a mapping with a non-empty 'attacks' list")
    if meta is None:
        if "dataset" not in data:
            raise ValueError(f"{where}: missing field 'dataset' (or pass meta)")
        meta = get_meta(str(data["dataset"]))
    application = str(data.get("application", "crop"))
    if application not in APPLICATIONS:
        raise ValueError(f"{where}: application {application!r} not in {', '.join(APPLICATIONS)}")
    size = data.get("input_size", list(DEFAULT_INPUT_SIZE))
    if not (isinstance(size, (list, tuple)) and len(size) == 2
            and all(isinstance(v, int) and v > 0 for v in size)):
        raise ValueError(f"{where}: input_size must be [width, height] positive integers, "
                         f"got {size!r}")
    specs: list[AttackSpec] = []
    groups: dict[str, list[AttackSpec]] = {}
    for n, group in enumerate(data["attacks"]):
        gwhere = f"{where}: attacks[{n}]"
        if not isinstance(group, dict):
            raise ValueError(f"{gwhere}: expected a mapping")
        unknown = set(group) - _GROUP_KEYS
        if unknown:
            raise ValueError(f"{gwhere}: unknown keys {sorted(unknown)}; valid: "
                             f"{sorted(_GROUP_KEYS)}")
        name = str(group.get("name", f"group{n}"))
        if name in groups:
            raise ValueError(f"{gwhere}: duplicate group name {name!r}")
        if "targets" not in group:
            raise ValueError(f"{gwhere}: missing field 'targets'")
        modes = _as_list(group.get("modes", list_modes()), f"{gwhere}.modes")
        radii = _as_list(group.get("radii", [DEFAULT_RADIUS]), f"{gwhere}.radii")
        try:
            gspecs = make_attack_specs(_as_list(group["targets"], f"{gwhere}.targets"), modes,
                                       meta, radii)
        except ValueError as exc:
            raise ValueError(f"{gwhere}: {exc}") from None
        groups[name] = gspecs
        specs.extend(s for s in gspecs if s not in specs)
    return AttackGrid(
        name=str(data.get("name", "attacks")), meta=meta, specs=specs, groups=groups,
        application=application, input_size=(int(size[0]), int(size[1])),
        iou_threshold=float(data.get("iou_threshold", DEFAULT_IOU_THRESHOLD)),
        min_visibility=int(data.get("min_visibility", DEFAULT_MIN_VISIBILITY)),
        per_keypoint=bool(data.get("per_keypoint", True)), definition=data)
