"""The per-image rendering function shared by `generate`, `attack` and the evaluator's
`--on-the-fly` mode: source pixels -> condition applied -> encoded bytes -> decoded pixels.

Attacks are lossless: in memory their pixels are used as drawn (no encode / decode), equal to
the PNG files `attack` writes by default, so an attack measures the occlusion alone.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robustpose_bench.datasets.meta import DatasetMeta
from robustpose_bench.datasets.types import Person
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.imageio import decode_bytes, encode_image
from robustpose_bench.render.protocol import Protocol


def apply_condition(image: np.ndarray, condition: Condition, protocol: Protocol, file_name: str,
                    persons: Sequence[Person] = (), meta: DatasetMeta | None = None
                    ) -> tuple[np.ndarray, dict]:
    """Apply one condition to RGB uint8 pixels (before encoding).

    Returns (pixels, info); info is empty for corruptions and says which persons were
    attacked or skipped for attacks (image mode: every annotated person at once).
    """
    if condition.kind == "clean":
        return image, {}
    if condition.kind == "corruption":
        from robustpose_bench.corruptions import corrupt

        seed = protocol.call_seed(file_name, condition.name, condition.severity)
        return corrupt(image, condition.name, condition.severity, seed=seed), {}
    if condition.kind == "attack":
        from robustpose_bench.occlusion import attack_image

        if meta is None:
            raise ValueError("an attack condition needs the data set meta (keypoint layout)")
        return attack_image(image, persons, condition.target, condition.name, meta,
                            radius=condition.radius)
    raise ValueError(f"unknown condition kind {condition.kind!r}")


def render_bytes(image: np.ndarray, condition: Condition, protocol: Protocol, file_name: str,
                 persons: Sequence[Person] = (), meta: DatasetMeta | None = None
                 ) -> tuple[bytes, dict]:
    """Apply the condition and encode with the protocol's format/quality (the on-disk bytes)."""
    pixels, info = apply_condition(image, condition, protocol, file_name, persons, meta)
    return encode_image(pixels, protocol.format, protocol.quality), info


def render_in_memory(image: np.ndarray, condition: Condition, protocol: Protocol, file_name: str,
                     persons: Sequence[Person] = (), meta: DatasetMeta | None = None
                     ) -> np.ndarray:
    """The pixels a model would read from the rendered file, without touching the disk.

    Clean images are returned as decoded from the source (no re-encoding), like on disk;
    attacks as drawn (lossless: the pixels of a PNG attack file, whatever `protocol.format`
    says, which only applies to corruptions); corruptions through the protocol's encoding.
    """
    return render_in_memory_with_info(image, condition, protocol, file_name, persons, meta)[0]


def render_in_memory_with_info(image: np.ndarray, condition: Condition, protocol: Protocol,
                               file_name: str, persons: Sequence[Person] = (),
                               meta: DatasetMeta | None = None) -> tuple[np.ndarray, dict]:
    """`render_in_memory` plus the attack info (who was attacked / skipped)."""
    if condition.kind == "clean":
        return image, {}
    if condition.kind == "attack":
        return apply_condition(image, condition, protocol, file_name, persons, meta)
    data, info = render_bytes(image, condition, protocol, file_name, persons, meta)
    return decode_bytes(data), info
