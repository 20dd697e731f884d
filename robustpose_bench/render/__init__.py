"""Rendering benchmarks to disk or in memory: conditions, seeding, encoding, parallel jobs,
manifests and verification. One per-image function serves `generate`, `attack` and
`evaluate --on-the-fly`, so pixels on disk and in memory are identical."""
from robustpose_bench.render.conditions import Condition, parse_condition
from robustpose_bench.render.protocol import PROTOCOLS, Protocol, get_protocol

__all__ = ["Condition", "PROTOCOLS", "Protocol", "get_protocol", "parse_condition"]
