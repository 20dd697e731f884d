"""Figures of the robustness report (matplotlib, Agg backend; PNG + SVG).

Follows AdvMix (Wang et al., CVPR 2021) Fig. 4a (per-corruption bars), Fig. 4b (score vs
severity) and Fig. 5 (clean AP* line vs rPC bars); Pytel et al. Fig. 5 / 7 (loss in AP per
occluded keypoint / part); the stable-heatmap paper's RUC curves (fraction of stable
predictions vs pixel threshold).
"""
from __future__ import annotations

import functools
import io
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from robustpose_bench.io import atomic_write_bytes  # noqa: E402
from robustpose_bench.names import CATEGORIES, SHORT_NAMES  # noqa: E402,F401 (re-exported)
from robustpose_bench.names import CORRUPTIONS as BENCHMARK_CORRUPTIONS  # noqa: E402

log = logging.getLogger(__name__)


def _category_spans() -> tuple[tuple[str, int, int], ...]:
    """(category, first, end) index spans of names.CATEGORIES in the benchmark order."""
    spans = []
    for cat, members in CATEGORIES.items():
        first = BENCHMARK_CORRUPTIONS.index(members[0])
        spans.append((cat, first, first + len(members)))
    return tuple(spans)


CATEGORY_SPANS: tuple[tuple[str, int, int], ...] = _category_spans()
MODE_COLORS: dict[str, str] = {"blackout": "#222222", "meanout": "#8c8c8c", "blur": "#4c72b0"}
METRIC_LABELS: dict[str, str] = {"AP": "AP (%)", "PCKh": "PCKh@0.5 (%)"}

_RC = {
    "svg.hashsalt": "robustpose",  # deterministic SVG ids
    "svg.fonttype": "none",        # text stays text: small, searchable SVG
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.axisbelow": True,
}


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, f"{metric} (%)")


def short_keypoint(name: str) -> str:
    """'left_eye' -> 'L. eye' (the labels of Pytel et al. Fig. 5)."""
    for side, short in (("left_", "L. "), ("right_", "R. ")):
        if name.startswith(side):
            return short + name[len(side):].replace("_", " ")
    return name.replace("_", " ")


def _colors(n: int) -> list:
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def styled(func: Callable[..., Figure]) -> Callable[..., Figure]:
    """Run a plotting function under the report's rc settings (grid, fonts, SVG ids)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs) -> Figure:
        with plt.rc_context(_RC):
            return func(*args, **kwargs)
    return wrapper


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure (no global state) with constrained layout."""
    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Figure, out_dir: str | Path, stem: str,
                formats: Sequence[str] = ("png", "svg"), dpi: int = 130) -> list[Path]:
    """Write `fig` as `<out_dir>/<stem>.<fmt>` for each format, atomically; returns the paths
    (vector formats first). Metadata that changes between runs (dates, software versions) is
    left out."""
    paths = []
    # vector formats first: the first draw fixes the constrained layout, so an SVG is the
    # same whether or not a PNG is written too (the page inlines the SVG)
    order = sorted(formats, key=lambda f: (f not in ("svg", "pdf"), list(formats).index(f)))
    for fmt in order:
        buf = io.BytesIO()
        meta = {"Date": None} if fmt in ("svg", "pdf") else {"Software": None}
        with plt.rc_context(_RC):
            fig.savefig(buf, format=fmt, dpi=dpi, metadata=meta)
        paths.append(atomic_write_bytes(Path(out_dir) / f"{stem}.{fmt}", buf.getvalue()))
    return paths


def _legend(ax, **kw) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=8, framealpha=0.9, **kw)


@styled
def plot_per_corruption(models: Mapping[str, Mapping[str, float]], metric: str = "AP",
                        clean: Mapping[str, float] | None = None,
                        title: str | None = None) -> Figure:
    """Grouped bars: score per corruption (mean over severities), one bar per model
    (AdvMix Fig. 4a). models: label -> {corruption: percent}; clean: label -> percent."""
    names = [c for c in BENCHMARK_CORRUPTIONS if any(c in m for m in models.values())]
    extra = sorted({c for m in models.values() for c in m} - set(BENCHMARK_CORRUPTIONS))
    names += extra
    fig = new_figure(max(9.0, 0.65 * len(names) + 2.5), 4.6 + 0.22 * ((len(models) + 3) // 4))
    ax = fig.add_subplot()
    n = max(len(models), 1)
    width = 0.8 / n
    for i, ((label, scores), color) in enumerate(zip(models.items(), _colors(n), strict=True)):
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(names))]
        ys = [scores.get(c, float("nan")) for c in names]
        ax.bar(xs, ys, width=width, color=color, label=label)
        if clean and label in clean:
            ax.axhline(clean[label], color=color, linestyle="--", linewidth=1,
                       label=f"{label}: clean")
    for cat, a, b in CATEGORY_SPANS:
        if b <= len(names) and names[a:b] == list(BENCHMARK_CORRUPTIONS[a:b]):
            if cat in ("noise", "weather"):
                ax.axvspan(a - 0.5, b - 0.5, color="0.93", zorder=0)
            ax.text((a + b - 1) / 2, 1.0, cat, transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=9, color="0.3")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([SHORT_NAMES.get(c, c) for c in names], rotation=30, ha="right")
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_xlabel("Corruption")
    ax.set_ylabel(f"{metric_label(metric)}, mean over severities 1-5")
    ax.set_title(title or f"{metric} per corruption", pad=16)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", fontsize=8,
                   ncol=min(4, len(handles)), frameon=False)
    return fig


@styled
def plot_severity(models: Mapping[str, Mapping[int, float]], metric: str = "AP",
                  clean: Mapping[str, float] | None = None,
                  title: str | None = None) -> Figure:
    """Score vs corruption severity (mean over corruptions), severity 0 = clean data
    (AdvMix Fig. 4b). models: label -> {severity: percent}."""
    fig = new_figure(6.4, 4.4)
    ax = fig.add_subplot()
    markers = "osD^vP*X"
    for i, ((label, per_sev), color) in enumerate(
            zip(models.items(), _colors(len(models)), strict=True)):
        xs = sorted(per_sev)
        ys = [per_sev[s] for s in xs]
        if clean and label in clean:
            xs, ys = [0, *xs], [clean[label], *ys]
        ax.plot(xs, ys, marker=markers[i % len(markers)], color=color, label=label)
    ax.set_xticks(range(0, 6))
    ax.set_xticklabels(["clean", "1", "2", "3", "4", "5"])
    ax.set_xlabel("Corruption severity")
    ax.set_ylabel(f"{metric_label(metric)}, mean over corruptions")
    ax.set_title(title or f"{metric} vs corruption severity")
    _legend(ax, loc="lower left")
    return fig


@styled
def plot_clean_vs_rpc(entries: Sequence[Mapping], metric: str = "AP",
                      title: str | None = None) -> Figure:
    """Bars: rPC per model; line (right axis): clean score AP* / PCKh*; bar colour: the group
    (input size), as in AdvMix Fig. 5. entries: dicts with label, clean, rPC, group."""
    longest = max((len(str(e["label"])) for e in entries), default=10)
    fig = new_figure(max(6.4, 0.62 * len(entries) + 2.5), 4.0 + 0.07 * longest)
    ax = fig.add_subplot()
    groups = list(dict.fromkeys(str(e.get("group", "")) for e in entries))
    gcolor = dict(zip(groups, _colors(len(groups)), strict=True))
    xs = list(range(len(entries)))
    done: set[str] = set()
    for x, e in zip(xs, entries, strict=True):
        g = str(e.get("group", ""))
        ax.bar(x, e["rPC"], color=gcolor[g], width=0.6,
               label=(f"rPC, input {g}" if g else "rPC") if g not in done else None)
        ax.text(x, e["rPC"], f"{e['rPC']:.1f}", ha="center", va="bottom", fontsize=8)
        done.add(g)
    # bars start at zero (no exaggerated differences) and stay below 1/1.3 of the height;
    # the clean-score line lives in the band above them
    top = max([100.0, *[float(e["rPC"]) for e in entries]])  # rPC > 100 is possible
    ax.set_ylim(0.0, 1.3 * top)
    ax.set_yticks(range(0, int(top) + 1, 20))
    ax.set_ylabel("rPC = mPC / clean (%), bars")
    ax.set_xticks(xs)
    ax.set_xticklabels([str(e["label"]) for e in entries], rotation=30, ha="right")
    ax.set_xlim(-0.6, len(entries) - 0.4)
    ax2 = ax.twinx()
    ax2.grid(False)
    ax2.plot(xs, [e["clean"] for e in entries], color="black", marker="o",
             label=f"clean {metric}*")
    for x, e in zip(xs, entries, strict=True):
        ax2.annotate(f"{e['clean']:.1f}", (x, e["clean"]), textcoords="offset points",
                     xytext=(0, 6), ha="center", fontsize=8)
    cl = [e["clean"] for e in entries]
    if cl:
        lo, hi = min(cl), max(cl)
        span = max((hi - lo) / 0.13, 8.0)  # lo at 80 %, hi at <= 93 % of the height
        bottom = lo - 0.80 * span
        ax2.set_ylim(bottom, bottom + span)
        ticks = sorted({round(lo), round((lo + hi) / 2), round(hi)})
        ax2.set_yticks(ticks)
    ax2.set_ylabel(f"clean {metric}* (%), line")
    ax.set_title(title or f"Clean {metric}* (line) and rPC (bars)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    fig.legend(h1 + h2, l1 + l2, fontsize=8, loc="outside lower center",
               ncol=min(4, len(h1) + len(h2)), frameon=False)
    return fig


@styled
def plot_attack_losses(models: Mapping[str, Mapping[str, Mapping[str, float]]],
                       targets: Sequence[str], kind: str = "keypoint",
                       title: str | None = None) -> Figure:
    """Loss in AP (clean AP - attacked AP, percentage points) per occluded target, bars per
    attack mode, one panel per model (Pytel et al. Fig. 5 for keypoints, Fig. 7 for parts).
    models: label -> {mode: {target: loss}}."""
    n = max(len(models), 1)
    fig = new_figure(max(7.0, 0.55 * len(targets) + 2.5), 2.9 * n + 0.6)
    axes = fig.subplots(n, 1, squeeze=False, sharey=True)[:, 0]
    for ax, (label, per_mode) in zip(axes[:len(models)], models.items(), strict=True):
        modes = [m for m in MODE_COLORS if m in per_mode] + sorted(set(per_mode) -
                                                                   set(MODE_COLORS))
        width = 0.8 / max(len(modes), 1)
        extra_colors = _colors(len(modes))
        for i, mode in enumerate(modes):
            xs = [j + (i - (len(modes) - 1) / 2) * width for j in range(len(targets))]
            ys = [per_mode[mode].get(t, float("nan")) for t in targets]
            ax.bar(xs, ys, width=width, label=mode,
                   color=MODE_COLORS.get(mode, extra_colors[i]))
        ax.axhline(0.0, color="black", linewidth=0.8)
        pad = max(0.0, (4 - len(targets)) / 2)  # few targets: keep the bars narrow
        ax.set_xlim(-0.6 - pad, len(targets) - 0.4 + pad)
        ax.set_xticks(range(len(targets)))
        ax.set_xticklabels([short_keypoint(t) for t in targets], rotation=30, ha="right")
        ax.set_ylabel("Loss in AP (points)")
        ax.set_title(label, fontsize=10)
        _legend(ax, loc="upper right", title="attack", title_fontsize=8)
    axes[-1].set_xlabel("Occluded keypoint" if kind == "keypoint" else "Occluded part")
    fig.suptitle(title or (f"{kind.capitalize()} occlusion attacks: loss in AP vs clean"))
    return fig


@styled
def plot_attack_radius(models: Mapping[str, Mapping[str, Mapping[float, float]]],
                       title: str | None = None) -> Figure:
    """Mean loss in AP over the attacked keypoints vs circle radius (model-input pixels), one
    line per model and mode (Pytel et al. Fig. 4). models: label -> {mode: {radius: loss}}."""
    fig = new_figure(6.4, 4.4)
    ax = fig.add_subplot()
    styles = ("-", "--", ":", "-.")
    for (label, per_mode), color in zip(models.items(), _colors(len(models)), strict=True):
        for j, (mode, per_r) in enumerate(per_mode.items()):
            rs = sorted(per_r)
            ax.plot(rs, [per_r[r] for r in rs], marker="o", color=color,
                    linestyle=styles[j % len(styles)],
                    label=f"{label}: {mode}" if len(models) > 1 else mode)
    ax.set_xlabel("Occlusion radius (model-input px)")
    ax.set_ylabel("Mean loss in AP over keypoints (points)")
    ax.set_title(title or "Keypoint attacks: loss in AP vs occlusion size")
    _legend(ax, loc="upper left")
    return fig


@styled
def plot_stability(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                   ruc: Mapping[str, Mapping[str, float]], unit: str = "px",
                   title: str | None = None) -> Figure:
    """Left: fraction of stable predictions vs pixel threshold P (mean over perturbations),
    one line per model; right: RUC per perturbation, one bar per model. Either may be empty.
    curves: label -> (thresholds, fractions in 0..1); ruc: label -> {condition: RUC 0..1}."""
    panels = int(bool(curves)) + int(bool(ruc))
    conds = list(dict.fromkeys(c for r in ruc.values() for c in r))
    if panels == 2 and len(conds) * max(len(ruc), 1) > 12:  # many bars: stack the panels
        fig = new_figure(max(7.0, 0.3 * len(conds) * (1 + 0.5 * len(ruc)) + 2.0), 9.0)
        axes = fig.subplots(2, 1, squeeze=False)[:, 0]
    else:
        fig = new_figure(5.2 * max(panels, 1) + (0.4 * len(conds) if ruc else 0), 4.4)
        axes = fig.subplots(1, max(panels, 1), squeeze=False)[0]
    colors = dict(zip(list(dict.fromkeys([*curves, *ruc])),
                      _colors(len(set(curves) | set(ruc))), strict=True))
    k = 0
    if curves:
        ax = axes[k]
        k += 1
        for label, (xs, ys) in curves.items():
            ax.plot(list(xs), [100.0 * y for y in ys], marker="o", markersize=3,
                    color=colors[label], label=label)
        ax.set_xlabel(f"Threshold P ({unit})")
        ax.set_ylabel("Stable predictions (%)")
        ax.set_ylim(0, 100)
        ax.set_title("Stability curve, mean over perturbations (area = RUC)")
        _legend(ax, loc="lower right")
    if ruc:
        ax = axes[k]
        n = len(ruc)
        width = 0.8 / n
        for i, (label, per) in enumerate(ruc.items()):
            xs = [j + (i - (n - 1) / 2) * width for j in range(len(conds))]
            ax.bar(xs, [per.get(c, float("nan")) for c in conds], width=width,
                   color=colors[label], label=label)
        ax.set_xticks(range(len(conds)))
        ax.set_xticklabels(conds, rotation=30, ha="right")
        top = max((v for per in ruc.values() for v in per.values()), default=1.0)
        ax.set_ylim(0, 1.18 if top <= 1.0 else top * 1.18)  # headroom for the legend
        if top <= 1.0:
            ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.set_xlabel("Perturbation (corruption/severity)")
        ax.set_ylabel("RUC (normalised, 0-1)" if top <= 1.0 else "RUC")
        ax.set_title("Robustness under curve per perturbation")
        _legend(ax, loc="upper center", ncol=min(3, len(ruc)))
    if title:
        fig.suptitle(title)
    return fig


@styled
def plot_leaderboard(rows: Sequence[Mapping], metric: str = "AP", score: str = "mPC",
                     title: str | None = None) -> Figure:
    """Horizontal bars of `score` per leaderboard row (sorted, best on top) with the clean
    score as a marker; measured rows in a second colour. rows: dicts with label, clean,
    score, measured (bool)."""
    fig = new_figure(8.5, 0.28 * len(rows) + 1.6)
    ax = fig.add_subplot()
    ys = list(range(len(rows)))[::-1]
    colors = ["#dd8452" if r.get("measured") else "#4c72b0" for r in rows]
    ax.barh(ys, [r["score"] for r in rows], color=colors, height=0.7)
    ax.scatter([r["clean"] for r in rows], ys, marker="D", s=14, color="black", zorder=3,
               label=f"clean {metric}*")
    for y, r in zip(ys, rows, strict=True):
        ax.text(r["score"] + 0.3, y, f"{r['score']:.1f}", va="center", fontsize=7)
    ax.set_yticks(ys)
    ax.set_yticklabels([str(r["label"]) for r in rows], fontsize=7)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"{score} / clean {metric}* (%)")
    from matplotlib.patches import Patch
    handles = [Patch(color=c, label=f"{score}, {what}")
               for c, what, present in (
                   ("#4c72b0", "reported", any(not r.get("measured") for r in rows)),
                   ("#dd8452", "measured", any(r.get("measured") for r in rows)))
               if present]
    h, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles + h, fontsize=8, loc="lower right", framealpha=0.9)
    ax.set_title(title or f"{score} per model")
    return fig
