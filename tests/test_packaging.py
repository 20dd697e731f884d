"""What a wheel holds and does: every package and data folder, the benchmark definitions as
package data (the top-level manifests/ mapped, not copied), and the installed wheel running
`robustpose demo` and `robustpose generate --benchmark synthpose-c` from an empty folder."""
from __future__ import annotations

import importlib.resources
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from robustpose_bench.definitions import list_definitions, read_definition

REPO = Path(__file__).resolve().parents[1]
DATA_FOLDERS = {"robustpose_bench.assets", "robustpose_bench.assets.models",
                "robustpose_bench.configs"}


def _declared_packages() -> set[str]:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {"robustpose_bench.manifests": "manifests"}
    return set(config["packages"])


def test_packages_list_covers_the_source_tree():
    code = {".".join(p.parent.relative_to(REPO).parts)
            for p in (REPO / "robustpose_bench").rglob("*.py") if "__pycache__" not in p.parts}
    assert _declared_packages() == code | DATA_FOLDERS | {"robustpose_bench.manifests"}


def test_definitions_are_package_data_found_by_name():
    files = sorted(p.stem for p in (REPO / "manifests").glob("*.yaml"))
    assert list_definitions() == files and "synthpose-c" in files and "attacks-demo" in files
    # in a checkout the package data is the top-level folder itself (no copy)
    folder = importlib.resources.files("robustpose_bench.manifests")
    assert Path(str(folder)).resolve() == (REPO / "manifests").resolve()
    for name in files:
        data, where = read_definition(name)
        assert data == yaml.safe_load((REPO / "manifests" / f"{name}.yaml").read_text())
        assert name in where
    data, where = read_definition(REPO / "manifests" / "coco-c.yaml")  # a path still works
    assert data["name"] == "coco-c" and where.endswith("coco-c.yaml")
    with pytest.raises(ValueError, match="unknown benchmark definition 'coco'; packaged: attacks"):
        read_definition("coco")
    with pytest.raises(ValueError, match="cannot read benchmark definition"):
        read_definition("nowhere/coco-c.yaml")


def _run(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def test_wheel_runs_demo_and_generate_from_an_empty_folder(tmp_path):
    """Build the wheel, install it outside the checkout (the test environment's dependencies
    are reused: --no-deps --target + PYTHONPATH) and run the CLI from an empty folder."""
    wheels = tmp_path / "wheels"
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                          "--no-build-isolation", "-q", "-w", str(wheels), str(REPO)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    (wheel,) = wheels.glob("robustpose_bench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for f in (REPO / "manifests").glob("*.yaml"):
        assert f"robustpose_bench/manifests/{f.name}" in names
    assert "robustpose_bench/assets/models/synthpose_hrnet_w16_standard.safetensors" in names
    assert not any(n.startswith(("tests/", "manifests/")) for n in names)
    site = tmp_path / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                          "--target", str(site), str(wheel)], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    res = _run([sys.executable, "-c", "import robustpose_bench, robustpose_bench.definitions as d;"
                " print(robustpose_bench.__file__); print(d.list_definitions())"], work, env)
    assert res.returncode == 0, res.stderr
    where, names_line = res.stdout.splitlines()
    assert Path(where).resolve().is_relative_to(site.resolve()), where
    assert "synthpose-c" in names_line
    cli = [sys.executable, "-m", "robustpose_bench.cli.main"]
    res = _run([*cli, "synth", "--out", "data/synthpose", "--images", "3"], work, env)
    assert res.returncode == 0, res.stderr
    res = _run([*cli, "generate", "--benchmark", "synthpose-c", "--root", "data",
                "--corruptions", "fog", "--severities", "2", "--out", "bench", "--no-progress"],
               work, env)
    assert res.returncode == 0, res.stderr
    manifest = json.loads((work / "bench" / "manifest.json").read_text())
    assert manifest["benchmark"] == "synthpose-c" and manifest["conditions"] == ["fog/2"]
    assert len(list((work / "bench" / "fog" / "2").glob("*.jpg"))) == 3
    res = _run([*cli, "demo", "--out", "demo", "--images", "3", "--corruptions", "fog",
                "--severities", "2", "--no-stability", "--jobs", "1", "--no-progress"],
               work, env)
    assert res.returncode == 0, res.stderr
    for model in ("synthpose_hrnet_w16_standard", "synthpose_hrnet_w16_advmix"):
        summary = json.loads((work / "demo" / "results" / model / "summary.json").read_text())
        assert summary["per_condition"].keys() == {"fog"} and summary["partial"] is True
        assert set(summary["attacks"]) == {"blackout/nose", "meanout/upper_body"}
        assert Path(summary["model"]["checkpoint"]).resolve().is_relative_to(site.resolve())
    rows = (work / "demo" / "leaderboard" / "synthpose-c.csv").read_text().splitlines()
    assert len(rows) == 3 and all("partial: 1/75" in r for r in rows[1:])
    assert (work / "demo" / "report" / "report.md").is_file()
    assert sorted(p.name for p in work.iterdir()) == ["bench", "data", "demo"]
