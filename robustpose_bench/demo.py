"""The end-to-end demo on the embedded SynthPose data set: synthesise, render SynthPose-C and
an occlusion attack set, evaluate the shipped models, add them to a leaderboard copy, build
the page and the report, and say where everything is. Writes only under `out`."""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

#: The repository's leaderboard folder (a checkout); a wheel has none and starts from
#: empty CSV files.
REPO_LEADERBOARD = Path(__file__).resolve().parent.parent / "leaderboard"
ATTACK_GRID = "attacks-demo"


@dataclass
class DemoConfig:
    out: Path
    num_images: int = 100
    seed: int = 0
    jobs: int = 2
    corruptions: str = "all"
    severities: str = "1,2,3,4,5"
    stability: bool = True
    stability_severity: int = 3
    leaderboard_dir: Path | None = None  # None: a copy under out/leaderboard
    models: list[str] = field(default_factory=list)  # shipped model names; empty: all
    models_dir: Path | None = None  # folder of <name>.safetensors + <name>.json (default: shipped)
    progress: bool = True


def _step(msg: str, t0: float) -> None:
    log.info("[%6.1f s] %s", time.perf_counter() - t0, msg)


def run_demo(config: DemoConfig) -> dict:
    """Run every step; returns {paths, models: {name: summary numbers}, seconds}."""
    from robustpose_bench.datasets import load_dataset
    from robustpose_bench.datasets.synthpose import generate
    from robustpose_bench.evaluation import evaluate
    from robustpose_bench.evaluation.resolve import attack_conditions, shipped_models
    from robustpose_bench.leaderboard import add_results, build
    from robustpose_bench.names import CORRUPTIONS, SEVERITIES
    from robustpose_bench.render.benchmark import (
        attack_benchmark,
        generate_benchmark,
        parse_corruptions,
        parse_severities,
    )
    from robustpose_bench.render.conditions import Condition
    from robustpose_bench.render.protocol import get_protocol
    from robustpose_bench.report import make_report

    t0 = time.perf_counter()
    out = Path(config.out)
    data = out / "data" / "synthpose"
    _step(f"synthesising SynthPose val ({config.num_images} images, seed {config.seed}) in {data}", t0)
    paths = generate(data, split="val", num_images=config.num_images, seed=config.seed,
                     jobs=config.jobs)
    dataset = load_dataset(Path(paths["ann_file"]), Path(paths["image_root"]))
    _step(f"{len(dataset)} images, {dataset.num_persons} persons", t0)

    bench = out / "data" / "synthpose-c"
    names = parse_corruptions(config.corruptions)
    stab = parse_corruptions("extra") if config.stability else []
    sevs = parse_severities(config.severities)
    stab_conds = [Condition.corruption(c, config.stability_severity) for c in stab]
    _step(f"rendering SynthPose-C: {len(names)} corruptions x {len(sevs)} severities (+ "
          f"{len(stab)} held-out at severity {config.stability_severity} for stability) -> "
          f"{bench}", t0)
    manifest, report = generate_benchmark(dataset, bench, names, sevs,
                                          get_protocol("robustpose"), jobs=config.jobs,
                                          name="synthpose-c", progress=config.progress,
                                          extra_conditions=stab_conds)
    _step(f"rendered {report.rendered} files ({report.skipped} already there) in "
          f"{report.seconds:.1f} s; benchmark sha256 {manifest['benchmark_sha256'][:12]}", t0)

    attack_dir = out / "data" / "synthpose-attack"
    conds = attack_conditions(ATTACK_GRID, dataset.meta)
    attack_benchmark(dataset, attack_dir, conds,
                     get_protocol("robustpose").with_overrides(format="png"),
                     jobs=config.jobs, name="synthpose-attack", progress=config.progress)
    _step(f"rendered image-mode attacks {', '.join(c.id for c in conds)} -> {attack_dir}", t0)

    models = shipped_models(config.models_dir)
    if config.models:
        models = {k: v for k, v in models.items() if k in config.models}
    if not models:
        raise RuntimeError(f"no model checkpoint (+ JSON sidecar) found in "
                           f"{config.models_dir or 'the shipped models'}")
    lb_dir = Path(config.leaderboard_dir) if config.leaderboard_dir else out / "leaderboard"
    if config.leaderboard_dir is None:
        if lb_dir.exists():
            shutil.rmtree(lb_dir)
        if REPO_LEADERBOARD.is_dir():
            shutil.copytree(REPO_LEADERBOARD, lb_dir)
        else:
            lb_dir.mkdir(parents=True)
            _step(f"no repository leaderboard next to the package: starting an empty one in "
                  f"{lb_dir}", t0)
    # a reduced demo (fewer corruptions or severities) is marked partial, not refused
    partial = set(names) != set(CORRUPTIONS) or set(sevs) != set(SEVERITIES)
    results_dirs, numbers = [], {}
    for name, info in models.items():
        rdir = out / "results" / name
        _step(f"evaluating {name} ({info.get('model')}, {info.get('method', 'standard')}) on "
              f"clean + {len(names) * len(sevs)} conditions + {len(conds)} attacks"
              + (f" + {len(stab_conds)} stability conditions" if stab else ""), t0)
        summary = evaluate(
            info["model"], dataset, [Condition.corruption(c, s) for c in names for s in sevs],
            model_args={"checkpoint": info["checkpoint"], "name": name,
                        "method": info.get("method", "standard")},
            rendered=bench, attacks=ATTACK_GRID, attack_mode="crop",
            stability="extra" if stab else None, stability_severities=[config.stability_severity],
            metric="AP", batch_size=64, workers=0, allow_partial=partial, out=rdir,
            progress=config.progress)
        numbers[name] = {k: round(summary[k], 2) for k in ("clean", "mPC", "rPC")}
        _step(f"{name}: AP {summary.clean:.2f}, mPC {summary.mPC:.2f}, rPC {summary.rPC:.2f}", t0)
        add_results(rdir, lb_dir / "synthpose-c.csv", name=name, allow_partial=partial)
        results_dirs.append(rdir)
    build(lb_dir)
    report_dir = out / "report"
    make_report(results_dirs, report_dir)
    seconds = time.perf_counter() - t0
    _step("done", t0)
    return {"seconds": round(seconds, 1), "models": numbers, "paths": {
        "synthpose": str(data), "synthpose_c": str(bench), "attacks": str(attack_dir),
        "results": [str(r) for r in results_dirs], "leaderboard_csv": str(lb_dir / "synthpose-c.csv"),
        "leaderboard_html": str(lb_dir / "index.html"), "report": str(report_dir / "report.md")}}
