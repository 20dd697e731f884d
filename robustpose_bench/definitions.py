"""The benchmark definitions shipped with the package, found by name.

A *benchmark definition* (`manifests/<name>.yaml`: coco-c, mpii-c, ochuman-c, synthpose-c,
coco-c-advmix, and the attack grids attacks, attacks-demo) says what to render and score: data
set paths relative to a data root, corruptions, severities, protocol, seed. It is not the
`manifest.json` that `robustpose generate` writes into a rendered folder, which records what
*was* rendered.

The YAML files live in the top-level `manifests/` folder of the repository and are installed
as the package data `robustpose_bench.manifests` (a setuptools `package-dir` mapping, no
copies); they are read with importlib.resources, so the names work from a wheel as well as
from a checkout.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

PACKAGE = "robustpose_bench.manifests"
SUFFIX = ".yaml"


def _folder():
    return resources.files(PACKAGE)


def list_definitions() -> list[str]:
    """Names of the packaged definitions, sorted."""
    return sorted(p.name.removesuffix(SUFFIX) for p in _folder().iterdir()
                  if p.name.endswith(SUFFIX))


def is_definition_name(text: str | Path) -> bool:
    """True when `text` is a bare name (no folder, no .yaml suffix)."""
    s = str(text)
    return "/" not in s and "\\" not in s and not s.endswith((".yaml", ".yml"))


def read_definition(source: str | Path, what: str = "benchmark definition"
                    ) -> tuple[dict[str, Any], str]:
    """(parsed YAML mapping, where it came from) of a packaged definition name (`coco-c`) or a
    YAML file path. Raises ValueError naming the file, or the known names for an unknown
    name; `what` names the kind of file in the messages."""
    if is_definition_name(source) and not Path(source).is_file():
        name = str(source)
        entry = _folder() / f"{name}{SUFFIX}"
        if not entry.is_file():
            raise ValueError(f"unknown {what} {name!r}; packaged: "
                             f"{', '.join(list_definitions())} (or give a .yaml path)")
        where, text = f"{name} ({PACKAGE}/{name}{SUFFIX})", entry.read_text(encoding="utf-8")
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"{path}: cannot read {what}: "
                             f"{exc.strerror or exc}") from None
        where = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a YAML mapping, got {type(data).__name__}")
    return data, where
