"""From what a user names to what the sweep runs: a model (adapter object, `nn.Module` +
input size, zoo name, shipped model, checkpoint, `file.py:Class`), a data set (`Dataset`,
benchmark definition name or path + data root, annotation files), conditions (names, ids,
`Condition` objects, attack grids), boxes and the rendering protocol."""
from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustpose_bench.adapters.base import (
    AdapterError,
    adapter_name,
    is_bottom_up,
    supports_crop_hook,
    validate_adapter,
)
from robustpose_bench.datasets.meta import DatasetMeta
from robustpose_bench.datasets.types import Dataset
from robustpose_bench.evaluation.errors import OptionError
from robustpose_bench.evaluation.settings import DataSpec
from robustpose_bench.io import sha256_file
from robustpose_bench.names import ALL_CORRUPTIONS
from robustpose_bench.render.benchmark import (
    dataset_from_definition,
    load_benchmark_definition,
    parse_corruptions,
    parse_severities,
    synthesize_definition,
)
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.manifest import benchmark_sha256, read_manifest
from robustpose_bench.render.protocol import Protocol, get_protocol

log = logging.getLogger(__name__)

#: The small models shipped with the package (checkpoint + JSON sidecar per model).
SHIPPED_MODELS = Path(__file__).resolve().parent.parent / "assets" / "models"


# --------------------------------------------------------------------------- models
def shipped_models(folder: str | Path | None = None) -> dict[str, dict]:
    """name -> config of the small models shipped in `robustpose_bench/assets/models/` (or of
    the checkpoints + JSON sidecars in `folder`); each config gets its `checkpoint` path."""
    root = Path(folder) if folder is not None else SHIPPED_MODELS
    out = {}
    for cfg in sorted(root.glob("*.json")):
        weights = cfg.with_suffix(".safetensors")
        if weights.is_file():
            info = json.loads(cfg.read_text())
            info["checkpoint"] = str(weights)
            out[cfg.stem] = info
    return out


def count_params(adapter: Any) -> int | None:
    """Parameters of the adapter's torch model (`adapter.model`), or None."""
    model = getattr(adapter, "model", None)
    if model is None or not hasattr(model, "parameters"):
        return None
    from robustpose_bench.models import count_params as count

    return int(count(model))


def check_device(device: str | None) -> str | None:
    """`device` if torch can run on it here, else ValueError naming the option: an unknown
    device string (`tpu9`), CUDA on a torch without CUDA or without a GPU, a GPU index this
    machine lacks. None (the adapter's default) passes."""
    if device is None:
        return None
    text = str(device).strip()
    try:
        import torch
    except ImportError:
        if text == "cpu":
            return text
        raise ValueError(f"device {text!r}: torch is not installed; only 'cpu' is "
                         "possible") from None
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"device {text!r} is not a device torch knows ({exc}); use cpu, cuda "
                         "or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = ("this torch has no CUDA support" if torch.version.cuda is None
                   else "no CUDA GPU is visible")
            raise ValueError(f"device {text!r}: {why} (torch {torch.__version__}); use "
                             "--device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {text!r}: this machine has {torch.cuda.device_count()} "
                             f"CUDA device(s), numbered from 0")
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(f"device {text!r}: MPS is not available here; use --device cpu")
    elif dev.type != "cpu":
        raise ValueError(f"device {text!r}: robustpose runs on cpu, cuda or mps")
    return text


@dataclass
class ResolvedModel:
    """An adapter with what the summary records about it (`info`) and the `model` part of
    the run's fingerprint (`fingerprint`, evaluation/fingerprint.py)."""

    adapter: Any
    info: dict
    fingerprint: dict


def resolve_model(model: Any, meta: DatasetMeta, *, input_size: Any = None,
                  model_args: Mapping[str, Any] | None = None, device: str | None = None,
                  trust_checkpoint: bool = False, name: str | None = None,
                  method: str | None = None,
                  inference_protocol: str | None = None) -> ResolvedModel:
    """The adapter of any model form, what the summary records about it and its fingerprint.

    model: an adapter object (`predict(image, boxes)`); a torch `nn.Module` heatmap network
    (needs `input_size` (width, height) or `WxH`; wrapped in the built-in top-down pipeline
    with the data set's flip pairs); a shipped model name (`robustpose_bench/assets/models`);
    or a spec string for `adapters.loading.load_adapter` (zoo name, checkpoint, `.onnx`,
    `file.py:Class`, `module:Class`) with `model_args` (strings are converted by annotation).
    inference_protocol: the crop conventions asked for (None: the adapter's, else the
    default); given to adapters that take one, and an adapter that declares another is
    refused. device: checked first (`check_device`).
    """
    from robustpose_bench.evaluation.fingerprint import model_fields
    from robustpose_bench.inference_protocol import get_inference_protocol

    if inference_protocol is not None:
        inference_protocol = get_inference_protocol(inference_protocol).name
    device = check_device(device)
    torch = sys.modules.get("torch")  # an nn.Module exists only once torch is imported
    args = dict(model_args or {})
    if isinstance(model, str):
        shipped = shipped_models()
        spec = model
        if model in shipped and not Path(model).exists():
            info = shipped[model]
            spec = info["model"]
            args = {"checkpoint": info["checkpoint"], "name": model,
                    "method": info.get("method", "standard"), **args}
        if name:
            args["name"] = name
        if method:
            args["method"] = method
        from robustpose_bench.adapters.loading import load_adapter

        adapter = load_adapter(spec, args, meta=meta, device=device,
                               trust_checkpoint=trust_checkpoint,
                               inference_protocol=inference_protocol)
    elif torch is not None and isinstance(model, torch.nn.Module):
        if input_size is None:
            raise AdapterError("a torch nn.Module needs input_size=(width, height) of the network "
                               "input, e.g. (192, 256)")
        from robustpose_bench.adapters.args import parse_input_size
        from robustpose_bench.adapters.topdown import HeatmapTopDownAdapter

        size = parse_input_size(input_size)
        if inference_protocol is not None:
            args.setdefault("inference_protocol", inference_protocol)
        adapter = HeatmapTopDownAdapter(model, input_size=size, flip_index=meta.flip_index(),
                                        device=device, keypoint_order=meta.keypoint_names,
                                        name=name, method=method, **args)
        spec = f"{type(model).__module__}:{type(model).__qualname__}"
        validate_adapter(adapter, meta.num_keypoints, meta.keypoint_names)
    else:
        if not callable(getattr(model, "predict", None)):
            raise AdapterError(f"model must be an adapter (an object with predict(image, boxes)), "
                               f"a torch nn.Module with input_size, or a model name / spec; got "
                               f"{type(model).__name__}")
        adapter = model
        spec = f"{type(model).__module__}:{type(model).__qualname__}"
        validate_adapter(adapter, meta.num_keypoints, meta.keypoint_names)
    declared = getattr(adapter, "inference_protocol", None)
    if inference_protocol is not None and declared is not None and declared != inference_protocol:
        raise AdapterError(f"adapter {adapter_name(adapter)} uses the inference protocol "
                           f"{declared!r}, not the {inference_protocol!r} asked for (it does not "
                           f"take inference_protocol=; build it with the protocol you want)")
    size = getattr(adapter, "input_size", None)
    info = {
        "name": args.get("name") or name or getattr(adapter, "name", None) or spec,
        "spec": spec,
        "method": args.get("method") or method or getattr(adapter, "method", None) or "standard",
        "backbone": getattr(adapter, "backbone", None) or spec,
        "input_size": [int(v) for v in size] if size is not None else None,
        "params": count_params(adapter),
        "checkpoint": args.get("checkpoint"),
        "bottom_up": is_bottom_up(adapter),
    }
    if info["checkpoint"] is not None:
        info["checkpoint"] = str(info["checkpoint"])
    fields = model_fields(adapter, spec, {k: v for k, v in args.items()
                                          if k != "inference_protocol"}, size)
    fields["bottom_up"] = info["bottom_up"]
    if fields.get("checkpoint_sha256"):
        info["checkpoint_sha256"] = fields["checkpoint_sha256"]
    return ResolvedModel(adapter, info, fields)


def effective_attack_mode(adapter: Any, requested: str, has_attacks: bool) -> str:
    """The attack mode a run uses: `crop` (on each person's model-input crop) needs a
    top-down adapter taking `crop_hook`; `auto` is crop where the adapter allows it, else
    image (logged); an explicit `crop` the adapter cannot do is refused (AdapterError)."""
    from robustpose_bench.evaluation.settings import REQUESTED_ATTACK_MODES

    if requested not in REQUESTED_ATTACK_MODES:
        raise ValueError(f"attack mode {requested!r}; valid: {', '.join(REQUESTED_ATTACK_MODES)}")
    can_crop = not is_bottom_up(adapter) and supports_crop_hook(adapter)
    if requested == "image" or (requested == "auto" and not can_crop):
        if requested == "auto" and has_attacks:
            log.info("%s takes no crop_hook (or is bottom-up): occlusion attacks are drawn on "
                     "the full image (image mode)", adapter_name(adapter))
        return "image"
    if not can_crop and has_attacks:
        why = "is bottom-up" if is_bottom_up(adapter) else "takes no crop_hook in predict()"
        raise AdapterError(f"attack mode crop: adapter {adapter_name(adapter)} {why}, so "
                           "attacks cannot be drawn on its input crops; use attack mode image "
                           "(or auto)")
    return "crop"


# --------------------------------------------------------------------------- data
@dataclass
class ResolvedData:
    """A data set with where it came from and, for a benchmark, its definition."""

    dataset: Dataset
    spec: DataSpec
    definition: dict | None = None

    @property
    def benchmark_name(self) -> str:
        if self.definition is not None:
            return str(self.definition["name"])
        return f"{self.dataset.meta.name}-c"


def check_data_root(data: Any, root: str | Path | None = None) -> None:
    """Refuse a benchmark definition that needs a data root when none is given (only
    SynthPose-C can be synthesised without one): an OptionError naming `root=` / `--root`,
    raised before any output folder is created."""
    if isinstance(data, DataSpec):
        data, root = data.benchmark, data.root
    if root is not None or not isinstance(data, str | Path):
        return
    definition = load_benchmark_definition(data)
    if not definition.get("synthesize"):
        raise OptionError(f"benchmark {definition['name']} needs {{option}} (the data root its "
                          f"paths are relative to: {definition['annotations']}, ...)",
                          "root=", "--root")


def resolve_data(data: Any, root: str | Path | None = None,
                 synth_dir: str | Path | None = None) -> ResolvedData:
    """A Dataset, a DataSpec, or a benchmark definition (packaged name such as `synthpose-c`,
    `coco-c`, or a YAML path) read under the data `root`. A definition with a `synthesize`
    block (SynthPose-C) and no root is synthesised into `synth_dir` first."""
    if isinstance(data, Dataset):
        spec = DataSpec(ann=str(data.ann_file) if data.ann_file else None,
                        images=str(data.image_root) if data.image_root else None,
                        dataset_name=data.meta.name)
        return ResolvedData(data, spec)
    if isinstance(data, DataSpec):
        if data.benchmark:
            return resolve_data(data.benchmark, data.root, synth_dir)
        return ResolvedData(data.load(), data)
    if not isinstance(data, str | Path):
        raise TypeError(f"data must be a Dataset, a benchmark name or a definition path, got "
                        f"{type(data).__name__}")
    definition = load_benchmark_definition(data)
    if root is None:
        check_data_root(data, root)
        if synth_dir is None:
            raise ValueError(f"benchmark {definition['name']}: no root given and nowhere to "
                             "synthesise it")
        root = synthesize_definition(definition, synth_dir)
    dataset = dataset_from_definition(definition, root)
    root_p = Path(root)
    gt_mat = definition.get("gt_mat")
    spec = DataSpec(ann=str(root_p / definition["annotations"]),
                    images=str(root_p / definition["images"]),
                    gt_mat=str(root_p / gt_mat) if gt_mat else None,
                    dataset_name=definition.get("dataset"), benchmark=str(data),
                    root=str(root_p))
    return ResolvedData(dataset, spec, definition)


def resolve_boxes(boxes: Any, data: ResolvedData) -> str:
    """"gt" or a detection file path. boxes: "gt", a path, or None (the benchmark's default:
    its detection file when the definition has one, else GT)."""
    if boxes is None:
        det = (data.definition or {}).get("detections")
        if det and data.spec.root:
            return str(Path(data.spec.root) / det)
        return "gt"
    if str(boxes) == "gt":
        return "gt"
    path = Path(boxes)
    if not path.is_file():
        raise ValueError(f"detection file {path} does not exist (boxes= 'gt' or a COCO "
                         "detection results file)")
    return str(path)


# --------------------------------------------------------------------------- conditions
def select_conditions(selection: Any, severities: Any = None) -> list[Condition]:
    """Conditions from a selection: None / "none" (nothing), "all" (the 15 corruptions),
    "extra" (the 4 held-out), "all+extra", corruption names (x `severities`, default 1..5),
    condition ids (`fog/3`, `attack/blackout/nose`) and Condition objects, as a comma
    string or a sequence. Order kept, duplicates dropped."""
    if selection is None or (isinstance(selection, str) and selection.strip() in ("", "none")):
        return []
    items = [selection] if isinstance(selection, str | Condition) else list(selection)
    tokens: list[Any] = []
    for item in items:
        if isinstance(item, str):
            tokens += [t.strip() for t in item.split(",") if t.strip()]
        else:
            tokens.append(item)
    sevs = parse_severities(severities)
    out: list[Condition] = []
    for tok in tokens:
        if isinstance(tok, Condition):
            out.append(tok)
        elif not isinstance(tok, str):
            raise TypeError(f"a condition must be a name, an id or a Condition, got "
                            f"{type(tok).__name__}")
        elif "/" in tok:
            cond = Condition.from_id(tok)
            if cond.kind == "corruption" and cond.name not in ALL_CORRUPTIONS:
                parse_corruptions(cond.name)  # raises with the valid names
            out.append(cond)
        else:
            out += [Condition.corruption(c, s) for c in parse_corruptions(tok) for s in sevs]
    return list(dict.fromkeys(out))


def stability_conditions(selection: Any, severities: Any = None
                         ) -> tuple[list[Condition], str | None]:
    """(conditions, set name) of the stability conditions: a perturbation set by name
    (`metrics.stability.PERTURBATION_SETS`: "extra", "stable-heatmap") x `severities`, or any
    selection `select_conditions` takes (set name None then)."""
    from robustpose_bench.metrics.stability import PERTURBATION_SETS

    if isinstance(selection, str) and selection.strip() in PERTURBATION_SETS:
        name = selection.strip()
        return select_conditions(",".join(PERTURBATION_SETS[name]), severities), name
    try:
        return select_conditions(selection, severities), None
    except ValueError as exc:
        raise ValueError(f"stability: {exc}; or a perturbation set: "
                         f"{', '.join(PERTURBATION_SETS)}") from None


def attack_conditions(grid: Any, meta: DatasetMeta) -> list[Condition]:
    """The conditions of an attack grid (packaged name such as `attacks-demo`, or a YAML
    path); None -> []."""
    if grid is None:
        return []
    from robustpose_bench.occlusion import load_attack_grid

    return [Condition.from_attack(s) for s in load_attack_grid(grid, meta).specs]


def check_attacks(conditions: Sequence[Condition], meta: DatasetMeta) -> None:
    """Every attack condition names a mode and a target of the layout (ValueError)."""
    for c in conditions:
        if c.kind == "attack":
            c.attack_spec(meta)


# --------------------------------------------------------------------------- protocol
def resolve_protocol(protocol: str | Protocol | None, seed: int | None = None,
                     rendered: str | Path | None = None) -> tuple[Protocol, str | None]:
    """(protocol, benchmark name of a rendered folder or None). A folder rendered by
    `robustpose generate` dictates the protocol through its manifest.json; a protocol or
    seed given as well must agree with it. protocol None: `robustpose`."""
    if rendered is not None:
        manifest = read_manifest(rendered)
        proto = get_protocol(manifest["protocol"]).with_overrides(
            manifest.get("seed"), manifest.get("format"), manifest.get("quality"))
        asked = protocol.name if isinstance(protocol, Protocol) else protocol
        if asked is not None and asked != proto.name:
            raise ValueError(f"{rendered} was rendered with protocol {proto.name}, not "
                             f"{asked}: leave the protocol out with a rendered folder (its "
                             "manifest decides), or render another folder")
        if seed is not None and int(seed) != proto.seed:
            raise ValueError(f"{rendered} was rendered with seed {proto.seed}, not {seed}: "
                             "leave the seed out with a rendered folder, or render another "
                             "folder")
        return proto, manifest.get("benchmark")
    if isinstance(protocol, Protocol):
        return protocol.with_overrides(seed), None
    return get_protocol(protocol or "robustpose").with_overrides(seed), None


def check_rendered(rendered: str | Path, dataset: Dataset, ann_sha256: str | None,
                   conditions: Sequence[Condition]) -> None:
    """A rendered folder (`evaluate --corrupted`) must be a finished rendering of this data
    set: no journal of an interrupted run, a corruption benchmark (not attacks), made from
    the same annotation file (sha256) and holding every requested corruption condition.
    ValueError naming the folder and both hashes / the missing conditions."""
    from robustpose_bench.render.manifest import JOURNAL

    root = Path(rendered)
    manifest = read_manifest(root)
    if (root / JOURNAL).exists():
        raise ValueError(f"{root} is unfinished: an interrupted `robustpose generate` left "
                         f"{JOURNAL}; re-run the same generate command to finish it")
    kind = manifest.get("kind")
    if kind not in (None, "corruption"):
        raise ValueError(f"{root} holds {kind} renders, not a corruption benchmark; evaluate "
                         "attacks with --attacks (rendered in memory)")
    recorded = manifest.get("ann_sha256")
    if recorded != ann_sha256:
        raise ValueError(f"{root} was rendered from another annotation file: its manifest "
                         f"records ann_sha256 {recorded}, {dataset.ann_file} has {ann_sha256}; "
                         "evaluate with the annotation file it was rendered from, or render "
                         "this one")
    have = set(manifest.get("conditions") or [])
    want = [c.id for c in conditions if c.kind == "corruption"]
    missing = [c for c in want if c not in have]
    if have and missing:
        shown = ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else "")
        raise ValueError(f"{root} does not hold {len(missing)} requested condition(s) "
                         f"({shown}); render them with `robustpose generate` (same --out), or "
                         "evaluate with --on-the-fly")


def benchmark_record(name: str, protocol: Protocol, conditions: Sequence[Condition],
                     dataset: Dataset, ann_sha256: str | None = None) -> dict:
    """{"benchmark": name, "sha256": hash of what defines the pixels} for the summary
    (`ann_sha256`: the annotation file's, computed when not given)."""
    if ann_sha256 is None and dataset.ann_file:
        ann_sha256 = sha256_file(dataset.ann_file)
    definition = {"protocol": protocol.name, "seed": protocol.seed, "format": protocol.format,
                  "quality": protocol.quality if protocol.format == "jpg" else None,
                  "conditions": [c.id for c in conditions if c.kind == "corruption"],
                  "ann_sha256": ann_sha256}
    return {"benchmark": name, "sha256": benchmark_sha256(definition)}
