"""Issue 11 item 5: one writer per output root.

Before: a second `generate` on the same root deleted the first's `.part` files and the first
died with a misleading "No such file or directory". Now the second fails at once with
"ROOT is in use by process N", and a SIGKILLed holder leaves no stale lock.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from _faults_helpers import ROBUSTPOSE, run_cli

from robustpose_bench.locking import LOCK_FILE, OutputLockedError, output_lock
from robustpose_bench.render.manifest import JOURNAL, verify

_HOLD = """
import sys, time
from robustpose_bench.locking import output_lock
with output_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_second_holder_fails_at_once_naming_the_process(tmp_path):
    root = tmp_path / "root"
    with output_lock(root) as lock_file:
        assert lock_file == root / LOCK_FILE
        start = time.perf_counter()
        with pytest.raises(OutputLockedError, match=rf"^{root} is in use by process "
                                                    rf"{os.getpid()}: another robustpose run"):
            with output_lock(root):
                pass
        assert time.perf_counter() - start < 1.0
    with output_lock(root):  # released at the end of the block
        pass


def test_sigkilled_holder_leaves_no_stale_lock(tmp_path):
    root = tmp_path / "root"
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(root)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(OutputLockedError, match=f"in use by process {proc.pid}"):
            with output_lock(root):
                pass
    finally:
        proc.kill()
        proc.wait()
    assert (root / LOCK_FILE).is_file()  # the file stays, the lock does not
    with output_lock(root):
        pass


def test_two_concurrent_generate_runs(make_set, tmp_path):
    ann, images = make_set(tmp_path / "data", n=6, size=(120, 160))
    out = tmp_path / "out"
    args = ["generate", "--ann", ann, "--images", images, "--out", out, "--corruptions",
            "glass_blur,motion_blur", "--no-progress"]
    first = subprocess.Popen([*ROBUSTPOSE, *map(str, args)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 120
        journal = out / JOURNAL
        while time.time() < deadline and first.poll() is None and not (
                journal.is_file() and journal.read_text().count("\n") > 1):
            time.sleep(0.01)
        # freeze the first run mid-way (lock held, files half done): the second cannot win a
        # race against a machine that happens to be fast
        os.killpg(first.pid, signal.SIGSTOP)
        assert first.poll() is None, "the first run ended before the second started"
        start = time.perf_counter()
        second = run_cli(*args)
        elapsed = time.perf_counter() - start
        os.killpg(first.pid, signal.SIGCONT)
        _, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert f"Error: {out} is in use by process {first.pid}" in second.stderr
    assert elapsed < 30  # fails at once: it does not wait for the frozen first run
    assert first.returncode == 0, err
    assert "60 rendered" in err
    assert verify(out).ok and run_cli("verify", out).returncode == 0
