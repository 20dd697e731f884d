"""Import layering of the training code (issue 14): evaluation never depends on training, and
training methods see the trainer only through train/context.py."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import robustpose_bench

PKG = Path(robustpose_bench.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every robustpose_bench module a file imports, at any depth (function-level too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("robustpose_bench")}


def files(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (PKG / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", files("models", "adapters", "evaluate"),
                         ids=lambda p: str(p.relative_to(PKG)))
def test_evaluation_layers_do_not_import_training(path):
    bad = sorted(m for m in imported_modules(path)
                 if m.startswith(("robustpose_bench.methods", "robustpose_bench.train")))
    assert not bad, f"{path.relative_to(PKG)} imports training code: {bad}"


def test_methods_do_not_import_the_trainer():
    for path in files("methods"):
        bad = sorted(m for m in imported_modules(path)
                     if m.startswith("robustpose_bench.train.trainer"))
        assert not bad, f"{path.relative_to(PKG)} imports {bad}"


def test_only_the_method_lookup_of_the_trainer_imports_methods():
    """The trainer module reaches the method registry only in `make_method` (a function-level
    import), the other training modules not at all: no import cycle train <-> methods."""
    for path in files("train"):
        mods = {m for m in imported_modules(path) if m.startswith("robustpose_bench.methods")}
        if path.name == "trainer.py":
            tree = ast.parse(path.read_text(encoding="utf-8"))
            top = {n.module for n in tree.body if isinstance(n, ast.ImportFrom)}
            assert not {m for m in top if m and m.startswith("robustpose_bench.methods")}
            assert mods == {"robustpose_bench.methods", "robustpose_bench.methods.get_method"}
        else:
            assert not mods, f"{path.name} imports {mods}"
