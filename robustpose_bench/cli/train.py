"""`robustpose train`: train a reference model (standard, AdvMix, ASDA, stable heatmap,
occlusion augmentation) from a YAML config; multi-GPU with `torchrun ... -m robustpose_bench.cli.train`."""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import click

from robustpose_bench.cli._common import user_errors


@click.command(name="train")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value (dotted key, YAML value), e.g. --set train.epochs=5 "
                   "--set method_args.kd_alpha=0.2. Repeatable.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder [default: runs/train/<config name>].")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Continue from <out>/last_state.pt when it exists.")
@click.option("--device", default=None,
              help="cpu, cuda or cuda:N [default: CUDA when available]. Under torchrun each "
                   "process takes cuda:LOCAL_RANK.")
@user_errors
def command(config: Path, overrides: tuple[str, ...], out_dir: Path | None, resume: bool,
            device: str | None) -> None:
    """Train a top-down pose model described by CONFIG (see robustpose_bench/configs/ and
    docs/training.md). Writes config.yaml, last/best checkpoints (safetensors + JSON),
    last_state.pt (resume), history.jsonl, train.log and summary.json into the output folder,
    which is locked for the run (a second run into it fails at once)."""
    import logging

    from robustpose_bench.train.config import load_config
    from robustpose_bench.training import train_from_config

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from robustpose_bench.locking import output_lock

    cfg = load_config(config, list(overrides))
    out = Path(out_dir) if out_dir is not None else Path("runs") / "train" / cfg.name
    # one writer per output folder: the main process holds the lock (torchrun's other ranks
    # write nothing there)
    lock = output_lock(out) if os.environ.get("RANK", "0") == "0" else contextlib.nullcontext()
    with lock:
        summary = train_from_config(cfg, out, device=device, resume=resume)
    if os.environ.get("RANK", "0") == "0":
        click.echo(json.dumps(summary, indent=1))


def main() -> None:
    """Entry point for `torchrun -m robustpose_bench.cli.train CONFIG ...`."""
    command(prog_name="robustpose train")


if __name__ == "__main__":
    main()
