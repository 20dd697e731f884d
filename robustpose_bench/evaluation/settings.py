"""Everything that decides a run's numbers, in one record: `RunSettings`.

The sweep reads its options from here only; `save` writes them to `<out>/run.json` and
`load` reads them back (shard merging). `fingerprint` holds the fields of the run's
fingerprint (evaluation/fingerprint.py): what a stored condition must have been measured
with to be reused by a resumed run or merged with other shards.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from robustpose_bench import __version__
from robustpose_bench.evaluation.fingerprint import digest
from robustpose_bench.inference_protocol import DEFAULT_INFERENCE_PROTOCOL
from robustpose_bench.io import atomic_write_json
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.protocol import Protocol, get_protocol

RUN_FILE = "run.json"
#: The attack modes a run uses: on each person's model-input crop, or on the full image.
ATTACK_MODES = ("crop", "image")
#: What a user may ask for: `auto` is crop where the adapter allows it, else image.
REQUESTED_ATTACK_MODES = ("auto", *ATTACK_MODES)


@dataclass
class DataSpec:
    """Where a data set is read from, so a run can be re-opened (merge) and recorded.

    ann / images / gt_mat / dataset_name: as `datasets.load_dataset`. benchmark: the name of
    the benchmark definition (`manifests/<name>.yaml`) or its path, with `root` its data root;
    when given, ann/images/gt_mat are the definition's paths under root.
    """

    ann: str | None = None
    images: str | None = None
    gt_mat: str | None = None
    dataset_name: str | None = None
    benchmark: str | None = None
    root: str | None = None

    def load(self):
        """The Dataset."""
        from robustpose_bench.datasets import load_dataset

        if not self.ann or not self.images:
            raise ValueError("no data set: give an annotation file and an image folder "
                             "(--ann/--images), or a benchmark (--benchmark NAME --root DIR)")
        return load_dataset(self.ann, self.images, dataset_name=self.dataset_name,
                            gt_mat=self.gt_mat)


def check_count(name: str, value: object, minimum: int) -> int:
    """`value` as an int >= minimum, else ValueError naming the keyword `name`."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {number}")
    return number


@dataclass
class RunSettings:
    """What to evaluate and how (the sweep's options). `conditions` excludes clean (always
    evaluated); `stability_conditions` are scored against clean for R / RUC as well.

    rendered_root: a folder from `robustpose generate` (None: corruptions rendered in memory,
    identical pixels). boxes: "gt" or the detection file. shard: (i, n) predicts samples
    i, i+n, ... and stops before scoring (`merge_shards`). attack_mode: "crop" (Pytel et al.:
    on each person's model-input crop) or "image" (on the full image), the mode used;
    attack_mode_requested: what was asked ("auto", "crop", "image"). metric: "AP" or
    "PCKh" (`evaluators.default_metric`). postprocess: the top-down rescoring + OKS-NMS
    (False for bottom-up models). heatmap_images: images whose heatmaps give D_n / D_(1)(2)
    for the stability conditions. inference_protocol: the crop conventions of the model
    (`inference_protocol.py`), which also decide the GT boxes. benchmark: {"benchmark": name,
    "sha256": hash of what defines the pixels}. model: what the summary records about the model.
    max_pixels: the image reader's pixel limit (None: `render.imageio.max_pixels_limit()`).
    stability_set: the name of the perturbation set of the stability conditions when they
    were chosen by name (`metrics.stability.PERTURBATION_SETS`). fingerprint: the fields of
    the run's fingerprint (evaluation/fingerprint.py; {} when not computed).
    """

    protocol: Protocol
    data: DataSpec = field(default_factory=DataSpec)
    conditions: list[Condition] = field(default_factory=list)
    stability_conditions: list[Condition] = field(default_factory=list)
    rendered_root: Path | None = None
    boxes: str = "gt"
    metric: str = "AP"
    use_area: bool = True
    backend: str = "auto"
    attack_mode: str = "crop"
    attack_mode_requested: str = "auto"
    postprocess: bool = True
    inference_protocol: str = DEFAULT_INFERENCE_PROTOCOL
    batch_size: int = 32
    workers: int = 0
    shard: tuple[int, int] | None = None
    allow_partial: bool = False
    heatmap_images: int = 32
    max_pixels: int | None = None
    stability_set: str | None = None
    benchmark: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    fingerprint: dict = field(default_factory=dict)
    version: str = __version__

    def __post_init__(self) -> None:
        if self.attack_mode not in ATTACK_MODES:
            raise ValueError(f"attack mode {self.attack_mode!r}; valid: {', '.join(ATTACK_MODES)}")
        if self.attack_mode_requested not in REQUESTED_ATTACK_MODES:
            raise ValueError(f"attack mode {self.attack_mode_requested!r}; valid: "
                             f"{', '.join(REQUESTED_ATTACK_MODES)}")
        check_count("batch_size", self.batch_size, 1)
        check_count("workers", self.workers, 0)
        check_count("heatmap_images", self.heatmap_images, 0)
        if self.max_pixels is not None:
            check_count("max_pixels", self.max_pixels, 1)
        if self.shard is not None:
            i, n = (int(v) for v in self.shard)
            if not (n >= 1 and 0 <= i < n):
                raise ValueError(f"shard must be i/n with 0 <= i < n, got {i}/{n}")
            self.shard = (i, n)

    @property
    def fingerprint_sha256(self) -> str | None:
        """The digest of `fingerprint` (None when it was not computed)."""
        return digest(self.fingerprint) if self.fingerprint else None

    @property
    def boxes_name(self) -> str:
        """What the summary records: "gt" or the detection file's name."""
        return "gt" if self.boxes == "gt" else Path(self.boxes).name

    def all_conditions(self) -> list[Condition]:
        """Clean, then the conditions, then the stability conditions not already there."""
        return list(dict.fromkeys([Condition.clean(), *self.conditions,
                                   *self.stability_conditions]))

    # ----------------------------------------------------------------- json
    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "protocol":
                v = v.to_dict()
            elif f.name == "data":
                v = {k.name: getattr(v, k.name) for k in fields(v)}
            elif f.name in ("conditions", "stability_conditions"):
                v = [c.id for c in v]
            elif f.name == "rendered_root":
                v = None if v is None else str(v)
            elif f.name == "shard":
                v = None if v is None else list(v)
            out[f.name] = v
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = RUN_FILE) -> RunSettings:
        """Inverse of `to_json`; ValueError naming `where` for a file of another layout."""
        try:
            kw = dict(data)
            proto = kw.pop("protocol")
            kw["protocol"] = get_protocol(proto["name"]).with_overrides(
                proto.get("seed"), proto.get("format"), proto.get("quality"))
            kw["data"] = DataSpec(**kw.get("data") or {})
            kw["conditions"] = [Condition.from_id(c) for c in kw.get("conditions", [])]
            kw["stability_conditions"] = [Condition.from_id(c)
                                          for c in kw.get("stability_conditions", [])]
            if kw.get("rendered_root"):
                kw["rendered_root"] = Path(kw["rendered_root"])
            if kw.get("shard"):
                kw["shard"] = tuple(kw["shard"])
            names = {f.name for f in fields(cls)}
            unknown = sorted(set(kw) - names)
            if unknown:
                raise ValueError(f"unknown keys {', '.join(unknown)}")
            return cls(**kw)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{where}: not the run settings of this version of robustpose "
                             f"({type(exc).__name__}: {exc})") from None

    def save(self, out: str | Path) -> Path:
        return atomic_write_json(Path(out) / RUN_FILE, self.to_json())

    @classmethod
    def load(cls, folder: str | Path) -> RunSettings:
        path = Path(folder) / RUN_FILE
        if not path.is_file():
            raise ValueError(f"{path}: missing; is {folder} an output folder of "
                             "`robustpose evaluate`?")
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read run settings: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a json object")
        return cls.from_json(data, str(path))
