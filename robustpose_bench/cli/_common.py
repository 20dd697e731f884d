"""Shared pieces of the CLI modules: the error and exit-code convention (docs/errors.md) and
options several commands take.

Exit codes: 0 success; 1 the command ran and its result is negative (verify found a mismatch,
validate found problems, some source images could not be rendered: the rest was); 2 the
command refused: a usage error (click), a bad option value, input file or record, other
settings than an output folder's, an output folder in use or not writable; 3 an unexpected
error (a bug); 130 interrupted. Errors are one line `Error: ...` without a traceback; `-v`
(`robustpose -v COMMAND ...`) adds the traceback.
"""
from __future__ import annotations

import functools
import logging
import math
import traceback
from collections.abc import Callable

import click

from robustpose_bench.datasets.errors import AnnotationError
from robustpose_bench.io import OutputError

log = logging.getLogger("robustpose")

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USER = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

# Exceptions that mean "the input or the environment is wrong", not "robustpose has a bug":
# ValueError covers LeaderboardError, SettingsMismatchError, json / unicode decoding errors;
# OSError covers missing / unreadable files, ImageReadError, OutputError, OutputLockedError.
USER_ERRORS: tuple[type[BaseException], ...] = (AnnotationError, OutputError, ValueError, OSError)


class UserError(click.ClickException):
    """A refused command (exit code 2): bad option value, input file, record or output."""

    exit_code = EXIT_USER


class InternalError(click.ClickException):
    """An unexpected exception (exit code 3): one line; the traceback with -v."""

    exit_code = EXIT_INTERNAL


def verbosity() -> int:
    """The `-v` count given to the `robustpose` group (0 outside a click context)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return 0
    return int(ctx.find_root().params.get("verbose") or 0)


def error_message(exc: BaseException) -> str:
    """The exception's message on as few lines as it has (never empty)."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"  # not "[Errno 2] No such file ...: 'x'"
    return str(exc).strip() or type(exc).__name__


def translate(exc: BaseException) -> click.ClickException:
    """The click exception `exc` becomes: UserError for USER_ERRORS, else InternalError.
    With -v the traceback is printed first (stderr)."""
    if verbosity() > 0:
        traceback.print_exception(type(exc), exc, exc.__traceback__)
    if isinstance(exc, USER_ERRORS):
        return UserError(error_message(exc))
    return InternalError(f"internal error: {type(exc).__name__}: {error_message(exc)} "
                         f"(run `robustpose -v ...` for the traceback, and report it)")


def user_errors(fn: Callable) -> Callable:
    """Turn expected user-input errors into a one-line `Error:` and exit code 2 (the group
    does the same for every command; the decorator keeps a command right when it is invoked
    on its own, e.g. in tests)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            raise translate(exc) from None

    return wrapper


def check_jobs(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """`--jobs`: a positive number of processes, or -1 for all cores."""
    if value is not None and (value == 0 or value < -1):
        raise click.BadParameter(f"{value}: expected a positive number of processes, or -1 "
                                 f"for all cores", ctx, param)
    return value


def jobs_option(default: int = 1) -> Callable:
    return click.option("--jobs", "-j", type=int, default=default, show_default=True,
                        callback=check_jobs,
                        help="Worker processes (a positive number, or -1: all cores).")


def max_pixels_option() -> Callable:
    from robustpose_bench.render.imageio import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV

    return click.option("--max-pixels", type=click.IntRange(min=1), default=None,
                        help=f"Refuse source images with more pixels (width x height), read "
                             f"from the header before decoding; default ${MAX_PIXELS_ENV} or "
                             f"{DEFAULT_MAX_PIXELS:,}.")


def render_checks_options(func: Callable) -> Callable:
    """--force, --max-pixels and --size-mismatch: what a render run (generate, attack) does
    with a folder of other settings and with source images it should not trust."""
    func = click.option("--size-mismatch", type=click.Choice(["error", "warn"]),
                        default="error", show_default=True,
                        help="An image whose decoded size differs from the annotation's "
                             "width/height: error (listed as failed, not rendered) or warn "
                             "(rendered).")(func)
    func = max_pixels_option()(func)
    return click.option("--force", is_flag=True,
                        help="Re-render every file, also into a folder rendered with other "
                             "settings.")(func)


def parse_float_list(ctx: click.Context, param: click.Parameter, value: str | None
                     ) -> list[float] | None:
    """A comma list of positive finite numbers (e.g. `--radius 6,12`)."""
    if value is None:
        return None
    out = []
    for item in str(value).split(","):
        item = item.strip()
        if not item:
            continue
        try:
            number = float(item)
        except ValueError:
            raise click.BadParameter(f"{item!r} is not a number (expected a comma list of "
                                     f"numbers, e.g. 6,12)", ctx, param) from None
        if not math.isfinite(number) or number <= 0:
            raise click.BadParameter(f"{item!r}: expected a positive finite number", ctx, param)
        out.append(number)
    if not out:
        raise click.BadParameter("empty list", ctx, param)
    return out
