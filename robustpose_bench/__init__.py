"""robustpose-bench: robustness benchmark for human pose estimation.

    >>> import robustpose_bench as rpb
    >>> summary = rpb.benchmark("synthpose_hrnet_w16_standard", "synthpose-c")  # doctest: +SKIP
    >>> summary.clean, summary.mPC, summary.rPC                                 # doctest: +SKIP

The public API (README "Python API"): `evaluate`, `benchmark`, `Summary`, `Condition`,
`corrupt`, `CORRUPTIONS`, `load_dataset`, `create_model`, `load_adapter`. The names are
imported on first use, so `import robustpose_bench` (and `robustpose --help`) stays fast.
"""
import importlib as _importlib
import typing as _typing

__version__ = "0.1.0"

#: public name -> the module that defines it
_API: dict[str, str] = {
    "evaluate": "robustpose_bench.evaluation.api",
    "benchmark": "robustpose_bench.evaluation.api",
    "Summary": "robustpose_bench.results",
    "Condition": "robustpose_bench.render.conditions",
    "corrupt": "robustpose_bench.corruptions",
    "CORRUPTIONS": "robustpose_bench.names",
    "load_dataset": "robustpose_bench.datasets.loading",
    "create_model": "robustpose_bench.models",
    "load_adapter": "robustpose_bench.adapters.loading",
}

__all__ = ["CORRUPTIONS", "Condition", "Summary", "__version__", "benchmark", "corrupt",
           "create_model", "evaluate", "load_adapter", "load_dataset"]

if _typing.TYPE_CHECKING:  # pragma: no cover
    from robustpose_bench.adapters.loading import load_adapter
    from robustpose_bench.corruptions import corrupt
    from robustpose_bench.datasets.loading import load_dataset
    from robustpose_bench.evaluation.api import benchmark, evaluate
    from robustpose_bench.models import create_model
    from robustpose_bench.names import CORRUPTIONS
    from robustpose_bench.render.conditions import Condition
    from robustpose_bench.results import Summary


def __getattr__(name: str) -> object:
    """Import an API name from its module on first access (PEP 562)."""
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'robustpose_bench' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(n for n in set(globals()) | set(__all__) if not n.startswith("_")
                  or n.startswith("__"))
