"""Rendering protocols: how seeds, severity folders and file encoding are chosen.

`robustpose` (default): per-image seed derived from (benchmark seed, file name, corruption,
severity), severity folders 1..5, JPEG quality 95. `advmix` reproduces the AdvMix authors'
COCO-C/MPII-C: `np.random.seed(1)` before every call (every image of a size gets the same noise
field), severity folders 0..4, PIL's default JPEG quality 75 (PROTOCOL.md section 1).
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Protocol:
    name: str
    seed: int
    format: str  # "jpg" or "png"
    quality: int  # JPEG quality (ignored for png)
    per_image_seed: bool
    severity_offset: int  # folder name = severity + offset (advmix: 0..4)

    def severity_folder(self, severity: int) -> str:
        return str(severity + self.severity_offset)

    def call_seed(self, file_name: str, corruption: str, severity: int) -> int:
        """The RandomState seed of one corruption call (legacy `np.random.seed` semantics)."""
        if not self.per_image_seed:
            return self.seed
        return derive_seed(self.seed, file_name, corruption, severity)

    def with_overrides(self, seed: int | None = None, format: str | None = None,
                       quality: int | None = None) -> Protocol:
        p = self
        if seed is not None:
            p = replace(p, seed=int(seed))
        if format is not None:
            fmt = format.lower().lstrip(".")
            fmt = "jpg" if fmt == "jpeg" else fmt
            if fmt not in ("jpg", "png"):
                raise ValueError(f"unknown image format {format!r}; valid: jpg, png")
            p = replace(p, format=fmt)
        if quality is not None:
            if not 1 <= int(quality) <= 100:
                raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
            p = replace(p, quality=int(quality))
        return p

    def to_dict(self) -> dict:
        return asdict(self)


def derive_seed(benchmark_seed: int, file_name: str, corruption: str, severity: int) -> int:
    """Stable 32-bit seed from (benchmark seed, file name, corruption, severity).

    sha256 of the tab-joined fields, first 4 bytes little-endian: independent of Python's
    hash randomisation, platform and process, so any single file can be re-rendered alone.
    """
    key = f"{int(benchmark_seed)}\t{file_name}\t{corruption}\t{int(severity)}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "little")


PROTOCOLS: dict[str, Protocol] = {
    "robustpose": Protocol("robustpose", seed=0, format="jpg", quality=95, per_image_seed=True,
                           severity_offset=0),
    "advmix": Protocol("advmix", seed=1, format="jpg", quality=75, per_image_seed=False,
                       severity_offset=-1),
}


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; valid: {', '.join(PROTOCOLS)}") from None
