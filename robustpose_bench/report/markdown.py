"""`robustpose report`: tables and figures of one or more results folders in a markdown report.

Tables follow AdvMix (Wang et al., CVPR 2021) Tables 1-3 (clean, mPC, rPC, per corruption) and
the figures of report.figures (AdvMix Fig. 4a/4b/5, Pytel et al. Fig. 5/7, RUC curves).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robustpose_bench.io import atomic_write_text
from robustpose_bench.names import CATEGORIES, SEVERITIES, method_name
from robustpose_bench.names import CORRUPTIONS as BENCHMARK_CORRUPTIONS
from robustpose_bench.occlusion.modes import list_modes
from robustpose_bench.occlusion.targets import DEFAULT_RADIUS
from robustpose_bench.render.conditions import Condition
from robustpose_bench.report import figures as F
from robustpose_bench.results import Summary, SummaryError, target_kind

log = logging.getLogger(__name__)


@dataclass
class Run:
    """One results folder, reduced to what the report shows (all scores in percent)."""

    label: str
    path: Path
    summary: Summary
    metric: str
    dataset: str
    clean: float
    mpc: float | None = None
    rpc: float | None = None
    per_corruption: dict[str, float] = field(default_factory=dict)
    per_severity: dict[int, float] = field(default_factory=dict)
    per_category: dict[str, float] = field(default_factory=dict)
    extra_corruptions: dict[str, float] = field(default_factory=dict)
    attacks: dict[str, float] = field(default_factory=dict)
    stability: dict[str, dict[str, Any]] = field(default_factory=dict)
    partial: bool = False

    @property
    def input_size(self) -> str:
        size = (self.summary.get("model") or {}).get("input_size")
        return f"{size[1]}x{size[0]}" if size else ""


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def load_run(results: str | Path) -> Run:
    """Read and reduce one results folder; schema problems are logged, not fatal, as long as
    the metric and the clean score are there."""
    summary = Summary.load(results)
    path = Path(results)
    summary.source = str(path)
    for problem in summary.validate(allow_partial=True, need_corruptions=False):
        log.warning("%s", problem)
    metric, clean = summary.metric, summary.clean
    if metric not in ("AP", "PCKh") or not isinstance(clean, int | float):
        raise SummaryError(f"{path}: summary.json needs metric (AP/PCKh) and clean")
    model = summary.model or {}
    label = str(model.get("name") or path.name)
    method = method_name(model.get("method")) if model.get("method") else None
    if method and method.lower() not in label.lower():
        label = f"{label} {method}"
    run = Run(label, path, summary, metric, summary.dataset_name or "unknown", float(clean))
    m = summary.condition_matrix()
    if any(c in m for c in BENCHMARK_CORRUPTIONS):
        rec = summary.recompute()
        run.mpc, run.rpc, run.per_corruption = rec["mPC"], rec["rPC"], rec["per_corruption"]
        for s in SEVERITIES:
            vals = [m[c][s] for c in BENCHMARK_CORRUPTIONS if c in m and s in m[c]]
            if vals:
                run.per_severity[s] = sum(vals) / len(vals)
        for cat, names in CATEGORIES.items():
            v = _mean([run.per_corruption[c] for c in names if c in run.per_corruption])
            if v is not None:
                run.per_category[cat] = v
        run.partial = any(s not in m.get(c, {}) for c in BENCHMARK_CORRUPTIONS
                          for s in SEVERITIES)
    for c, sev in m.items():
        if c not in BENCHMARK_CORRUPTIONS and sev:
            run.extra_corruptions[c] = sum(sev.values()) / len(sev)
    run.attacks = summary.attack_scores("AP")
    for k, v in (summary.stability or {}).items():
        if isinstance(v, Mapping):
            run.stability[str(k)] = dict(v)
    return run


def _unique_labels(runs: list[Run]) -> None:
    seen: dict[str, int] = {}
    for r in runs:
        seen[r.label] = seen.get(r.label, 0) + 1
    for r in runs:
        if seen[r.label] > 1 and r.input_size:
            r.label = f"{r.label} {r.input_size}"
    seen = {}
    for r in runs:
        seen[r.label] = seen.get(r.label, 0) + 1
    for r in runs:
        if seen[r.label] > 1:
            r.label = f"{r.label} ({r.path.name})"


def _num_or_none(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _fmt(v: float | None, nd: int = 1) -> str:
    return "" if v is None else f"{v:.{nd}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _figure_md(paths: Sequence[Path], out_dir: Path, alt: str) -> list[str]:
    png = next((p for p in paths if p.suffix == ".png"), None)
    svg = next((p for p in paths if p.suffix == ".svg"), None)
    lines = []
    if png is not None:
        lines.append(f"![{alt}]({png.relative_to(out_dir).as_posix()})")
    if svg is not None:
        lines.append(f"[SVG]({svg.relative_to(out_dir).as_posix()})")
    return [" ".join(lines), ""] if lines else []


def _stability_curve(entries: Mapping[str, Mapping[str, Any]]
                     ) -> tuple[list[float], list[float]] | None:
    """Mean stability curve over perturbations: entries carry `curve` (or `stable_fraction`,
    fractions 0..1) and optionally `thresholds` (pixels; default 1..len)."""
    curves = []
    for v in entries.values():
        ys = v.get("curve", v.get("stable_fraction"))
        if not isinstance(ys, list) or not ys:
            continue
        xs = v.get("thresholds", v.get("thresholds_px")) or list(range(1, len(ys) + 1))
        curves.append((list(map(float, xs)), list(map(float, ys))))
    if not curves:
        return None
    xs = curves[0][0]
    same = [ys for x, ys in curves if x == xs]
    return xs, [sum(col) / len(col) for col in zip(*same, strict=True)]


def make_report(results_dirs: Sequence[str | Path], out_dir: str | Path,
                formats: Sequence[str] = ("png", "svg"), title: str | None = None) -> Path:
    """Write `out_dir/report.md` and its figures under `out_dir/figures/` for the results
    folders given (each with a summary.json). Returns the report path.

    Runs are grouped by (data set, metric); each group gets its own tables and figures.
    """
    if not results_dirs:
        raise SummaryError("no results folders given")
    out = Path(out_dir)
    fig_dir = out / "figures"
    runs = [load_run(r) for r in results_dirs]
    _unique_labels(runs)
    groups: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.dataset, r.metric), []).append(r)

    md: list[str] = [f"# {title or 'Robustness report'}", ""]
    md += ["Scores in percent. mPC: mean over the 15 corruptions x 5 severities; rPC = 100 * "
           "mPC / clean (AdvMix, Wang et al. CVPR 2021, eq. 1-4). Attack losses: clean AP - "
           "attacked AP in AP points (Pytel et al.).", ""]
    md += ["## Runs", ""]
    md += _table(
        ["model", "results", "data set", "metric", "boxes", "protocol", "seed", "version",
         "manifest"],
        [[r.label, f"`{r.path}`", r.dataset, r.metric, str(r.summary.get("boxes", "")),
          str((r.summary.get("protocol") or {}).get("name", "")),
          str((r.summary.get("protocol") or {}).get("seed", "")),
          str((r.summary.get("versions") or {}).get("robustpose_bench", "")),
          str((r.summary.get("manifest") or {}).get("sha256", ""))[:12]] for r in runs])
    md.append("")

    for (dataset, metric), members in groups.items():
        stem = dataset.lower().replace(" ", "_")
        md += [f"## {dataset} ({metric})", ""]
        corr = [r for r in members if r.mpc is not None]
        if corr:
            md += ["### Clean, mPC and rPC", ""]
            md += _table(
                ["model", "input", f"clean {metric}*", "mPC", "rPC",
                 *CATEGORIES, "complete"],
                [[r.label, r.input_size, _fmt(r.clean, 2), _fmt(r.mpc, 2), _fmt(r.rpc, 2),
                  *[_fmt(r.per_category.get(c), 2) for c in CATEGORIES],
                  "no (partial)" if r.partial else "yes"]
                 for r in sorted(corr, key=lambda r: -(r.mpc or 0))])
            md.append("")
            md += ["### Per corruption (mean over severities 1-5)", ""]
            md += _table(["corruption", *[r.label for r in corr]],
                         [[c, *[_fmt(r.per_corruption.get(c), 2) for r in corr]]
                          for c in BENCHMARK_CORRUPTIONS])
            md.append("")
            md += ["### Per severity (mean over the 15 corruptions)", ""]
            md += _table(["severity", *[r.label for r in corr]],
                         [["clean", *[_fmt(r.clean, 2) for r in corr]]]
                         + [[str(s), *[_fmt(r.per_severity.get(s), 2) for r in corr]]
                            for s in SEVERITIES])
            md.append("")
            extras = sorted({c for r in corr for c in r.extra_corruptions})
            if extras:
                md += ["### Held-out corruptions (not in mPC)", ""]
                md += _table(["corruption", *[r.label for r in corr]],
                             [[c, *[_fmt(r.extra_corruptions.get(c), 2) for r in corr]]
                              for c in extras])
                md.append("")
            paths = F.save_figure(F.plot_per_corruption(
                {r.label: r.per_corruption for r in corr}, metric,
                title=f"{dataset}: {metric} per corruption (mean over severities 1-5)"),
                fig_dir, f"{stem}_per_corruption", formats)
            md += ["### Figures", ""]
            md += _figure_md(paths, out, f"{metric} per corruption")
            paths = F.save_figure(F.plot_severity(
                {r.label: r.per_severity for r in corr}, metric,
                clean={r.label: r.clean for r in corr},
                title=f"{dataset}: {metric} vs severity (mean over 15 corruptions)"),
                fig_dir, f"{stem}_severity", formats)
            md += _figure_md(paths, out, f"{metric} vs severity")
            ordered = sorted(corr, key=lambda r: (_size_key(r.input_size),
                                                  (r.summary.get("model") or {}).get("params")
                                                  or 0, r.label))
            paths = F.save_figure(F.plot_clean_vs_rpc(
                [{"label": r.label, "clean": r.clean, "rPC": r.rpc, "group": r.input_size}
                 for r in ordered], metric,
                title=f"{dataset}: clean {metric}* (line) and rPC (bars)"),
                fig_dir, f"{stem}_clean_vs_rpc", formats)
            md += _figure_md(paths, out, f"clean {metric} vs rPC")
        md += _attack_section(members, dataset, stem, fig_dir, out, formats)
        md += _stability_section(members, dataset, stem, fig_dir, out, formats)
    path = atomic_write_text(out / "report.md", "\n".join(md).rstrip() + "\n")
    log.info("report written to %s", path)
    return path


def _size_key(size: str) -> tuple[int, int]:
    try:
        h, w = size.split("x")
        return int(h), int(w)
    except ValueError:
        return (0, 0)


def _attack_conditions(run: Run) -> dict[str, Condition]:
    """The run's scored attacks (key -> Condition) whose keys parse."""
    conds = run.summary.attack_conditions()
    return {k: conds[k] for k in run.attacks if k in conds}


def _attack_section(members: list[Run], dataset: str, stem: str, fig_dir: Path, out: Path,
                    formats: Sequence[str]) -> list[str]:
    runs = [r for r in members if r.attacks]
    if not runs:
        return []
    md = ["### Occlusion attacks", ""]
    keys = list(dict.fromkeys(k for r in runs for k in r.attacks))
    md += _table(["attack (mode/target)", *[f"{r.label} AP" for r in runs],
                  *[f"{r.label} loss" for r in runs]],
                 [[k, *[_fmt(r.attacks.get(k), 2) for r in runs],
                   *[_fmt(None if k not in r.attacks else r.clean - r.attacks[k], 2)
                     for r in runs]] for k in keys])
    md.append("")
    from robustpose_bench.datasets.meta import COCO, KNOWN_METAS
    meta = KNOWN_METAS.get(dataset.lower(), COCO)
    for kind, order in (("keypoint", list(meta.keypoint_names)),
                        ("part", list(meta.part_groups))):
        per_model: dict[str, dict[str, dict[str, float]]] = {}
        targets: list[str] = []
        for r in runs:
            for k, cond in _attack_conditions(r).items():
                if cond.radius is not None or target_kind(cond, dataset) != kind:
                    continue
                per_model.setdefault(r.label, {}).setdefault(cond.name, {})[
                    cond.target_name] = r.clean - r.attacks[k]
                targets.append(cond.target_name)
        if not per_model:
            continue
        present = set(targets)
        ordered = [t for t in order if t in present] + sorted(present - set(order))
        fig = F.plot_attack_losses(
            per_model, ordered, kind,
            title=(f"{dataset}: loss in AP per occluded {kind} "
                   f"({'Pytel et al. Fig. 5' if kind == 'keypoint' else 'Pytel et al. Fig. 7'})"))
        paths = F.save_figure(fig, fig_dir, f"{stem}_attacks_{kind}", formats)
        md += _figure_md(paths, out, f"{kind} attacks")
    # loss vs radius: mean over the keypoints attacked at every radius of the sweep, so that
    # each point averages the same targets
    means: dict[str, dict[str, dict[float, float]]] = {}
    for r in runs:
        conds = _attack_conditions(r)
        if not any(c.radius is not None for c in conds.values()):
            continue
        grid: dict[str, dict[str, dict[float, float]]] = {}
        for k, cond in conds.items():
            if target_kind(cond, dataset) == "keypoint":
                rad = DEFAULT_RADIUS if cond.radius is None else cond.radius
                grid.setdefault(cond.name, {}).setdefault(cond.target_name, {})[rad] = \
                    r.clean - r.attacks[k]
        for mode, per_target in grid.items():
            radii = sorted({rad for v in per_target.values() for rad in v})
            common = [v for v in per_target.values() if all(rad in v for rad in radii)]
            if len(radii) > 1 and common:
                means.setdefault(r.label, {})[mode] = {
                    rad: sum(v[rad] for v in common) / len(common) for rad in radii}
    if means:
        paths = F.save_figure(F.plot_attack_radius(
            means, title=f"{dataset}: keypoint attacks, loss in AP vs radius "
                         "(Pytel et al. Fig. 4)"), fig_dir, f"{stem}_attacks_radius", formats)
        md += _figure_md(paths, out, "attack radius")
    modes = list_modes()
    unknown = sorted({c.name for r in runs for c in _attack_conditions(r).values()}
                     - set(modes))
    if unknown:
        md += [f"Attack modes beyond {modes}: {unknown}.", ""]
    return md


def _stability_set(run: Run) -> str:
    """The named perturbation set a run's stability numbers used (summary.json
    `metric_options.stability_set`; "custom" for a hand-picked list of conditions)."""
    options = run.summary.get("metric_options") or {}
    return str(options.get("stability_set") or "custom")


def _stability_section(members: list[Run], dataset: str, stem: str, fig_dir: Path, out: Path,
                       formats: Sequence[str]) -> list[str]:
    runs = [r for r in members if r.stability]
    if not runs:
        return []
    md = ["### Stability (R and RUC)", ""]
    conds = list(dict.fromkeys(c for r in runs for c in r.stability))
    rows = []
    for r in runs:
        for c in conds:
            e = r.stability.get(c)
            if e is None:
                continue
            rows.append([r.label, _stability_set(r), c, _fmt(_num_or_none(e.get("R_mean")), 3),
                         _fmt(_num_or_none(e.get("RUC")), 3),
                         _fmt(_num_or_none(e.get("RUC_norm")), 3)])
    md += ["R_mean: mean squared displacement between clean and perturbed predictions "
           "(px^2, image pixels; R of eq. 10 divided by its number of terms). RUC: area under "
           "the stability curve over P = 1..Pmax px, normalised to 0..1; RUC_norm: the same "
           "with displacements in percent of the person scale. set: the named perturbation set "
           "(`metrics.stability.PERTURBATION_SETS`; extra: the 4 corruptions held out from mPC, "
           "stable-heatmap: the stable-heatmap paper's five).", ""]
    md += _table(["model", "set", "perturbation", "R_mean (px^2)", "RUC", "RUC_norm"], rows)
    md.append("")
    curves = {}
    for r in runs:
        c = _stability_curve(r.stability)
        if c is not None:
            curves[r.label] = c
    # the bars show the same (pixel) RUC as the curves' area
    ruc = {r.label: {c: float(e["RUC"]) for c, e in r.stability.items()
                     if _num_or_none(e.get("RUC")) is not None}
           for r in runs}
    ruc = {k: v for k, v in ruc.items() if v}
    if curves or ruc:
        paths = F.save_figure(F.plot_stability(curves, ruc, unit="px, image pixels",
                                               title=f"{dataset}: prediction stability"),
                              fig_dir, f"{stem}_stability", formats)
        md += _figure_md(paths, out, "stability")
    return md
