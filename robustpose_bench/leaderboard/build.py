"""`robustpose leaderboard build`: README.md tables (sorted by mPC), a self-contained sortable
index.html and ranking figures from the leaderboard CSV files (AdvMix Table 1 layout)."""
from __future__ import annotations

import base64
import html
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from robustpose_bench.io import atomic_write_text
from robustpose_bench.leaderboard.csvfile import Table, read_table
from robustpose_bench.leaderboard.schema import (
    BENCHMARK_CORRUPTIONS,
    BENCHMARKS,
    LeaderboardError,
    Schema,
)
from robustpose_bench.leaderboard.validate import validate_table

log = logging.getLogger(__name__)

# Display order of the known benchmark files; others follow alphabetically.
FILE_ORDER = ("coco-c", "mpii-c", "ochuman-c", "synthpose-c", "coco-occlusion")
TITLES = {"coco-c": "COCO-C", "mpii-c": "MPII-C", "ochuman-c": "OCHuman-C",
          "synthpose-c": "SynthPose-C", "coco-occlusion": "COCO occlusion attacks"}
# Columns that make reported rows "the same result" when a paper prints it in two tables.
_SAME_RESULT = ("model", "method", "backbone", "input_size", "boxes", "protocol", "seed",
                "source", "paper", "metric", "clean", "mPC", "rPC", "attacked")
MAX_PROFILE_ROWS = 8
FIG_DPI = 90  # the page inlines the PNGs: keep them small


@dataclass
class Entry:
    """A displayed row: one CSV row, or reported rows of several tables of one paper merged."""

    row: dict[str, str]
    tables: list[str]

    def num(self, col: str) -> float | None:
        text = self.row.get(col, "")
        try:
            return float(text) if text else None
        except ValueError:
            return None


def title_of(stem: str) -> str:
    return TITLES.get(stem, stem)


def entries(table: Table) -> list[Entry]:
    """Rows of a table with reported duplicates merged (same numbers in tables 1 and 2 of a
    paper become one entry citing both); per-corruption cells taken from the fullest row."""
    out: list[Entry] = []
    index: dict[tuple[str, ...], Entry] = {}
    for row in table.rows:
        if row.get("source") != "reported":
            out.append(Entry(dict(row), [row.get("table", "")] if row.get("table") else []))
            continue
        key = tuple(row.get(c, "") for c in _SAME_RESULT)
        if key in index:
            e = index[key]
            e.tables.append(row["table"])
            for c, v in row.items():
                if v and not e.row.get(c):
                    e.row[c] = v
            if row.get("notes") and row["notes"] not in e.row.get("notes", ""):
                e.row["notes"] = "; ".join(x for x in (e.row.get("notes"), row["notes"]) if x)
        else:
            e = Entry(dict(row), [row.get("table", "")])
            index[key] = e
            out.append(e)
    return out


def sort_entries(items: Sequence[Entry], score: str) -> list[Entry]:
    """Best `score` first; ties by clean score, then model, method, input size."""
    return sorted(items, key=lambda e: (-(e.num(score) if e.num(score) is not None else -1e9),
                                        -(e.num("clean") or 0.0), e.row.get("model", ""),
                                        e.row.get("method", ""), e.row.get("input_size", "")))


def boxes_label(boxes: str) -> str:
    if boxes == "gt":
        return "ground-truth boxes"
    if boxes == "none":
        return "bottom-up (no person boxes)"
    return f"detected boxes (`{_md_code(boxes)}`)"


def _boxes_short(boxes: str) -> str:
    return {"gt": "GT boxes", "none": "bottom-up"}.get(boxes, "det. boxes")


def source_text(e: Entry) -> str:
    r = e.row
    if r.get("source") == "reported":
        tables = sorted(set(e.tables), key=lambda t: (len(t), t))
        word = "Tables" if len(tables) > 1 else "Table"
        paper = r.get("paper", "").split(" (")[0]
        return f"{paper}, {word} {', '.join(tables)}"
    return f"measured, robustpose {r.get('version', '')}, {r.get('date', '')}"


def _label(e: Entry) -> str:
    r = e.row
    parts = [r.get("backbone") or r.get("model", ""), r.get("input_size", ""),
             r.get("method", "")]
    if r.get("model") and r.get("backbone") and not r["backbone"].lower().startswith(
            r["model"].lower()[:4]):
        parts.insert(0, r["model"])
    return " ".join(p for p in parts if p) + f" ({_boxes_short(r.get('boxes', ''))})"


def _md_cell(text: str) -> str:
    """A CSV cell as Markdown table text: HTML escaped (names cannot carry markup into the
    rendered README), pipes escaped, one line."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def _md_code(text: str) -> str:
    """Text inside a Markdown code span (backticks cannot close it)."""
    return text.replace("`", "'").replace("\n", " ")


def _score_columns(schema: Schema) -> list[tuple[str, str]]:
    if schema.kind == "occlusion":
        return [("clean", "clean AP*"), ("attacked", "attacked"), ("rel_attacked", "rel."),
                ("keypoint_attacks", "keypoint att."), ("part_attacks", "part att."),
                ("worst_attack", "worst attack"), ("worst", "worst AP")]
    return [("clean", "clean"), ("mPC", "mPC"), ("rPC", "rPC")]


def readme_section(table: Table, figures: dict[str, list[Path]], out_dir: Path) -> list[str]:
    schema = table.schema
    metric = BENCHMARKS.get(table.stem, (None, "AP"))[1]
    title = _md_cell(title_of(table.stem))
    md = [f"## {title} (`{_md_code(table.path.name)}`)", ""]
    items = entries(table)
    if not items:
        return md + ["_No rows yet._ Add a results folder with "
                     f"`robustpose leaderboard add RESULTS_DIR --csv "
                     f"{_md_code(table.path.name)}`.", ""]
    n_meas = sum(1 for e in items if e.row.get("source") == "measured")
    md += [f"{len(items)} entries ({len(items) - n_meas} reported, {n_meas} measured); "
           f"{metric} in percent, sorted by {schema.sort_by}.", ""]
    groups: dict[str, list[Entry]] = {}
    for e in items:
        groups.setdefault(e.row.get("boxes", ""), []).append(e)
    cols = _score_columns(schema)
    for boxes, members in groups.items():
        md += [f"### {title}: {boxes_label(boxes)}", ""]
        header = ["#", "model", "method", "backbone", "input", *[h for _, h in cols], "source"]
        if schema.kind == "corruption":
            header[5] = f"clean {metric}*"
        md.append("| " + " | ".join(header) + " |")
        align = ["---:", "---", "---", "---", "---",
                 *["---" if c == "worst_attack" else "---:" for c, _ in cols], "---"]
        md.append("|" + "|".join(align) + "|")
        for i, e in enumerate(sort_entries(members, schema.sort_by), 1):
            r = e.row
            cells = [str(i), r.get("model", ""), r.get("method", ""), r.get("backbone", ""),
                     r.get("input_size", ""), *[r.get(c, "") for c, _ in cols],
                     source_text(e)]
            cells = [_md_cell(c) for c in cells]
            if r.get("source") == "measured":
                cells[1] = f"**{cells[1]}**"
            md.append("| " + " | ".join(cells) + " |")
        md.append("")
    notes = sorted({e.row["notes"] for e in items if e.row.get("notes")})
    if notes:
        md += ["Notes:", ""] + [f"- {_md_cell(n)}" for n in notes] + [""]
    for name, paths in figures.items():
        png = next((p for p in paths if p.suffix == ".png"), None)
        svg = next((p for p in paths if p.suffix == ".svg"), None)
        if png is not None:
            link = f" ([SVG]({svg.relative_to(out_dir).as_posix()}))" if svg else ""
            md += [f"![{title} {name}]({png.relative_to(out_dir).as_posix()}){link}", ""]
    return md


def make_figures(table: Table, fig_dir: Path, formats: Sequence[str]) -> dict[str, list[Path]]:
    """Ranking figure (score bars + clean markers) and, for corruption files, the
    per-corruption profile of the best rows that have per-corruption numbers."""
    from robustpose_bench.report import figures as F

    items = entries(table)
    if not items:
        return {}
    schema = table.schema
    metric = BENCHMARKS.get(table.stem, (None, "AP"))[1]
    score = schema.sort_by
    ranked = [e for e in sort_entries(items, score) if e.num(score) is not None]
    out: dict[str, list[Path]] = {}
    rows = [{"label": _label(e), "score": e.num(score), "clean": e.num("clean"),
             "measured": e.row.get("source") == "measured"} for e in ranked]
    fig = F.plot_leaderboard(rows, metric, score,
                             title=f"{title_of(table.stem)}: {score} (bars) and clean "
                                   f"{metric}* (diamonds)")
    out["ranking"] = F.save_figure(fig, fig_dir, f"{table.stem}_ranking", formats, dpi=FIG_DPI)
    if schema.kind == "corruption":
        full = [e for e in ranked if all(e.row.get(c) for c in BENCHMARK_CORRUPTIONS)]
        full = full[:MAX_PROFILE_ROWS]
        if full:
            models = {_label(e): {c: float(e.row[c]) for c in BENCHMARK_CORRUPTIONS}
                      for e in full}
            fig = F.plot_per_corruption(
                models, metric,
                title=f"{title_of(table.stem)}: {metric} per corruption, best "
                      f"{len(full)} entries with per-corruption numbers")
            out["per corruption"] = F.save_figure(fig, fig_dir, f"{table.stem}_per_corruption",
                                                  formats, dpi=FIG_DPI)
        standard = [e for e in items if e.row.get("method", "").lower() == "standard"
                    and e.num("rPC") is not None]
        if len(standard) >= 2:  # AdvMix Fig. 5: clean AP* and rPC across backbones / sizes
            standard.sort(key=lambda e: (e.row.get("boxes", ""), e.row.get("model", ""),
                                         _natural(e.row.get("backbone", "")),
                                         _natural(e.row.get("input_size", ""))))
            fig = F.plot_clean_vs_rpc(
                [{"label": _label(e).replace(" Standard", ""), "clean": e.num("clean"),
                  "rPC": e.num("rPC"), "group": e.row.get("input_size", "")}
                 for e in standard], metric,
                title=f"{title_of(table.stem)}, standard training: clean {metric}* (line)\n"
                      "and rPC (bars) across backbones and input sizes")
            out["backbones"] = F.save_figure(fig, fig_dir, f"{table.stem}_backbones", formats,
                                             dpi=FIG_DPI)
    return out


def _natural(text: str) -> tuple:
    """Sort key with numbers compared as numbers ("ResNet-50" < "ResNet-101")."""
    import re

    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))


def _ordered_files(folder: Path) -> list[Path]:
    files = {p.name.removesuffix(".csv"): p for p in folder.glob("*.csv")}
    known = [files[s] for s in FILE_ORDER if s in files]
    return known + [files[s] for s in sorted(files) if s not in FILE_ORDER]


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;margin:1.5rem;
color:#1d1d1f;background:#fff}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
.wrap{overflow-x:auto;max-width:100%}
table.lb{border-collapse:collapse;font-size:.8rem;white-space:nowrap}
table.lb th,table.lb td{border:1px solid #ddd;padding:.2rem .45rem}
table.lb th{background:#f3f3f5;cursor:pointer;position:sticky;top:0;user-select:none}
table.lb th.nosort{cursor:default}
table.lb th[aria-sort=descending]::after{content:' \\25BC'}
table.lb th[aria-sort=ascending]::after{content:' \\25B2'}
table.lb td.num{text-align:right;font-variant-numeric:tabular-nums}
table.lb tr.measured td{background:#fff4e5}
table.lb tbody tr:hover td{background:#eef4ff}
.note{color:#555;font-size:.85rem}
input.filter{margin:.4rem 0;padding:.2rem .4rem;width:18rem}
img.fig{max-width:100%;border:1px solid #eee;margin:.5rem 0}
"""

_JS = """
(function(){
  'use strict';
  function value(td, type){
    var t = td.getAttribute('data-value');
    if (t === null) { t = td.textContent.trim(); }
    if (type === 'num') { if (t === '') { return null; } var v = parseFloat(t);
      return isNaN(v) ? null : v; }
    return t.toLowerCase();
  }
  function renumber(table){
    var rows = table.tBodies[0].rows, n = 0;
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].style.display !== 'none') { n += 1; rows[i].cells[0].textContent = n; }
    }
  }
  function sortTable(table, col, dir){
    var ths = table.tHead.rows[0].cells, idx = -1, type = 'str';
    for (var i = 0; i < ths.length; i++) {
      if (ths[i].getAttribute('data-col') === col) { idx = i; type = ths[i].getAttribute('data-type'); }
      ths[i].removeAttribute('aria-sort');
    }
    if (idx < 0) { return false; }
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function(a, b){
      var x = value(a.cells[idx], type), y = value(b.cells[idx], type);
      if (x === null && y === null) { return 0; }
      if (x === null) { return 1; }
      if (y === null) { return -1; }
      var c = x < y ? -1 : (x > y ? 1 : 0);
      return dir === 'asc' ? c : -c;
    });
    rows.forEach(function(r){ body.appendChild(r); });
    ths[idx].setAttribute('aria-sort', dir === 'asc' ? 'ascending' : 'descending');
    renumber(table);
    return true;
  }
  function onHeaderClick(ev){
    var th = ev.currentTarget, table = th.closest('table');
    var cur = th.getAttribute('aria-sort'), type = th.getAttribute('data-type');
    var dir = cur === 'descending' ? 'asc' : (cur === 'ascending' ? 'desc'
              : (type === 'num' ? 'desc' : 'asc'));
    sortTable(table, th.getAttribute('data-col'), dir);
  }
  function applyHash(){
    var params = {};
    location.hash.replace(/^#/, '').split('&').forEach(function(kv){
      var p = kv.split('='); if (p[0]) { params[decodeURIComponent(p[0])] = decodeURIComponent(p[1] || ''); }
    });
    if (!params.sort) { return; }
    var tables = document.querySelectorAll('table.lb');
    for (var i = 0; i < tables.length; i++) {
      if (params.table && tables[i].getAttribute('data-benchmark') !== params.table) { continue; }
      var th = tables[i].querySelector('th[data-col="' + params.sort.replace(/"/g, '') + '"]');
      if (!th) { continue; }
      if (params.dir === 'asc' || params.dir === 'desc') { sortTable(tables[i], params.sort, params.dir); }
      else { th.removeAttribute('aria-sort'); th.click(); }
    }
  }
  function onFilter(ev){
    var input = ev.currentTarget, q = input.value.toLowerCase();
    var table = document.getElementById(input.getAttribute('data-table'));
    var rows = table.tBodies[0].rows;
    for (var i = 0; i < rows.length; i++) {
      rows[i].style.display = rows[i].textContent.toLowerCase().indexOf(q) >= 0 ? '' : 'none';
    }
    renumber(table);
  }
  document.addEventListener('DOMContentLoaded', function(){
    var ths = document.querySelectorAll('table.lb th[data-col]');
    for (var i = 0; i < ths.length; i++) { ths[i].addEventListener('click', onHeaderClick); }
    var inputs = document.querySelectorAll('input.filter');
    for (var j = 0; j < inputs.length; j++) { inputs[j].addEventListener('input', onFilter); }
    applyHash();
    window.addEventListener('hashchange', applyHash);
  });
})();
"""


def _html_columns(schema: Schema) -> list[tuple[str, str, str]]:
    """(column, header text, type) shown in the HTML table."""
    from robustpose_bench.report.figures import SHORT_NAMES

    cols: list[tuple[str, str, str]] = []
    late = ("paper", "table", "version", "source", "manifest_sha256", "date", "notes", "boxes")
    for c in schema.columns:
        if c.name in late:
            continue
        typ = "num" if c.kind in ("float", "ratio", "int") else "str"
        text = SHORT_NAMES.get(c.name, c.name)
        cols.append((c.name, text, typ))
        if c.name == "input_size":  # results with GT / detected / no boxes differ a lot
            cols.append(("boxes", "boxes", "str"))
    cols += [("source", "source", "str"), ("date", "date", "str"),
             ("manifest_sha256", "manifest", "str"), ("notes", "notes", "str")]
    return cols


def html_table(table: Table) -> str:
    schema = table.schema
    cols = _html_columns(schema)
    if schema.kind == "occlusion":
        # keep the page readable: summary columns only; details stay in the CSV
        cols = [c for c in cols if "/" not in c[0]]
    tid = f"table-{table.stem}"
    head = ['<th class="nosort">#</th>'] + [
        f'<th data-col="{html.escape(c)}" data-type="{t}" title="{html.escape(c)}">'
        f'{html.escape(h)}</th>' for c, h, t in cols]
    body = []
    for i, e in enumerate(sort_entries(entries(table), schema.sort_by), 1):
        r = e.row
        tds = [f"<td>{i}</td>"]
        for c, _, t in cols:
            if c == "source":
                text = source_text(e)
            elif c == "manifest_sha256":
                text = r.get(c, "")[:12]
            else:
                text = r.get(c, "")
            cls = ' class="num"' if t == "num" else ""
            tds.append(f'<td data-col="{html.escape(c)}"{cls}>{html.escape(text)}</td>')
        cls = ' class="measured"' if r.get("source") == "measured" else ""
        body.append(f"<tr{cls}>" + "".join(tds) + "</tr>")
    return (f'<input class="filter" type="search" placeholder="filter rows" '
            f'data-table="{tid}" aria-label="filter {html.escape(table.stem)}">\n'
            f'<div class="wrap"><table class="lb" id="{tid}" '
            f'data-benchmark="{html.escape(table.stem)}">\n<thead><tr>{"".join(head)}'
            f'</tr></thead>\n<tbody>\n' + "\n".join(body) + "\n</tbody></table></div>\n")


def render_html(tables: Sequence[Table], figures: dict[str, dict[str, list[Path]]]) -> str:
    """The static page: every table sortable by a header click (or `#sort=<column>` /
    `#sort=<column>&dir=asc&table=<file stem>` in the URL), figures inlined as data URIs, the
    rows also embedded as JSON (`#leaderboard-data`). No external assets."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>robustpose-bench leaderboard</title>", f"<style>{_CSS}</style>",
             "</head><body>", "<h1>robustpose-bench leaderboard</h1>",
             '<p class="note">Robustness of human pose estimators under image corruptions '
             "(COCO-C, MPII-C, OCHuman-C, SynthPose-C) and occlusion attacks. Scores in "
             "percent; mPC = mean over 15 corruptions x 5 severities, rPC = 100 * mPC / clean "
             "(Wang et al. 2021, AdvMix). Click a column header to sort; reported rows are "
             "copied from the papers, measured rows (highlighted) come from "
             "<code>robustpose leaderboard add</code>. Generated from the CSV files by "
             "<code>robustpose leaderboard build</code>.</p>", "<ul>"]
    parts += [f'<li><a href="#{html.escape(t.stem)}">{html.escape(title_of(t.stem))}</a> '
              f"({len(entries(t))} entries)</li>" for t in tables]
    parts.append("</ul>")
    data = {}
    for t in tables:
        parts.append(f'<h2 id="{html.escape(t.stem)}">{html.escape(title_of(t.stem))} '
                     f"<small>({html.escape(t.path.name)})</small></h2>")
        if not t.rows:
            parts.append('<p class="note">No rows yet.</p>')
            continue
        parts.append(html_table(t))
        for name, paths in figures.get(t.stem, {}).items():
            # SVG (text kept as text) is smaller than the PNG; either is inlined as data URI
            pick = next((p for p in paths if p.suffix == ".svg"), None) or next(
                (p for p in paths if p.suffix == ".png"), None)
            if pick is not None:
                mime = "image/svg+xml" if pick.suffix == ".svg" else "image/png"
                b64 = base64.b64encode(pick.read_bytes()).decode("ascii")
                parts.append(f'<img class="fig" alt="{html.escape(title_of(t.stem))} '
                             f'{html.escape(name)}" src="data:{mime};base64,{b64}">')
        data[t.stem] = t.rows
    # no `<`, `>` or `&` in the script element: cells cannot end it or open a comment in it
    payload = (json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
               .replace(">", "\\u003e").replace("&", "\\u0026"))
    parts.append(f'<script type="application/json" id="leaderboard-data">{payload}</script>')
    parts.append(f"<script>{_JS}</script>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render_readme(tables: Sequence[Table], figures: dict[str, dict[str, list[Path]]],
                  out_dir: Path) -> str:
    md = ["# Leaderboard", "",
          "Generated by `robustpose leaderboard build` from the CSV files in this folder; edit "
          "the CSVs (or use `robustpose leaderboard add RESULTS_DIR`), not this file. "
          "`index.html` is the same data as a sortable page.", "",
          "Scores are percentages. mPC: mean performance under corruption, the mean over the "
          "15 corruptions x 5 severities of AP (COCO, OCHuman, SynthPose) or PCKh@0.5 "
          "(MPII); rPC = 100 * mPC / clean score (AP* / PCKh*); Wang et al., *When Human Pose "
          "Estimation Meets Robustness: Adversarial Algorithms and Benchmarks* (AdvMix), CVPR "
          "2021, eq. 1-4. Reported rows are copied from the paper (1 decimal, as printed); "
          "measured rows (bold model) come from `robustpose evaluate` (2 decimals) and carry "
          "the robustpose version and the benchmark manifest hash in the CSV. Column "
          "definitions: `docs/leaderboard.md`.", ""]
    for t in tables:
        md += readme_section(t, figures.get(t.stem, {}), out_dir)
    return "\n".join(md).rstrip() + "\n"


def build(leaderboard_dir: str | Path = "leaderboard", out_dir: str | Path | None = None,
          formats: Sequence[str] = ("png", "svg"), figures: bool = True) -> dict[str, Path]:
    """Render README.md, index.html and figures/ from `leaderboard_dir/*.csv` into `out_dir`
    (default: `leaderboard_dir`). Refuses invalid files (LeaderboardError listing every
    problem). Returns {"readme": path, "html": path, "figures": folder}."""
    src = Path(leaderboard_dir)
    out = Path(out_dir) if out_dir is not None else src
    files = _ordered_files(src)
    if not files:
        raise LeaderboardError(f"{src}: no leaderboard CSV files")
    tables = [read_table(f) for f in files]
    problems = [p for t in tables for p in validate_table(t)]
    if problems:
        raise LeaderboardError("invalid leaderboard files (run `robustpose leaderboard "
                               "validate`):\n  " + "\n  ".join(problems))
    fig_dir = out / "figures"
    figs = {t.stem: make_figures(t, fig_dir, formats) for t in tables} if figures else {}
    readme = atomic_write_text(out / "README.md", render_readme(tables, figs, out))
    page = atomic_write_text(out / "index.html", render_html(tables, figs))
    log.info("leaderboard built: %s, %s", readme, page)
    return {"readme": readme, "html": page, "figures": fig_dir}
