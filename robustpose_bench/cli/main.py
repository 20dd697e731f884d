"""Entry point of the `robustpose` command.

A click group whose sub-commands live one per module in `robustpose_bench.cli.<name>` (each
module exposes `command`), loaded lazily so `robustpose --help` stays fast and a command's
heavy imports (torch, pycocotools) happen only when it runs. The group applies the error
convention of `cli/_common.py` (docs/errors.md) to every command: one line, exit code 2 for
bad input, 3 for a bug, 130 when interrupted; the traceback only with `-v`.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging

import click

from robustpose_bench import __version__

# command name -> (module, one-line help shown by `robustpose --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("synth", "Synthesise the SynthPose data set (images + COCO/MPII annotations)."),
    "generate": ("generate", "Render a corrupted benchmark (COCO-C, MPII-C, OCHuman-C, ...)."),
    "verify": ("verify", "Re-hash a rendered benchmark against its manifest."),
    "attack": ("attack", "Render occlusion-attacked copies of a data set."),
    "corruptions": ("corruptions", "List the corruptions, or corrupt one image."),
    "score": ("score", "Score one prediction file (AP or PCKh) and print JSON."),
    "evaluate": ("evaluate", "Evaluate a model on clean + corrupted/attacked conditions."),
    "merge": ("merge", "Merge the outputs of sharded `evaluate` runs."),
    "models": ("models", "List the model zoo."),
    "train": ("train", "Train a reference model from a YAML config."),
    "leaderboard": ("leaderboard", "Add results to, validate and build the leaderboard."),
    "report": ("report", "Tables and figures from one or more results folders."),
    "demo": ("demo", "Run the end-to-end demo on SynthPose."),
}


class LazyGroup(click.Group):
    """A group that imports a sub-command's module only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._available(name)]

    @staticmethod
    def _available(name: str) -> bool:
        return importlib.util.find_spec(f"robustpose_bench.cli.{COMMANDS[name][0]}") is not None

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or not self._available(name):
            return None
        module = importlib.import_module(f"robustpose_bench.cli.{COMMANDS[name][0]}")
        return module.command

    def invoke(self, ctx: click.Context):
        from robustpose_bench.cli._common import EXIT_INTERRUPTED, translate

        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("\nInterrupted.", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as exc:  # noqa: BLE001 - the one place every failure becomes one line
            raise translate(exc) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="robustpose")
@click.option("-v", "--verbose", count=True,
              help="More log output and tracebacks of errors (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
def cli(verbose: int, quiet: bool) -> None:
    """robustpose-bench: corrupted pose benchmarks (COCO-C, MPII-C, OCHuman-C), occlusion
    attacks, robustness metrics (AP, PCKh, mPC, rPC, RUC), reference trainers, leaderboards."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose >= 2 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    cli(prog_name="robustpose")


if __name__ == "__main__":
    main()
