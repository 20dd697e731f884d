"""One writer per output root: an OS lock (`fcntl.flock`) on a lock file inside the root.

The kernel releases a `flock` when its holder dies, even by SIGKILL, so a killed run never
leaves a stale lock: the lock file may stay, the lock does not. Apply to any command that
writes under a root with one line: `with output_lock(out): ...`.
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from robustpose_bench.io import OutputError

log = logging.getLogger(__name__)

LOCK_FILE = ".robustpose.lock"


class OutputLockedError(OutputError):
    """Another process holds the output root's lock; the message names the root and the pid."""


def _holder(fd: int) -> str:
    """The pid the holder wrote into the lock file ("" when it has not written it yet)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


@contextmanager
def output_lock(root: str | Path) -> Iterator[Path]:
    """Hold the exclusive lock of output folder `root` (created if missing) for the block.

    Fails at once, without waiting, with `OutputLockedError("ROOT is in use by process N")`
    when another process (or another open of the same root in this process) holds it.
    Yields the lock file's path. Lock files are plain files named `.robustpose.lock`; tools
    that list a root's contents (e.g. `verify`) ignore them.
    """
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {root}: "
                          f"{exc.strerror or exc}") from None
    try:
        fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise OutputError(f"cannot write in the output folder {root} (lock file "
                          f"{LOCK_FILE}): {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputError(f"cannot lock the output folder {root}: "
                                  f"{exc.strerror or exc}") from None
            pid = _holder(fd)
            raise OutputLockedError(f"{root} is in use by process {pid or '(unknown)'}: another "
                                    f"robustpose run writes there; wait for it to finish or "
                                    f"choose another output folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        log.debug("locked %s", root)
        yield root / LOCK_FILE
    finally:
        # closing the descriptor releases the flock; the file stays (harmless, reused)
        os.close(fd)
