"""Import layering of the training code (issue 14): evaluation never depends on training, the
trainer framework (train/) never imports a method, and methods never see the Trainer. The
import-linter contracts (tests/test_layers.py) check the package layers; these tests name the
training-specific rules module by module."""
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


@pytest.mark.parametrize("path", files("models", "adapters", "evaluation"),
                         ids=lambda p: str(p.relative_to(PKG)))
def test_evaluation_layers_do_not_import_training(path):
    bad = sorted(m for m in imported_modules(path)
                 if m.startswith(("robustpose_bench.methods", "robustpose_bench.train")))
    assert not bad, f"{path.relative_to(PKG)} imports training code: {bad}"


def test_methods_do_not_import_the_trainer():
    for path in files("methods"):
        bad = sorted(m for m in imported_modules(path)
                     if m.startswith(("robustpose_bench.train.trainer", "robustpose_bench.training")))
        assert not bad, f"{path.relative_to(PKG)} imports {bad}"


def test_the_trainer_framework_never_imports_a_method():
    """Only robustpose_bench/training.py (the composition step) resolves a method."""
    assert files("evaluation"), "the evaluation package moved: update this test"
    for path in files("train"):
        mods = {m for m in imported_modules(path) if m.startswith("robustpose_bench.methods")}
        assert not mods, f"train/{path.name} imports {mods}"
    assert "robustpose_bench.methods.get_method" in imported_modules(PKG / "training.py")
