"""Learning curves of a training run: its `history.jsonl` (one line per epoch: losses, learning
rate, seconds, validation) drawn as a PNG (matplotlib, Agg backend).

Left panel: the mean training losses per epoch (log scale; the learning-rate steps as dotted
lines). Right panel: the validation metric (AP or PCKh, percent) at the validated epochs.
The trainer writes `curves.png` beside `history.jsonl` after every epoch.
"""
from __future__ import annotations

import io
import itertools
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from robustpose_bench.io import atomic_write_bytes  # noqa: E402

#: Validation keys drawn (first one present wins).
VAL_KEYS = ("AP", "PCKh", "PCK")


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """The epochs of a `history.jsonl`; ValueError naming the file and line when one is bad."""
    path = Path(path)
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{i}: not JSON ({exc.msg})") from None
        if not isinstance(rec, dict) or "epoch" not in rec:
            raise ValueError(f"{path}:{i}: expected an object with an 'epoch' field")
        out.append(rec)
    return out


def plot_history(history: list[dict[str, Any]], out: str | Path, title: str = "") -> Path:
    """Draw the curves of `history` (read_history's records) into the PNG `out` (atomic)."""
    if not history:
        raise ValueError("plot_history: the history has no epoch")
    epochs = [int(h["epoch"]) for h in history]
    loss_keys = sorted({k for h in history for k in h
                        if k.startswith("loss") and isinstance(h[k], (int, float))})
    fig, (ax_l, ax_v) = plt.subplots(1, 2, figsize=(9.0, 3.4), dpi=110)
    for key in loss_keys:
        pts = [(e, abs(float(h[key]))) for e, h in zip(epochs, history, strict=True)
               if key in h and h[key] != 0]
        if pts:
            label = key if all(float(h.get(key, 1)) >= 0 for h in history) else f"|{key}|"
            ax_l.plot(*zip(*pts, strict=True), marker=".", label=label)
    lrs = [(e, float(h["lr"])) for e, h in zip(epochs, history, strict=True) if "lr" in h]
    for (_, prev), (e, cur) in itertools.pairwise(lrs):  # a line where the rate dropped
        if cur < prev:
            ax_l.axvline(e - 0.5, color="grey", linestyle=":", linewidth=1)
    ax_l.set_yscale("log")
    ax_l.set_xlabel("epoch")
    ax_l.set_ylabel("training loss (epoch mean)")
    ax_l.grid(alpha=0.3)
    if loss_keys:
        ax_l.legend(fontsize=8)
    vals = [(e, h["val"]) for e, h in zip(epochs, history, strict=True) if h.get("val")]
    key = next((k for k in VAL_KEYS if any(k in v for _, v in vals)), None)
    if key is not None:
        pts = [(e, float(v[key])) for e, v in vals if key in v]
        ax_v.plot(*zip(*pts, strict=True), marker="o", color="#c44e52")
        for e, y in pts:
            ax_v.annotate(f"{y:.1f}", (e, y), textcoords="offset points", xytext=(0, 5),
                          ha="center", fontsize=7)
        ax_v.set_ylabel(f"validation {key} (%)")
        ax_v.set_ylim(0, max(y for _, y in pts) * 1.15 + 0.5)
    else:
        ax_v.text(0.5, 0.5, "no validation yet", ha="center", va="center",
                  transform=ax_v.transAxes)
    ax_v.set_xlabel("epoch")
    ax_v.set_xlim(0.5, max(epochs) + 0.5)
    for ax in (ax_l, ax_v):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_v.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    out = Path(out)
    atomic_write_bytes(out, buf.getvalue())
    return out


__all__ = ["plot_history", "read_history"]
