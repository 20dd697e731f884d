"""Keypoint-order mapping shared by every adapter: a model's keypoints, in its own order
(COCO-17, MPII-16, COCO-WholeBody-133, Halpe-26, CrowdPose-14 or any named list), are put
into the data set's order by keypoint NAME (issue 13, part 5).

Names are compared after spelling normalisation only (`canonical_name`: case, separators,
`L_`/`R_` prefixes, MMPose's `top_head`); points with different names are never treated as
the same point (MPII's `upper_neck` is not CrowdPose's `neck`), so a data set keypoint the
model does not predict is an error that lists every such keypoint.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from robustpose_bench.adapters.base import AdapterError
from robustpose_bench.datasets.meta import COCO_KEYPOINTS, CROWDPOSE_KEYPOINTS, MPII_KEYPOINTS

# COCO-WholeBody (Jin et al., ECCV 2020) and Halpe-26 (AlphaPose / Halpe-FullBody), in the
# order of MMPose's `configs/_base_/datasets/coco_wholebody.py` and `halpe26.py`.
_FEET = ("left_big_toe", "left_small_toe", "left_heel",
         "right_big_toe", "right_small_toe", "right_heel")
_FINGERS = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")


def _hand(side: str) -> tuple[str, ...]:
    return (f"{side}_hand_root",) + tuple(f"{side}_{f}{i}" for f in _FINGERS for i in range(1, 5))


COCO_WHOLEBODY_KEYPOINTS = (COCO_KEYPOINTS + _FEET + tuple(f"face-{i}" for i in range(68))
                            + _hand("left") + _hand("right"))
HALPE26_KEYPOINTS = COCO_KEYPOINTS + (
    "head", "neck", "hip", "left_big_toe", "right_big_toe", "left_small_toe",
    "right_small_toe", "left_heel", "right_heel")

# Known orders by name; `keypoint_order=<name>` selects one (aliases on the right).
KNOWN_ORDERS: dict[str, tuple[str, ...]] = {
    "coco": COCO_KEYPOINTS,
    "mpii": MPII_KEYPOINTS,
    "coco_wholebody": COCO_WHOLEBODY_KEYPOINTS,
    "halpe26": HALPE26_KEYPOINTS,
    "crowdpose": CROWDPOSE_KEYPOINTS,
}
ORDER_ALIASES = {"coco17": "coco", "body17": "coco", "mpii16": "mpii", "wholebody": "coco_wholebody",
                 "coco_wholebody133": "coco_wholebody", "wholebody133": "coco_wholebody",
                 "halpe": "halpe26", "crowdpose14": "crowdpose"}
# Pure spelling variants of one point (same data set, other tool): MMPose's CrowdPose meta
# calls the head top `top_head`, the CrowdPose annotation files call it `head`.
_SPELLINGS = {"top_head": "head"}


def canonical_name(name: str) -> str:
    """Spelling-normalised keypoint name: `L_Shoulder`, `LShoulder`, `left-shoulder` and
    `Left Shoulder` all become `left_shoulder`; `face-3` stays `face_3`."""
    text = re.sub(r"^([LR])(?=[A-Z][a-z])", r"\1_", str(name).strip())  # LShoulder -> L_Shoulder
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)  # camelCase -> snake_case
    text = re.sub(r"[\s\-.]+", "_", text.lower()).strip("_")
    text = re.sub(r"^l_", "left_", text)
    text = re.sub(r"^r_", "right_", text)
    return _SPELLINGS.get(text, text)


def resolve_order(spec: Any, what: str = "keypoint_order") -> tuple[str, ...]:
    """Keypoint names from a known order name (`coco`, `mpii`, `coco_wholebody`, `halpe26`,
    `crowdpose`, or an alias), a comma-separated string or a sequence of names."""
    if isinstance(spec, str):
        key = spec.strip().lower().replace("-", "_")
        key = ORDER_ALIASES.get(key, key)
        if key in KNOWN_ORDERS:
            return KNOWN_ORDERS[key]
        if "," not in spec:
            raise AdapterError(f"{what}={spec!r}: not a known keypoint order (known: "
                               f"{', '.join(KNOWN_ORDERS)}) nor a comma-separated list of names")
        spec = [s for s in (p.strip() for p in spec.split(",")) if s]
    try:
        names = tuple(str(n) for n in spec)
    except TypeError:
        raise AdapterError(f"{what}: expected a known order name or a list of keypoint names, "
                           f"got {type(spec).__name__}") from None
    if not names:
        raise AdapterError(f"{what}: empty list of keypoint names")
    canon = [canonical_name(n) for n in names]
    dup = sorted({n for n in canon if canon.count(n) > 1})
    if dup:
        raise AdapterError(f"{what}: keypoint name(s) given twice: {', '.join(dup)}")
    return names


def guess_order(num_keypoints: int) -> str | None:
    """The known order with `num_keypoints` keypoints, if exactly one has that many."""
    hits = [k for k, v in KNOWN_ORDERS.items() if len(v) == num_keypoints]
    return hits[0] if len(hits) == 1 else None


def flip_pairs_by_name(names: Sequence[str]) -> list[tuple[int, int]]:
    """Left/right pairs (i, j), i < j, of a keypoint list found by the `left_` / `right_`
    naming (after `canonical_name`); used for the flip test in the MODEL's order."""
    canon = [canonical_name(n) for n in names]
    index = {n: i for i, n in enumerate(canon)}
    pairs = []
    for i, n in enumerate(canon):
        if n.startswith("left_") and ("right_" + n[5:]) in index:
            j = index["right_" + n[5:]]
            pairs.append((min(i, j), max(i, j)))
    return sorted(pairs)


def flip_index_by_name(names: Sequence[str]) -> np.ndarray:
    """(K,) permutation that swaps the left/right keypoints of `names`."""
    idx = np.arange(len(names))
    for a, b in flip_pairs_by_name(names):
        idx[a], idx[b] = b, a
    return idx


@dataclass(frozen=True)
class KeypointMapping:
    """Selects and reorders a model's keypoints into the data set's order.

    source: the model's keypoint names (its output order); target: the data set's names;
    index: (K_target,) int, `out[:, t] = model_out[:, index[t]]`.
    """

    source: tuple[str, ...]
    target: tuple[str, ...]
    index: np.ndarray

    @classmethod
    def build(cls, source: Sequence[str], target: Sequence[str], model: str = "the model",
              dataset: str = "the data set") -> KeypointMapping:
        """Mapping by name; raises AdapterError listing every target keypoint that the
        model does not predict (by name, after `canonical_name`)."""
        source, target = tuple(str(s) for s in source), tuple(str(t) for t in target)
        where = {}
        for i, n in enumerate(source):
            where.setdefault(canonical_name(n), i)
        missing = [t for t in target if canonical_name(t) not in where]
        if missing:
            raise AdapterError(
                f"{model} ({len(source)} keypoints) cannot be mapped to {dataset}: no model "
                f"keypoint named {', '.join(repr(m) for m in missing)} ({len(missing)} of "
                f"{len(target)}); the model predicts: {_short_list(source)}")
        index = np.array([where[canonical_name(t)] for t in target], dtype=np.int64)
        return cls(source, target, index)

    @property
    def is_identity(self) -> bool:
        return len(self.source) == len(self.target) and bool(
            (self.index == np.arange(len(self.target))).all())

    def apply(self, keypoints: np.ndarray) -> np.ndarray:
        """(..., K_source, C) -> (..., K_target, C) along axis -2."""
        arr = np.asarray(keypoints)
        if arr.shape[-2] != len(self.source):
            raise AdapterError(f"the model returned {arr.shape[-2]} keypoints, its keypoint "
                               f"order has {len(self.source)}")
        return arr if self.is_identity else arr[..., self.index, :]


def _short_list(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def model_to_dataset(model_names: Sequence[str] | None, num_model_keypoints: int, meta: Any,
                     order_arg: Any = None, model: str = "the model"
                     ) -> tuple[tuple[str, ...] | None, KeypointMapping | None]:
    """Decide a model's keypoint order and its mapping to the data set `meta`.

    The order comes from `order_arg` (the `keypoint_order` model argument) when given, else
    from `model_names` (what the model file says), else from the data set when the counts
    agree, else from the one known order of that size. Returns (model order or None, mapping
    or None when there is no data set). Raises AdapterError when the counts disagree or a
    data set keypoint has no model keypoint of its name.
    """
    names: tuple[str, ...] | None = None
    if order_arg is not None and order_arg != "":
        names = resolve_order(order_arg)
    elif model_names:
        names = tuple(str(n) for n in model_names)
    elif meta is not None and num_model_keypoints == meta.num_keypoints:
        names = tuple(meta.keypoint_names)
    elif guess_order(num_model_keypoints):
        names = KNOWN_ORDERS[guess_order(num_model_keypoints)]
    if names is not None and len(names) != num_model_keypoints:
        raise AdapterError(f"{model} predicts {num_model_keypoints} keypoints but its keypoint "
                           f"order has {len(names)} names")
    if meta is None:
        return names, None
    if names is None:
        raise AdapterError(f"{model} predicts {num_model_keypoints} keypoints, the data set "
                           f"{meta.name} has {meta.num_keypoints}, and no keypoint names are "
                           f"known: pass --model-arg keypoint_order=NAME (one of "
                           f"{', '.join(KNOWN_ORDERS)}) or a comma-separated list")
    return names, KeypointMapping.build(names, meta.keypoint_names, model,
                                        f"the data set {meta.name}")
