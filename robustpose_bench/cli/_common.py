"""Shared pieces of the CLI modules: error reporting and comma-list options."""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import click

from robustpose_bench.datasets.errors import AnnotationError
from robustpose_bench.io import OutputError

log = logging.getLogger("robustpose")


def user_errors(fn: Callable) -> Callable:
    """Turn expected user-input errors into a one-line `Error:` and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (AnnotationError, OutputError, ValueError, FileNotFoundError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper
