"""Build an adapter from a command-line spec: a zoo name (+ checkpoint), a checkpoint file,
an ONNX file, `path/to/file.py:ClassName` or `package.module:ClassName` (issue 6, part 1).

`--model-arg key=value` strings become constructor arguments, converted by the parameter's
annotation (`adapters.args`, docs/adapters.md).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import logging
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robustpose_bench.adapters.args import (  # noqa: F401 (build_with_args re-exported)
    build_with_args,
    convert_value,
    parse_input_size,
)
from robustpose_bench.adapters.base import AdapterError, adapter_name, validate_adapter
from robustpose_bench.inference_protocol import DEFAULT_INFERENCE_PROTOCOL

logger = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".tar", ".ckpt", ".bin")
# Arguments injected into a user adapter's constructor when it declares them by name.
INJECTED = ("meta", "device", "trust_checkpoint")


def _import_file(path: Path) -> types.ModuleType:
    if not path.is_file():
        raise AdapterError(f"adapter file {path} does not exist")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    mod_name = f"robustpose_user_adapter_{path.stem}_{digest}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise AdapterError(f"adapter file {path}: cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    # The file's folder goes on sys.path (as when running it), so it can import its siblings.
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[mod_name]
        raise AdapterError(f"adapter file {path}: import failed: {type(exc).__name__}: {exc}"
                           ) from exc
    return module


def _resolve_class(spec: str) -> tuple[Any, str]:
    target, _, cls_name = spec.rpartition(":")
    if not target or not cls_name.isidentifier():
        raise AdapterError(f"model spec {spec!r}: expected path/to/file.py:ClassName or "
                           "package.module:ClassName")
    if target.endswith(".py") or "/" in target or "\\" in target:
        module = _import_file(Path(target))
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise AdapterError(f"model spec {spec!r}: cannot import module {target!r} ({exc})"
                               ) from exc
    obj = getattr(module, cls_name, None)
    if obj is None:
        names = [n for n in dir(module) if not n.startswith("_") and inspect.isclass(getattr(module, n))]
        raise AdapterError(f"model spec {spec!r}: {target} has no {cls_name!r}; classes there: "
                           f"{', '.join(names) or '(none)'}")
    return obj, target


ZOO_ARGS: dict[str, Any] = {
    "checkpoint": str, "checkpoint_format": str, "input_size": str, "num_keypoints": int,
    "flip_test": bool, "shift_heatmap": bool, "batch_size": int, "decode": str, "amp": bool,
    "name": str, "method": str, "model": str, "inference_protocol": str,
    "device_crops": bool,
}


INFERENCE_KEYS = ("flip_test", "shift_heatmap", "decode")


def _wrap_inference_head(model: Any, inference: Mapping[str, Any], ckpt: Any) -> Any:
    """Apply the inference head that `inference.head` names (registry `models.heads`)."""
    from robustpose_bench.models.heads import wrap_for_inference

    try:
        return wrap_for_inference(model, inference)
    except ValueError as exc:
        raise AdapterError(f"checkpoint {ckpt}: {exc}") from None


def load_zoo_adapter(name: str | None, model_args: Mapping[str, str], meta: Any = None,
                     device: str | None = None, trust_checkpoint: bool = False,
                     inference_protocol: str | None = None) -> Any:
    """HeatmapTopDownAdapter around zoo model `name` (None: taken from the checkpoint's JSON
    sidecar or model_args["model"]). model_args: see ZOO_ARGS. inference_protocol: the crop
    conventions (inference_protocol.py; a model argument of that name wins; None: the
    default)."""
    from robustpose_bench.adapters.topdown import HeatmapTopDownAdapter
    from robustpose_bench.models import create_model, get_model_info
    from robustpose_bench.models.checkpoint import load_checkpoint, read_config

    unknown = sorted(set(model_args) - set(ZOO_ARGS))
    if unknown:
        raise AdapterError(f"zoo model: unknown model argument(s) {', '.join(unknown)}; "
                           f"accepted: {', '.join(ZOO_ARGS)}")
    args = {k: convert_value(v, ZOO_ARGS[k], k) for k, v in model_args.items()}
    ckpt = args.get("checkpoint")
    config = read_config(ckpt) if ckpt else None
    config = config or {}
    if name and config.get("model") and config["model"] != name:
        raise AdapterError(f"checkpoint {ckpt} holds a {config['model']} (per its JSON sidecar), "
                           f"not a {name}; use --model zoo:{config['model']}")
    name = name or args.get("model") or config.get("model")
    if not name:
        raise AdapterError(f"checkpoint {ckpt}: no JSON sidecar names its zoo model; pass "
                           "--model zoo:NAME --model-arg checkpoint=... (see `robustpose models`)")
    try:
        info = get_model_info(name)
    except ValueError as exc:
        raise AdapterError(str(exc)) from None
    k = args.get("num_keypoints") or config.get("num_keypoints")
    if k is None:
        k = meta.num_keypoints if meta is not None else 17
    if meta is not None and int(k) != meta.num_keypoints:
        raise AdapterError(f"model {name} predicts {k} keypoints but the data set {meta.name} "
                           f"has {meta.num_keypoints}")
    model_kwargs = config.get("model_kwargs") or {}
    if not isinstance(model_kwargs, dict):
        raise AdapterError(f"checkpoint config of {ckpt}: model_kwargs must be a mapping")
    try:
        model = create_model(name, num_keypoints=int(k), **model_kwargs)
    except TypeError as exc:
        raise AdapterError(f"model {name}: bad model_kwargs {model_kwargs} ({exc})") from None
    if ckpt:
        from robustpose_bench.models.checkpoint import CheckpointError

        try:
            load_checkpoint(model, ckpt, trust=trust_checkpoint,
                            fmt=args.get("checkpoint_format", "auto"))
        except CheckpointError as exc:
            raise AdapterError(str(exc)) from None
    else:
        logger.warning("zoo model %s has no checkpoint: its weights are random", name)
    if "input_size" in args:
        size = parse_input_size(args["input_size"])
    elif config.get("input_size"):
        size = parse_input_size(config["input_size"])
    else:
        size = info.input_size
    # Inference settings stored by the trainer (`inference` in the sidecar); model args win.
    inference = config.get("inference") or {}
    if inference.get("head"):
        model = _wrap_inference_head(model, inference, ckpt)
        ignored = []
    else:
        ignored = sorted(k for k in set(inference) - set(INFERENCE_KEYS)
                         if not (k == "decoder" and inference[k] == "heatmap"))
    if ignored:
        logger.warning("checkpoint %s asks for inference settings this pipeline does not "
                       "apply: %s", ckpt, ", ".join(ignored))
    opts = {key: inference[key] for key in INFERENCE_KEYS if key in inference}
    opts.update({key: args[key] for key in INFERENCE_KEYS if key in args})
    flip_test = bool(opts.get("flip_test", True))
    order = config.get("keypoint_names") or (meta.keypoint_names if meta is not None else None)
    adapter = HeatmapTopDownAdapter(
        model, size, flip_index=meta.flip_index() if meta is not None else None, device=device,
        batch_size=args.get("batch_size", 32), flip_test=flip_test and meta is not None,
        shift_heatmap=bool(opts.get("shift_heatmap", True)),
        decode=str(opts.get("decode", "standard")), amp=args.get("amp"), keypoint_order=order,
        device_crops=args.get("device_crops"),
        name=args.get("name") or (f"{name}:{Path(ckpt).name}" if ckpt else name),
        method=args.get("method") or config.get("method"),
        inference_protocol=args.get("inference_protocol") or inference_protocol
        or DEFAULT_INFERENCE_PROTOCOL)
    if flip_test and meta is None:
        logger.warning("no data set meta given: flip test disabled (left/right pairs unknown)")
    return adapter


def check_model_spec(spec: str) -> None:
    """Refuse a model spec no adapter family, zoo name, checkpoint path or `module:Class` form
    can mean, before any data is prepared or written (AdapterError, one line). Cheap: nothing
    is imported or loaded; a well-formed spec may still fail later when it is loaded."""
    from robustpose_bench.adapters.families import find_family
    from robustpose_bench.models import list_models

    spec = spec.strip()
    if (find_family(spec) is not None or spec.startswith("zoo:") or spec in list_models()
            or spec.lower().endswith(CHECKPOINT_SUFFIXES) or ":" in spec):
        return
    raise AdapterError(
        f"model spec {spec!r} not understood; use zoo:NAME (one of {', '.join(list_models())}), "
        "a checkpoint or .onnx file, path/to/file.py:ClassName or package.module:ClassName")


def load_adapter(spec: str, model_args: Mapping[str, str] | None = None, meta: Any = None,
                 device: str | None = None, trust_checkpoint: bool = False,
                 inference_protocol: str | None = None) -> Any:
    """Build the adapter named by a CLI spec.

    spec forms:
    - `zoo:NAME` or a bare zoo NAME (`sbl_r50`): model_args checkpoint=FILE (ours, HRNet
      reference or MMPose), input_size=WxH, flip_test, shift_heatmap, batch_size, decode
      (standard|dark), amp, num_keypoints, checkpoint_format, name, method;
    - a checkpoint file written by `save_checkpoint` (its JSON sidecar names the model);
    - a family of adapters.families: `hf:REPO_OR_DIR`, `ultralytics:WEIGHTS_OR_YAML`,
      `mmpose:CONFIG`, or a `.onnx` file (heatmap, SimCC or RTMO graph);
    - `path/to/file.py:ClassName` or `package.module:ClassName`: constructed with model_args
      (converted by annotation) plus `meta`, `device`, `trust_checkpoint` when the
      constructor has parameters of those names.
    meta: the data set's DatasetMeta (flip pairs, keypoint names); the adapter's declared
    keypoints are checked against it. inference_protocol: given to the zoo pipeline and to
    every constructor with an `inference_protocol` parameter (the ONNX heatmap adapter, user
    classes). Raises AdapterError with what went wrong.
    """
    from robustpose_bench.adapters.families import find_family
    from robustpose_bench.models import list_models

    model_args = dict(model_args or {})
    inject = {"meta": meta, "device": device, "trust_checkpoint": trust_checkpoint}
    if inference_protocol is not None:
        inject["inference_protocol"] = inference_protocol
    spec = spec.strip()
    check_model_spec(spec)
    family = find_family(spec)  # hf:, ultralytics:, mmpose:, *.onnx (adapters.families)
    if family is not None:
        adapter = family.load(spec, model_args, inject)
    elif spec.startswith("zoo:") or spec in list_models():
        adapter = load_zoo_adapter(spec.removeprefix("zoo:"), model_args, meta, device,
                                   trust_checkpoint, inference_protocol)
    elif spec.lower().endswith(CHECKPOINT_SUFFIXES) and ":" not in Path(spec).name:
        if not Path(spec).is_file():
            raise AdapterError(f"checkpoint {spec} does not exist")
        adapter = load_zoo_adapter(None, {"checkpoint": spec, **model_args}, meta, device,
                                   trust_checkpoint, inference_protocol)
    elif ":" in spec:
        cls, _ = _resolve_class(spec)
        if not callable(cls):
            raise AdapterError(f"model spec {spec!r} does not name a class or factory")
        adapter = build_with_args(cls, model_args, inject, f"adapter {spec}")
    else:  # unreachable: check_model_spec refused it
        raise AssertionError(spec)
    validate_adapter(adapter, meta.num_keypoints if meta is not None else None,
                     meta.keypoint_names if meta is not None else None)
    logger.info("loaded adapter %s from %s", adapter_name(adapter), spec)
    return adapter
