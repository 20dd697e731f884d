"""Training precision: float32, float16 autocast on CUDA, bfloat16 autocast on CPU or CUDA, and
the channels-last memory format.

bfloat16 only pays on a CPU with native bf16 instructions (AVX512-BF16 or AMX-BF16); elsewhere
oneDNN emulates it and a step is slower than float32 (measured on the development machine,
`benchmarks/train_precision.py`), so `amp_dtype: auto` keeps float32 there.
"""
from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from robustpose_bench.train.config import ConfigError

log = logging.getLogger(__name__)

#: /proc/cpuinfo flags of CPUs with native bfloat16 arithmetic.
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")

_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True when the CPU advertises AVX512-BF16 or AMX-BF16 (Linux; False elsewhere)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[-1].split())
    return any(f in flags for f in CPU_BF16_FLAGS)


@dataclass(frozen=True)
class Precision:
    """The arithmetic of a run: autocast dtype (None: float32) on `device_type`, GradScaler
    (float16 only) and the memory format of the network's weights and image inputs."""

    device_type: str
    dtype: torch.dtype | None = None
    channels_last: bool = False

    @property
    def name(self) -> str:
        return "float32" if self.dtype is None else str(self.dtype).removeprefix("torch.")

    @property
    def uses_scaler(self) -> bool:
        return self.dtype == torch.float16

    def autocast(self):
        """The autocast context of one forward pass (a no-op context for float32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def make_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler, enabled for float16 only (bfloat16 has float32's exponent range)."""
        return torch.amp.GradScaler("cuda" if self.device_type == "cuda" else "cpu",
                                    enabled=self.uses_scaler)

    def prepare(self, module: torch.nn.Module) -> torch.nn.Module:
        """Move a network to the run's memory format (in place; returned for chaining)."""
        if self.channels_last:
            module.to(memory_format=torch.channels_last)
        return module

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """An image batch (B, C, H, W) in the run's memory format."""
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x


def resolve_precision(amp: bool, amp_dtype: str, channels_last: bool | None,
                      device: torch.device) -> Precision:
    """The Precision of `train.amp` / `train.amp_dtype` / `train.channels_last` on `device`.

    amp false: float32. amp_dtype auto: float16 on CUDA; on CPU bfloat16 when the CPU has
    native bf16 instructions, else float32. float16 needs CUDA. bfloat16 is honoured anywhere
    (on a CPU without native bf16 it is emulated and slow: a warning says so).
    channels_last null: on exactly when bfloat16 runs on the CPU.
    """
    dev = device.type
    dtype: torch.dtype | None = None
    if amp:
        if amp_dtype == "auto":
            if dev == "cuda":
                dtype = torch.float16
            elif dev == "cpu" and cpu_has_native_bf16():
                dtype = torch.bfloat16
            elif dev == "cpu":
                log.info("train.amp: this CPU has no native bfloat16 (%s): training in float32",
                         " / ".join(CPU_BF16_FLAGS))
        elif amp_dtype in _DTYPES:
            dtype = _DTYPES[amp_dtype]
            if dtype == torch.float16 and dev != "cuda":
                raise ConfigError(f"train.amp_dtype: float16 autocast needs a CUDA device, not "
                                 f"{dev}; use bfloat16 or amp: false")
            if dtype == torch.bfloat16 and dev == "cpu" and not cpu_has_native_bf16():
                log.warning("train.amp_dtype bfloat16 on a CPU without native bf16 "
                            "instructions: emulated, slower than float32")
        else:
            raise ConfigError(f"train.amp_dtype: expected auto, float16 or bfloat16, got "
                             f"{amp_dtype!r}")
    if channels_last is None:
        channels_last = dev == "cpu" and dtype == torch.bfloat16
    return Precision(dev, dtype, bool(channels_last))


__all__ = ["CPU_BF16_FLAGS", "Precision", "cpu_has_native_bf16", "resolve_precision"]
