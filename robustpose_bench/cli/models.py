"""`robustpose models [PATTERN]`: list the model zoo with parameter counts and input sizes;
`robustpose models --families`: the adapter families `--model` accepts and what each needs.

Parameter counts are computed from the architectures (on the meta device, no weights), next
to the published ones of PROTOCOL.md section 3.
"""
from __future__ import annotations

import json

import click


def zoo_rows(pattern: str = "*", num_keypoints: int = 17) -> list[dict]:
    """One dict per zoo model matching `pattern`: name, family, backbone, input_size [w, h],
    params (count at `num_keypoints`), published_params (millions or None), description."""
    import torch

    from robustpose_bench.models import count_params, get_model_info, list_models

    rows = []
    for name in list_models(pattern):
        info = get_model_info(name)
        with torch.device("meta"):
            params = count_params(info.factory(num_keypoints=num_keypoints))
        rows.append({"name": name, "family": info.family, "backbone": info.backbone,
                     "input_size": list(info.input_size), "params": params,
                     "published_params": info.published_params,
                     "description": info.description})
    return rows


@click.command("models")
@click.argument("pattern", default="*")
@click.option("--num-keypoints", "-k", type=int, default=17, show_default=True,
              help="Keypoints of the final layer when counting parameters.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--families", is_flag=True,
              help="List the adapter families (hf:, ultralytics:, mmpose:, .onnx, ...) and "
                   "whether what each needs is installed.")
def command(pattern: str, num_keypoints: int, as_json: bool, families: bool) -> None:
    """List the zoo models matching PATTERN (shell-style, e.g. 'hrnet*').

    Use a model with `robustpose evaluate --model zoo:NAME --model-arg checkpoint=FILE`.
    Input sizes are width x height. With --families: every form `--model` accepts.
    """
    if families:
        _print_families(as_json)
        return
    rows = zoo_rows(pattern, num_keypoints)
    if not rows:
        raise click.ClickException(f"no zoo model matches {pattern!r}")
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    header = ("name", "family", "backbone", "input (wxh)", "params", "published", "description")
    table = [header] + [
        (r["name"], r["family"], r["backbone"], "x".join(map(str, r["input_size"])),
         f"{r['params'] / 1e6:.2f}M",
         f"{r['published_params']:.1f}M" if r["published_params"] else "-", r["description"])
        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  "
                   + row[-1])


def _print_families(as_json: bool) -> None:
    from robustpose_bench.adapters.families import family_rows

    rows = family_rows()
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    header = ("family", "installed", "example --model", "needs")
    table = [header] + [(r["name"], "yes" if r["installed"] else "no", r["example"], r["needs"])
                        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row, r in zip(table, [None, *rows], strict=True):
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        click.echo(line if r is None else f"{line}\n    {r['what']}")
