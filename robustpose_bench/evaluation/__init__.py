"""Scoring a model on clean + corrupted + attacked conditions.

`evaluate(model, data, conditions, ...)` and `benchmark(model, "synthpose-c")` return a
`Summary`. Underneath: `RunSettings` (everything that decides the numbers, `run.json`), a
`Sweep` of one unit per condition (prediction step `Predictor` -> evaluator objects ->
stored score, `ResultStore` on disk or in memory), and `merge_shards`.
"""
from robustpose_bench.evaluation.api import benchmark, evaluate, run_settings
from robustpose_bench.evaluation.evaluators import (
    AttackedKeypointAPEvaluator,
    DatasetEvaluator,
    EvaluatorGroup,
    KeypointAPEvaluator,
    PCKhEvaluator,
    StabilityEvaluator,
    default_metric,
    metric_evaluator,
)
from robustpose_bench.evaluation.merge import merge_shards
from robustpose_bench.evaluation.predict import ConditionOutput, LocalPredictor, Predictor
from robustpose_bench.evaluation.predictions import ImagePrediction, Predictions
from robustpose_bench.evaluation.resolve import shipped_models
from robustpose_bench.evaluation.settings import DataSpec, RunSettings
from robustpose_bench.evaluation.store import DiskStore, MemoryStore, ResultStore
from robustpose_bench.evaluation.sweep import Sweep

__all__ = [
    "AttackedKeypointAPEvaluator", "ConditionOutput", "DataSpec", "DatasetEvaluator",
    "DiskStore", "EvaluatorGroup", "ImagePrediction", "KeypointAPEvaluator", "LocalPredictor",
    "MemoryStore", "PCKhEvaluator", "Predictions", "Predictor", "ResultStore", "RunSettings",
    "StabilityEvaluator", "Sweep", "benchmark", "default_metric", "evaluate", "merge_shards",
    "metric_evaluator", "run_settings", "shipped_models",
]
