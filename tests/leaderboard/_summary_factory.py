"""Synthetic `summary.json` dicts of `robustpose evaluate` (COMMON.md schema) for tests."""
from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable

CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
CATEGORIES = {"noise": CORRUPTIONS[0:3], "blur": CORRUPTIONS[3:7],
              "weather": CORRUPTIONS[7:11], "digital": CORRUPTIONS[11:15]}
KEYPOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
             "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
             "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
PARTS = ("head", "left_arm", "right_arm", "hip", "left_leg", "right_leg", "corpus",
         "upper_body", "lower_body", "left_side", "right_side")
SHA = hashlib.sha256(b"synthpose-c manifest").hexdigest()


def condition_value(clean: float, robustness: float, c_index: int, severity: int) -> float:
    """A made-up but plausible score: drops with severity, differently per corruption."""
    hardness = 0.04 + 0.012 * ((c_index * 7) % 11)
    return round(clean * max(0.02, 1.0 - hardness * severity / robustness), 4)


def make_summary(name: str = "hrnet_w16_small", method: str = "standard", clean: float = 70.0,
                 robustness: float = 1.0, dataset: str = "synthpose", metric: str = "AP",
                 input_size: tuple[int, int] = (192, 256), params: int = 1_234_567,
                 seed: int = 0, missing: Iterable[str] = (), attacks: bool = False,
                 stability: bool = False, manifest_sha: str = SHA,
                 version: str = "0.1.0", created: str = "2025-01-02T03:04:05+00:00") -> dict:
    """A valid summary with 75 conditions (minus `missing` `corruption/severity` ids), mPC /
    rPC / breakdowns consistent with per_condition; optional attacks and stability blocks."""
    missing = set(missing)
    per_condition: dict[str, dict[str, float]] = {}
    for i, c in enumerate(CORRUPTIONS):
        sev = {str(s): condition_value(clean, robustness, i, s) for s in range(1, 6)
               if f"{c}/{s}" not in missing}
        if sev:
            per_condition[c] = sev
    per_corruption = {c: sum(v.values()) / len(v) for c, v in per_condition.items()}
    mpc = sum(per_corruption.values()) / len(per_corruption)
    per_severity = {}
    for s in range(1, 6):
        vals = [v[str(s)] for v in per_condition.values() if str(s) in v]
        if vals:
            per_severity[str(s)] = sum(vals) / len(vals)
    per_category = {cat: sum(per_corruption[c] for c in names if c in per_corruption)
                    / max(1, sum(1 for c in names if c in per_corruption))
                    for cat, names in CATEGORIES.items()}
    out = {
        "schema_version": 1, "metric": metric, "units": "percent", "clean": clean,
        "mPC": mpc, "rPC": 100.0 * mpc / clean,
        "per_condition": per_condition, "per_corruption": per_corruption,
        "per_severity": per_severity, "per_category": per_category,
        "partial": bool(missing),
        "clean_metrics": {metric: clean},
        "model": {"name": name, "spec": name, "method": method, "backbone": "HRNet-W16",
                  "input_size": list(input_size), "params": params},
        "dataset": {"name": dataset, "ann_file": f"annotations/{dataset}_val.json",
                    "ann_sha256": "0" * 64, "num_images": 64, "num_persons": 100},
        "boxes": "gt",
        "protocol": {"name": "robustpose", "seed": seed, "on_the_fly": False,
                     "format": "jpg", "quality": 95},
        "manifest": {"benchmark": f"{dataset}-c", "sha256": manifest_sha},
        "versions": {"robustpose_bench": version, "python": "3.11.2"},
        "created": created,
    }
    if attacks:
        out["attacks"] = make_attacks(clean, robustness)
    if stability:
        out["stability"] = make_stability(robustness)
    return out


def make_attacks(clean: float, robustness: float = 1.0) -> dict:
    att = {}
    for m, mode in enumerate(("blackout", "meanout", "blur")):
        for k, kp in enumerate(KEYPOINTS):
            loss = (5.0 if kp == "nose" else 1.0 / (1 + k)) * (1.0 - 0.3 * m) / robustness
            att[f"{mode}/{kp}"] = {"AP": round(clean - loss, 4), "AP_keypoint": None}
        for p, part in enumerate(PARTS):
            loss = (44.0 if part == "upper_body" else 3.0 + p) * (1.0 - 0.3 * m) / robustness
            att[f"{mode}/{part}"] = {"AP": round(clean - loss, 4), "AP_keypoint": None}
    return att


def make_stability(robustness: float = 1.0, p_max: int = 30) -> dict:
    """Entries shaped like robustpose_bench.metrics.stability.stability()."""
    out = {}
    for c in ("gaussian_blur", "speckle_noise", "spatter"):
        for s in (1, 3):
            curve = [min(1.0, (t / (40.0 / robustness * s ** 0.3)) ** 0.5)
                     for t in range(1, p_max + 1)]
            ruc = (sum(curve) - (curve[0] + curve[-1]) / 2) / (len(curve) - 1)
            out[f"{c}/{s}"] = {"R": round(4000.0 / robustness * s, 3), "R_mean": 4.0 * s,
                               "curve": curve, "RUC": ruc, "curve_norm": curve,
                               "RUC_norm": ruc, "p_max": p_max, "per": "keypoint",
                               "num_terms": 1000, "units": {"R": "px^2 (image pixels), sum"}}
    return out


def variant(summary: dict, **changes) -> dict:
    """Deep copy with top-level keys replaced."""
    out = copy.deepcopy(summary)
    out.update(changes)
    return out
