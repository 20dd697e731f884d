"""Training precision (train/precision.py): bf16 detection from the CPU flags, the auto rules,
and a bfloat16 / channels-last loss curve that stays with float32's for a few steps."""
from __future__ import annotations

import pytest
import torch
from _train_helpers import first_batch

from robustpose_bench.train.config import ConfigError
from robustpose_bench.train.precision import cpu_has_native_bf16, resolve_precision

CPU = torch.device("cpu")


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    amx = tmp_path / "amx"
    amx.write_text("processor\t: 0\nflags\t\t: fpu avx512f amx_bf16 amx_tile\n")
    assert not cpu_has_native_bf16(str(plain))
    assert cpu_has_native_bf16(str(amx))
    assert not cpu_has_native_bf16(str(tmp_path / "missing"))


def test_auto_rules(monkeypatch):
    import robustpose_bench.train.precision as precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    p = resolve_precision(True, "auto", None, CPU)
    assert p.dtype is None and not p.channels_last and p.name == "float32"
    assert not p.make_scaler().is_enabled()
    assert resolve_precision(False, "bfloat16", None, CPU).dtype is None
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    p = resolve_precision(True, "auto", None, CPU)
    assert p.dtype == torch.bfloat16 and p.channels_last and p.name == "bfloat16"
    assert not p.make_scaler().is_enabled()  # bf16 needs no loss scaling
    assert not resolve_precision(True, "auto", False, CPU).channels_last
    assert resolve_precision(True, "auto", None, torch.device("cuda")).dtype == torch.float16
    with pytest.raises(ConfigError, match="float16 autocast needs a CUDA device, not cpu"):
        resolve_precision(True, "float16", None, CPU)


def test_bf16_loss_curve_follows_float32(trainer_factory):
    """Four steps on one batch from the same weights: bfloat16 autocast with channels-last
    weights gives the float32 losses to about 2 % (bf16 keeps 8 bits of mantissa)."""
    curves = {}
    for dtype in ("float32", "bfloat16"):
        train = {"lr": 3e-3, "amp": dtype != "float32", "amp_dtype": "bfloat16"}
        tr = trainer_factory("standard", {}, train=train)
        assert tr.precision.name == dtype
        assert tr.precision.channels_last == (dtype == "bfloat16")
        batch = first_batch(tr)
        if dtype == "bfloat16":
            assert batch["image"].is_contiguous(memory_format=torch.channels_last)
        curves[dtype] = [tr.method.train_step(batch)["loss"] for _ in range(4)]
    f32, bf16 = curves["float32"], curves["bfloat16"]
    assert f32[-1] < f32[0] and bf16[-1] < bf16[0]
    for a, b in zip(f32, bf16, strict=True):
        assert abs(a - b) <= 0.02 * a, (f32, bf16)
    assert f32 != bf16  # it did run in another precision
