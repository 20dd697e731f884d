"""Robustness reports: figures (AdvMix Fig. 4a/4b/5, Pytel et al. Fig. 5/7, RUC curves) and a
markdown report built from one or more results folders (`summary.json`)."""
from __future__ import annotations

from robustpose_bench.report.markdown import load_run, make_report

__all__ = ["load_run", "make_report"]
