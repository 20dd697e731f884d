"""The adapter families reachable from `--model`: one registry of spec patterns (a prefix such
as `hf:` or a file suffix such as `.onnx`) -> factory, with what each needs installed; used by
`adapters.loading.load_adapter` and listed by `robustpose models --families` (issue 13, part 6).

The built-in forms handled by `adapters.loading` itself (zoo names, checkpoint files, Python
classes) are listed in BUILTIN_FORMS for the listing only.
"""
from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from robustpose_bench.adapters.base import AdapterError


@dataclass(frozen=True)
class Family:
    """One way of naming a model on the command line.

    name: short name; prefix / suffix: how a spec is recognised (`hf:` prefix, `.onnx`
    suffix); factory: "module:function" called as factory(target, model_args, inject) where
    target is the spec without the prefix; modules: what must be importable; extra: the pip
    extra that installs it; example: one command-line spec; what: one line for listings.
    """

    name: str
    factory: str
    modules: tuple[str, ...]
    extra: str
    example: str
    what: str
    prefix: str | None = None
    suffix: str | None = None

    def matches(self, spec: str) -> bool:
        if self.prefix is not None:
            return spec.startswith(self.prefix)
        return self.suffix is not None and spec.lower().endswith(self.suffix)

    def target(self, spec: str) -> str:
        return spec[len(self.prefix):] if self.prefix is not None else spec

    def missing(self) -> list[str]:
        """The required modules that are not installed."""
        return [m for m in self.modules if importlib.util.find_spec(m) is None]

    def load(self, spec: str, model_args: Mapping[str, str], inject: Mapping[str, Any]) -> Any:
        target = self.target(spec).strip()
        if not target:
            raise AdapterError(f"model spec {spec!r}: nothing after {self.prefix!r}; e.g. "
                               f"{self.example}")
        missing = self.missing()
        if missing:
            raise AdapterError(f"model spec {spec!r} needs {', '.join(missing)}: pip install "
                               f"'robustpose-bench[{self.extra}]' (see docs/adapters.md)")
        module, _, func = self.factory.partition(":")
        fn: Callable = getattr(importlib.import_module(module), func)
        return fn(target, model_args, inject)


# Prefix families first: `ultralytics:x.onnx` is an Ultralytics model, not a plain ONNX file.
FAMILIES: tuple[Family, ...] = (
    Family("hf", "robustpose_bench.adapters.families:load_hf", ("transformers",), "hf",
           "hf:usyd-community/vitpose-base-simple",
           "Hugging Face transformers ViTPose / ViTPose+ (hub id or local folder)", prefix="hf:"),
    Family("ultralytics", "robustpose_bench.adapters.families:load_ultralytics",
           ("ultralytics",), "ultralytics", "ultralytics:yolo11n-pose.pt",
           "Ultralytics YOLO-pose, bottom-up (weights file or model YAML)",
           prefix="ultralytics:"),
    Family("mmpose", "robustpose_bench.adapters.families:load_mmpose", ("mmpose",), "mmpose",
           "mmpose:path/to/config.py --model-arg checkpoint=FILE",
           "MMPose 1.x top-down config + checkpoint", prefix="mmpose:"),
    Family("onnx", "robustpose_bench.adapters.families:load_onnx", ("onnxruntime",), "onnx",
           "path/to/rtmpose-m.onnx", "ONNX Runtime: heatmap, SimCC (RTMPose/DWPose/RTMW) or "
           "RTMO (bottom-up) graphs, told apart by their outputs", suffix=".onnx"),
)

# Forms that adapters.loading handles itself (listed, not dispatched, here).
BUILTIN_FORMS: tuple[tuple[str, str, str], ...] = (
    ("zoo", "zoo:hrnet_w32 --model-arg checkpoint=FILE", "the model zoo (`robustpose models`)"),
    ("checkpoint", "runs/train/best.safetensors", "a checkpoint with its JSON sidecar"),
    ("python", "my_adapter.py:MyAdapter", "any class following the adapter contract"),
)


def find_family(spec: str) -> Family | None:
    """The family whose prefix / suffix matches `spec`, or None."""
    spec = spec.strip()
    return next((f for f in FAMILIES if f.matches(spec)), None)


def family_rows() -> list[dict]:
    """One dict per family (built-in forms first): name, example, needs, installed, what."""
    rows = [{"name": n, "example": ex, "needs": "-", "installed": True, "what": what}
            for n, ex, what in BUILTIN_FORMS]
    for f in FAMILIES:
        rows.append({"name": f.name, "example": f.example,
                     "needs": f"{', '.join(f.modules)} (pip install 'robustpose-bench[{f.extra}]')",
                     "installed": not f.missing(), "what": f.what})
    return rows


def _build(cls: Any, args: Mapping[str, str], inject: Mapping[str, Any], what: str) -> Any:
    from robustpose_bench.adapters.args import build_with_args

    return build_with_args(cls, args, inject, what)


def load_hf(target: str, model_args: Mapping[str, str], inject: Mapping[str, Any]) -> Any:
    from robustpose_bench.adapters.hf import HFVitPoseAdapter

    return _build(HFVitPoseAdapter, {"model": target, **model_args}, inject, f"hf:{target}")


def load_ultralytics(target: str, model_args: Mapping[str, str],
                     inject: Mapping[str, Any]) -> Any:
    from robustpose_bench.adapters.ultralytics import UltralyticsPoseAdapter

    return _build(UltralyticsPoseAdapter, {"weights": target, **model_args}, inject,
                  f"ultralytics:{target}")


def load_mmpose(target: str, model_args: Mapping[str, str], inject: Mapping[str, Any]) -> Any:
    from robustpose_bench.adapters.mmpose import MMPoseTopDownAdapter

    return _build(MMPoseTopDownAdapter, {"config": target, **model_args}, inject,
                  f"mmpose:{target}")


def load_onnx(path: str, model_args: Mapping[str, str], inject: Mapping[str, Any]) -> Any:
    """The adapter for an ONNX file, chosen by `onnx.onnx_kind` (or `--model-arg kind=...`):
    OnnxTopDownAdapter, SimCCOnnxAdapter or RTMOOnnxAdapter, built with the model args.
    (Here rather than in adapters.onnx, which simcc and rtmo import: no import cycle.)"""
    from robustpose_bench.adapters.onnx import (
        ONNX_KINDS,
        OnnxTopDownAdapter,
        onnx_kind,
        open_session,
    )

    args = dict(model_args)
    kind = args.pop("kind", None)
    if kind is None:
        kind = onnx_kind(open_session(path), path)
    elif kind not in ONNX_KINDS:
        raise AdapterError(f"--model-arg kind={kind!r}: choose one of {', '.join(ONNX_KINDS)}")
    if kind == "simcc":
        from robustpose_bench.adapters.simcc import SimCCOnnxAdapter as cls
    elif kind == "rtmo":
        from robustpose_bench.adapters.rtmo import RTMOOnnxAdapter as cls
    else:
        cls = OnnxTopDownAdapter
    return _build(cls, {"path": path, **args}, inject, f"ONNX model {path} ({kind})")
