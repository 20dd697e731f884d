"""`robustpose corruptions`: list the corruption registry, or corrupt one image with the
corruptions of Hendrycks & Dietterich (ImageNet-C) as in `imagecorruptions` 1.1.2.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from robustpose_bench.cli._common import UserError, max_pixels_option, user_errors


def _format_params(params: tuple) -> str:
    return " | ".join(str(p) if not isinstance(p, float) else f"{p:g}" for p in params)


@click.command(name="corruptions")
@click.option("--image", "image_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Image to corrupt (any format PIL reads); without it the registry is listed.")
@click.option("--corruption", help="Corruption name (see the listing).")
@click.option("--severity", type=int, help="Severity 1..5.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the legacy RandomState (the stream of np.random.seed(seed)).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file: .png (lossless) or .jpg/.jpeg (PIL JPEG at --quality).")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True,
              help="JPEG quality for a .jpg/.jpeg --out.")
@click.option("--json", "as_json", is_flag=True, help="List the registry as JSON.")
@max_pixels_option()
@user_errors
def command(image_path, corruption, severity, seed, out_path, quality, as_json, max_pixels):
    """Without --image: list the corruptions with their category, whether they enter mPC
    (benchmark) or are held out (extra), whether they draw random numbers, and the published
    per-severity constants.

    With --image IN --corruption NAME --severity S [--seed N] --out OUT.png: write the
    corrupted image (same pixels as stock imagecorruptions after np.random.seed(N)).
    """
    from robustpose_bench.corruptions import ALL_CORRUPTIONS, get_corruption

    if image_path is None:
        if any(v is not None for v in (corruption, severity, out_path)):
            raise click.UsageError("--corruption/--severity/--out need --image")
        entries = [get_corruption(n) for n in ALL_CORRUPTIONS]
        if as_json:
            click.echo(json.dumps([{"name": e.name, "category": e.category,
                                    "set": "extra" if e.extra else "benchmark",
                                    "random": e.uses_rng, "params": list(e.params)}
                                   for e in entries], indent=1))
            return
        click.echo(f"{'corruption':<18} {'category':<8} {'set':<9} {'random':<6} "
                   "per-severity constants (1 | 2 | 3 | 4 | 5)")
        for e in entries:
            click.echo(f"{e.name:<18} {e.category:<8} {'extra' if e.extra else 'benchmark':<9} "
                       f"{'yes' if e.uses_rng else 'no':<6} {_format_params(e.params)}")
        return

    missing = [f"--{k}" for k, v in (("corruption", corruption), ("severity", severity),
                                      ("out", out_path)) if v is None]
    if missing:
        raise click.UsageError(f"corrupting an image needs {', '.join(missing)}")
    suffix = out_path.suffix.lower()
    if suffix not in (".png", ".jpg", ".jpeg"):
        raise click.UsageError(f"--out must end in .png, .jpg or .jpeg, got {out_path.name!r}")

    from robustpose_bench.corruptions import corrupt
    from robustpose_bench.io import atomic_write_bytes
    from robustpose_bench.render.imageio import ImageReadError, encode_image, read_image

    try:
        image = read_image(image_path, max_pixels)
    except ImageReadError as exc:
        raise UserError(str(exc)) from None
    out = corrupt(image, corruption, severity, seed=seed)
    data = encode_image(out, "png" if suffix == ".png" else "jpg", quality)
    atomic_write_bytes(out_path, data)
    click.echo(f"wrote {out_path} ({corruption}, severity {severity}, seed {seed}, "
               f"{out.shape[1]}x{out.shape[0]})")
