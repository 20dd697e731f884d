"""The benchmark's condition names as the metrics need them (re-exported from
`robustpose_bench.names`, which has no image-processing imports)."""
from robustpose_bench.names import CATEGORIES, CORRUPTIONS, EXTRA_CORRUPTIONS, SEVERITIES

__all__ = ["CATEGORIES", "CORRUPTIONS", "EXTRA_CORRUPTIONS", "SEVERITIES"]
