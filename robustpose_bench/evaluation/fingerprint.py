"""The fingerprint of an evaluation run: everything that decides a condition's predictions and
scores, so a resumed run reuses only what the same model measured on the same benchmark.

A fingerprint is a JSON object of named fields (`fields`) and its sha256 (`digest`):

- `model`: the spec as given, the sha256 of every file it names (a `.py` adapter, a `.onnx`
  graph, a checkpoint), the adapter class, the network input size, the model arguments (a
  file argument by its sha256, display names left out), the checkpoint's sha256, for a
  torch model without a checkpoint file (an `nn.Module` passed from Python, a zoo model with
  random weights) the sha256 of its weights, and the adapter's own `fingerprint` (attribute
  or method, JSON-able) when it defines one: an adapter object passed from Python is
  otherwise known by its class only;
- `inference_protocol`: the crop conventions (inference_protocol.py);
- `boxes`: "gt", or the detection file's sha256 and score threshold;
- `pixels`: the corruption rendering settings (protocol, seed, format, quality) and the
  sha256 of the annotation file (the list of conditions is not part of it: adding
  conditions to a folder extends the run);
- `metric`: the headline metric, use_area, post-processing, the OKS-NMS area rule, the AP
  backend, heatmap statistics images;
- `attack_mode` (the mode used, crop or image) and the robustpose_bench version;
- `shard` ([i, n]) for a shard run, whose predictions cover every n-th image from i.

Not part of it: batch size, worker processes, the conditions, display names. Source
images are identified by the annotation file (their bytes are not hashed: a rendered folder's
own index covers the corrupted ones).
"""
from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robustpose_bench import __version__
from robustpose_bench.io import sha256_file
from robustpose_bench.results import fingerprint_digest

#: Model arguments that name the model for people, not what it computes.
DISPLAY_ARGS = ("name", "method")
#: Fields named in a mismatch message are cut to this many characters.
_SHOWN = 16


def digest(fields: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of `fields` (sorted keys; results.fingerprint_digest)."""
    return fingerprint_digest(fields)


def file_sha256(value: Any) -> str | None:
    """The sha256 of `value` when it names an existing regular file, else None."""
    if not isinstance(value, str | Path) or not str(value):
        return None
    try:
        path = Path(value)
        return sha256_file(path) if path.is_file() else None
    except (OSError, ValueError):
        return None


def _spec_files(spec: str) -> dict[str, str]:
    """sha256 of the files a model spec names: the spec itself, the part after a family
    prefix (`onnx:`/`hf:`/...), the file of `path/to/file.py:Class`."""
    out: dict[str, str] = {}
    candidates = [spec]
    head, sep, tail = spec.partition(":")
    if sep:
        candidates += [tail]
    target, sep, _ = spec.rpartition(":")
    if sep:
        candidates.append(target)
    for c in candidates:
        sha = file_sha256(c)
        if sha is not None:
            out[c] = sha
    return out


def weights_sha256(module: Any) -> str | None:
    """sha256 over a torch module's state dict (names, dtypes, shapes, bytes), or None when
    `module` is not an `nn.Module`. Tensors are copied to the CPU to be hashed."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(module, torch.nn.Module):
        return None
    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def model_fields(adapter: Any, spec: str, args: Mapping[str, Any],
                 input_size: Any = None) -> dict[str, Any]:
    """The `model` part of a fingerprint (see the module docstring)."""
    arg_fields: dict[str, Any] = {}
    checkpoint_sha = None
    for key in sorted(args):
        if key in DISPLAY_ARGS:
            continue
        value = args[key]
        sha = file_sha256(value)
        if key == "checkpoint" and sha is not None:
            checkpoint_sha = sha
            continue
        arg_fields[key] = {"sha256": sha} if sha is not None else _jsonable(value)
    cls = type(adapter)
    out: dict[str, Any] = {
        "spec": spec,
        "files": _spec_files(spec),
        "adapter": f"{cls.__module__}:{cls.__qualname__}",
        "input_size": [int(v) for v in input_size] if input_size is not None else None,
        "args": arg_fields,
        "checkpoint_sha256": checkpoint_sha,
    }
    if checkpoint_sha is None and not out["files"]:
        out["weights_sha256"] = weights_sha256(getattr(adapter, "model", None))
    own = getattr(adapter, "fingerprint", None)  # optional: what else decides its outputs
    if own is not None:
        out["adapter_fingerprint"] = _jsonable(own() if callable(own) else own)
    return out


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def flatten(fields: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (`model.checkpoint_sha256`)."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _show(value: Any) -> str:
    if value is None:
        return "none"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= _SHOWN or "/" in text else text[:12] + "..."


def differences(old: Mapping[str, Any], new: Mapping[str, Any],
                labels: tuple[str, str] = ("in the folder", "now")) -> list[str]:
    """`field OLD in the folder, NEW now` (`labels`) for every field that differs; [] when
    equal."""
    a, b = flatten(old), flatten(new)
    return [f"{key} {_show(a.get(key))} {labels[0]}, {_show(b.get(key))} {labels[1]}"
            for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]


def run_fields(settings: Any, model: Mapping[str, Any], ann_sha256: str | None,
               gt_sha256: str | None = None) -> dict[str, Any]:
    """The fingerprint fields of a run: `settings` (a RunSettings), the `model` part
    (`model_fields`), the sha256 of the annotation file and of an extra ground-truth file
    (MPII's .mat)."""
    from robustpose_bench.evaluation.evaluators import oks_nms_area_rule

    proto = settings.protocol
    if settings.boxes == "gt":
        boxes: dict[str, Any] = {"source": "gt"}
    else:
        boxes = {"source": "detections", "sha256": file_sha256(settings.boxes),
                 "min_score": 0.0}
    return {
        "model": dict(model),
        "inference_protocol": settings.inference_protocol,
        "boxes": boxes,
        "pixels": {"protocol": proto.name, "seed": proto.seed,
                   "per_image_seed": proto.per_image_seed, "format": proto.format,
                   "quality": proto.quality if proto.format == "jpg" else None,
                   "ann_sha256": ann_sha256, "gt_sha256": gt_sha256},
        "metric": {"metric": settings.metric, "use_area": bool(settings.use_area),
                   "postprocess": bool(settings.postprocess),
                   "oks_nms_area": oks_nms_area_rule(settings.model.get("input_size"),
                                                     settings.inference_protocol),
                   "heatmap_images": int(settings.heatmap_images)},
        "attack_mode": settings.attack_mode,
        "robustpose_bench": __version__,
        # a shard's stored predictions cover its share of the images only
        **({"shard": list(settings.shard)} if settings.shard is not None else {}),
    }


def without_shard(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fingerprint fields of the whole run a shard belongs to."""
    return {k: v for k, v in fields.items() if k != "shard"}
