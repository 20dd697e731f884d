"""`robustpose score`: score one prediction file (COCO keypoint AP or MPII PCKh), JSON out.

Thin wrapper over robustpose_bench.metrics (PROTOCOL.md section 2); see docs/metrics.md. The
ground truth is checked by the rules of every reader (`datasets.coco.validate_records`, the
same as `generate`); bad input exits 2 with one line naming the file, record and field; an
empty result list scores 0 with a warning.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from robustpose_bench.cli._common import UserError


def _parse_sigmas(text: str | None) -> list[float] | None:
    """Comma/space separated floats, or the name of a data set with known sigmas."""
    if text is None:
        return None
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        return [float(p) for p in parts]
    except ValueError:
        pass
    from robustpose_bench.datasets.meta import get_meta

    try:
        meta = get_meta(text.strip())
    except ValueError as exc:
        raise click.BadParameter(f"{exc}; or give K numbers separated by commas",
                                 param_hint="--sigmas") from None
    if meta.sigmas is None:
        raise click.BadParameter(f"data set {meta.name!r} has no OKS sigmas", param_hint="--sigmas")
    return [float(s) for s in meta.sigmas]


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return "-" if v < 0 else f"{100 * v:6.2f}"
    return str(v)


def _table(metric: str, scores: dict) -> str:
    lines = []
    if metric == "ap":
        keys = [k for k in ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")
                if k in scores]
        lines.append("  ".join(f"{k:>6}" for k in keys))
        lines.append("  ".join(_fmt(scores[k]) for k in keys))
    else:
        groups = list(scores["per_group"])
        lines.append(f"{'':<10}" + "".join(f"{g.capitalize():>9}" for g in groups) + f"{'Mean':>9}")
        for t in scores["thresholds"]:
            suffix = "" if t == 0.5 else f"@{t:g}"
            row = scores["per_group" + suffix]
            lines.append(f"{'PCKh@' + format(t, 'g'):<10}" + "".join(f"{_fmt(row[g]):>9}" for g in groups)
                         + f"{_fmt(scores['PCKh' + suffix]):>9}")
    lines.append("(percent; '-' = undefined)")
    return "\n".join(lines)


@click.command("score")
@click.option("--ann", "ann", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Ground truth: COCO keypoint json (ap), or MPII json / gt .mat (pckh).")
@click.option("--results", "results", required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Predictions: COCO keypoint results json (ap); MPII: json list of "
                   "{image, joints 16x2 (0-based)} in the annotation file's order, or a .mat "
                   "with `preds` (1-based, as HRNet's pred.mat).")
@click.option("--metric", type=click.Choice(["ap", "pckh"]), default=None,
              help="Metric (default: pckh for .mat ground truth or MPII json, else ap).")
@click.option("--sigmas", default=None,
              help="OKS sigmas: K comma-separated numbers or a data set name (coco, crowdpose). "
                   "Default: by the file's keypoint names (COCO for 17).")
@click.option("--use-area/--no-use-area", default=True, show_default=True,
              help="OKS scale = annotation area (COCO); --no-use-area: 0.53 * box w * h "
                   "(xtcocotools, also for the M/L ranges).")
@click.option("--backend", default="auto", show_default=True,
              help="AP backend: auto, native, faster-coco-eval, xtcocotools, pycocotools.")
@click.option("--nan-policy", type=click.Choice(["error", "drop"]), default="error",
              show_default=True, help="Results with NaN/inf values: fail, or drop them.")
@click.option("--gt-mat", type=click.Path(exists=True, dir_okay=False), default=None,
              help="MPII evaluation .mat (head boxes, visibility) for a json --ann.")
@click.option("--table", is_flag=True, help="Print a readable table instead of JSON.")
def command(ann: str, results: str, metric: str | None, sigmas: str | None, use_area: bool,
            backend: str, nan_policy: str, gt_mat: str | None, table: bool) -> None:
    """Score one prediction file and print the metrics (fractions in [0, 1]) as JSON."""
    from robustpose_bench.datasets.errors import AnnotationError
    from robustpose_bench.metrics import get_metric

    if metric is None:
        metric = "pckh" if (Path(ann).suffix.lower() == ".mat" or gt_mat is not None
                            or _looks_like_mpii(ann)) else "ap"
    try:
        if metric == "ap":
            if gt_mat is not None:
                raise click.UsageError("--gt-mat is for --metric pckh")
            options = {"sigmas": _parse_sigmas(sigmas), "use_area": use_area,
                       "backend": backend, "nan_policy": nan_policy}
        else:
            if sigmas is not None or backend != "auto":
                raise click.UsageError("--sigmas / --backend are for --metric ap")
            options = {"gt_mat": gt_mat}
        scores = get_metric(metric).score(ann, results, **options)
    except (AnnotationError, ValueError, RuntimeError) as exc:
        raise UserError(str(exc)) from None
    if table:
        click.echo(_table(metric, scores))
        return
    shown = {k: v for k, v in options.items() if k != "sigmas"}
    if metric == "ap":
        shown["sigmas"] = options["sigmas"] if options["sigmas"] is not None else "default"
        from robustpose_bench.metrics.coco import get_backend

        shown["backend"] = get_backend(backend).name
    click.echo(json.dumps({"metric": metric, "ann": ann, "results": results, "units": "fraction",
                           "options": shown, "scores": scores}, indent=1))


def _looks_like_mpii(ann: str) -> bool:
    """An MPII json is a list of records; a COCO file is an object. Peek at the first byte."""
    try:
        with open(ann, "rb") as fh:
            head = fh.read(64).lstrip()
    except OSError:
        return False
    return head.startswith(b"[")
