"""Refusals of the evaluation whose way out is an option: the message names the Python
keyword (`allow_partial=True`, `force=True`) for API users and, through `for_cli()`, the
command-line flag (`--allow-partial`, `--force`) for CLI users."""
from __future__ import annotations


class OptionError(ValueError):
    """A refusal that an option lifts. `template` holds the text `{option}` where the way
    out is named (replaced, not formatted); `keyword` is the API spelling, `flag` the CLI
    one."""

    def __init__(self, template: str, keyword: str, flag: str):
        self.template, self.keyword, self.flag = template, keyword, flag
        super().__init__(template.replace("{option}", keyword))

    def for_cli(self) -> str:
        """The message with the command-line flag."""
        return self.template.replace("{option}", self.flag)


class PartialRunError(OptionError):
    """Benchmark conditions are missing for mPC (lifted by allow_partial / --allow-partial)."""

    def __init__(self, template: str, missing: list[str]):
        super().__init__(template, "allow_partial=True", "--allow-partial")
        self.missing = missing


class RunMismatchError(OptionError):
    """An output folder holds conditions measured by another run (another model, checkpoint,
    boxes, benchmark or metric option); lifted by force / --force (recomputes everything)."""

    def __init__(self, template: str, differences: list[str]):
        super().__init__(template, "force=True", "--force")
        self.differences = differences


class AdapterCallError(ValueError):
    """An adapter raised, or called sys.exit, on an image: the message names the adapter,
    the image and the condition (the adapter's own exception is the cause)."""
