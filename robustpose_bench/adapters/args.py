"""Adapter arguments given as text: `--model-arg key=value` pairs, and the conversion of each
value by the constructor parameter's annotation (int, float, bool, str, Path, list/tuple/dict
as JSON, `X | None`), else by `ast.literal_eval` when that succeeds, else kept as a string
(docs/adapters.md). Errors are `AdapterError` (a ValueError) naming the argument."""
from __future__ import annotations

import ast
import inspect
import json
import logging
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from robustpose_bench.adapters.base import AdapterError

logger = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


def parse_model_args(pairs: Sequence[str]) -> dict[str, str]:
    """CLI `--model-arg key=value` strings -> {key: value} (values stay strings)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise AdapterError(f"--model-arg {pair!r}: expected key=value")
        if key in out:
            raise AdapterError(f"--model-arg {key} given twice")
        out[key] = value
    return out


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


_NAMED = {"int": int, "float": float, "bool": bool, "str": str, "Path": Path, "list": list,
          "tuple": tuple, "dict": dict}


def convert_value(text: str, annotation: Any, key: str = "value") -> Any:
    """Convert one model-arg string according to a parameter annotation (see module doc)."""
    if not isinstance(text, str):
        return text
    if isinstance(annotation, str):  # unresolved postponed annotation
        parts = [p.strip() for p in annotation.split("|")]
        if "None" in parts and text.strip().lower() in ("none", "null"):
            return None
        for p in parts:
            if p in _NAMED:
                return convert_value(text, _NAMED[p], key)
        return _literal(text)
    if annotation is inspect.Parameter.empty or annotation is Any:
        return _literal(text)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.strip().lower() in ("none", "null"):
            return None
        errors = []
        for a in (a for a in args if a is not type(None)):
            try:
                return convert_value(text, a, key)
            except AdapterError as exc:
                errors.append(str(exc))
        raise AdapterError("; ".join(errors) or f"{key}={text!r}: cannot convert")
    target = origin or annotation
    if target is bool:
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise AdapterError(f"{key}={text!r}: expected a boolean (true/false)")
    if target in (int, float):
        try:
            return target(text)
        except ValueError:
            raise AdapterError(f"{key}={text!r}: expected {target.__name__}") from None
    if target is str:
        return text
    if isinstance(target, type) and issubclass(target, Path):
        return Path(text)
    if target in (list, tuple, dict) or (isinstance(target, type)
                                         and issubclass(target, (Sequence, Mapping))):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = _literal(text)
        if target is tuple and isinstance(value, list):
            value = tuple(value)
        if not isinstance(value, (list, tuple, dict)):
            raise AdapterError(f"{key}={text!r}: expected JSON for {getattr(target, '__name__', target)}")
        return value
    return _literal(text)




def parse_input_size(value: Any) -> tuple[int, int]:
    """`192x256` (width x height), `[192, 256]` or `(192, 256)` -> (width, height)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if "x" in text:
            parts = text.split("x")
        else:
            parsed = _literal(text)
            parts = list(parsed) if isinstance(parsed, (list, tuple)) else [text]
    else:
        parts = list(value)
    try:
        w, h = (int(p) for p in parts)
    except (TypeError, ValueError):
        raise AdapterError(f"input_size={value!r}: expected WIDTHxHEIGHT, e.g. 192x256") from None
    if w > h:
        logger.warning("input_size %dx%d is read as width x height (wider than tall); the HRNet "
                       "file names (256x192) are height x width", w, h)
    return w, h


def _type_hints(fn: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # unresolvable names in user annotations: fall back to the raw strings
        return dict(getattr(fn, "__annotations__", {}))


def build_with_args(cls: Any, model_args: Mapping[str, str], inject: Mapping[str, Any],
                    what: str) -> Any:
    """Call `cls(**converted model_args, **declared injections)`; errors name `what`."""
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError) as exc:
        raise AdapterError(f"{what}: cannot inspect the constructor ({exc})") from None
    params = sig.parameters
    hints = _type_hints(cls.__init__ if inspect.isclass(cls) else cls)
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs: dict[str, Any] = {}
    for key, text in model_args.items():
        if key not in params and not var_kw:
            accepted = [n for n, p in params.items()
                        if p.kind not in (inspect.Parameter.VAR_POSITIONAL,
                                          inspect.Parameter.VAR_KEYWORD)]
            raise AdapterError(f"{what}: unknown model argument {key!r}; the constructor "
                               f"accepts: {', '.join(accepted) or '(nothing)'}")
        kwargs[key] = convert_value(text, hints.get(key, params[key].annotation
                                                    if key in params else inspect.Parameter.empty),
                                    key)
    for key, value in inject.items():
        if key in params and key not in kwargs:
            kwargs[key] = value
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty
               and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
               and n not in kwargs]
    if missing:
        raise AdapterError(f"{what}: missing required model argument(s) "
                           f"{', '.join(missing)} (pass --model-arg {missing[0]}=...)")
    try:
        return cls(**kwargs)
    except AdapterError:
        raise
    except Exception as exc:
        raise AdapterError(f"{what}: constructor failed: {type(exc).__name__}: {exc}") from exc
