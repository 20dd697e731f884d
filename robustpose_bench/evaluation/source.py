"""Where the pixels of a sample under a condition come from: the clean source image, a
rendered benchmark folder (`--corrupted`), or the engine in memory (`--on-the-fly`, the same
per-image function as `generate`, so the pixels are identical)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustpose_bench.datasets.types import Dataset, Sample
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.image import apply_condition
from robustpose_bench.render.imageio import decode_bytes, encode_image, read_image
from robustpose_bench.render.jobs import condition_relpath
from robustpose_bench.render.manifest import read_manifest
from robustpose_bench.render.protocol import Protocol, get_protocol


class MissingRenderError(FileNotFoundError):
    """A corrupted file that should exist in the rendered benchmark but does not."""


@dataclass
class ImageSource:
    """Pixels of (sample, condition). `rendered_root` None means on-the-fly rendering.
    max_pixels: the reader's pixel limit (None: `render.imageio.max_pixels_limit()`)."""

    dataset: Dataset
    protocol: Protocol
    rendered_root: Path | None = None
    attacks_in_image: bool = True
    max_pixels: int | None = None

    @classmethod
    def from_rendered(cls, dataset: Dataset, root: str | Path) -> ImageSource:
        manifest = read_manifest(root)
        proto = get_protocol(manifest["protocol"]).with_overrides(
            manifest.get("seed"), manifest.get("format"), manifest.get("quality"))
        return cls(dataset, proto, Path(root))

    def load(self, sample: Sample, condition: Condition) -> np.ndarray:
        """RGB uint8 (H, W, 3). Crop-mode attacks are applied later, on the crops: for those
        (attacks_in_image False) the clean image is returned."""
        return self.load_with_info(sample, condition)[0]

    def load_with_info(self, sample: Sample, condition: Condition) -> tuple[np.ndarray, dict]:
        """`load` plus the image-mode attack info (empty for other conditions)."""
        image, info, _ = self.load_timed(sample, condition)
        return image, info

    def load_timed(self, sample: Sample, condition: Condition
                   ) -> tuple[np.ndarray, dict, dict[str, float]]:
        """`load_with_info` plus the CPU seconds of its stages: `decode` (reading the file),
        `corrupt` (the condition applied in memory), `jpeg` (the protocol's encode + decode
        round trip of an in-memory corruption). The steps are those of
        `render.image.render_in_memory_with_info`, so the pixels equal `generate`'s files."""
        clock = time.process_time
        t0 = clock()
        if condition.kind == "clean" or (condition.kind == "attack" and not self.attacks_in_image):
            image = read_image(self.dataset.image_path(sample), self.max_pixels)
            return image, {}, {"decode": clock() - t0}
        if condition.kind == "corruption" and self.rendered_root is not None:
            path = self.rendered_root / condition_relpath(condition, self.protocol, sample.file_name)
            if not path.is_file():
                raise MissingRenderError(
                    f"condition {condition.id}: {path} is missing from the rendered benchmark "
                    f"{self.rendered_root}; render it with `robustpose generate` (same --out) or "
                    f"evaluate with --on-the-fly")
            image = read_image(path, self.max_pixels)
            return image, {}, {"decode": clock() - t0}
        image = read_image(self.dataset.image_path(sample), self.max_pixels)
        t1 = clock()
        pixels, info = apply_condition(image, condition, self.protocol, sample.file_name,
                                       sample.persons, self.dataset.meta)
        t2 = clock()
        seconds = {"decode": t1 - t0, "corrupt": t2 - t1}
        if condition.kind == "attack":  # lossless: the pixels as drawn
            return pixels, info, seconds
        pixels = decode_bytes(encode_image(pixels, self.protocol.format, self.protocol.quality))
        seconds["jpeg"] = clock() - t2
        return pixels, info, seconds
