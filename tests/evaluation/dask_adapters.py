"""Adapters for the Dask tests, loaded on the workers by path (`file.py:Class`).

KillOnceOracle answers like OracleAdapter (oracle_adapter.py) but, on its `after`-th call in
a worker process, kills that process with SIGKILL, once per `marker` file: the run must
survive a worker that dies mid-run.
"""
from __future__ import annotations

import importlib.util
import os
import signal
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "robustpose_test_oracle", Path(__file__).with_name("oracle_adapter.py"))
_oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_oracle)


class KillOnceOracle(_oracle.OracleAdapter):
    def __init__(self, ann: str, marker: str, jitter: float = 0.0, after: int = 3):
        super().__init__(ann, jitter)
        self.marker, self.after, self.calls = marker, int(after), 0

    def predict(self, image, boxes):
        self.calls += 1
        if self.calls >= self.after:
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                os.kill(os.getpid(), signal.SIGKILL)
        return super().predict(image, boxes)
