"""Scoring a model on clean + corrupted + attacked conditions: boxes, image sources, the
prediction loop, per-condition results on disk, scoring and summary.json."""
from robustpose_bench.evaluate.sweep import EvaluationConfig, run_evaluation

__all__ = ["EvaluationConfig", "run_evaluation"]
