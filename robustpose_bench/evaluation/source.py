"""Where the pixels of a sample under a condition come from: the clean source image, a
rendered benchmark folder (`--corrupted`), or the engine in memory (`--on-the-fly`, the same
per-image function as `generate`, so the pixels are identical)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustpose_bench.datasets.types import Dataset, Sample
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.image import render_in_memory_with_info
from robustpose_bench.render.imageio import read_image
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
        if condition.kind == "clean" or (condition.kind == "attack" and not self.attacks_in_image):
            return read_image(self.dataset.image_path(sample), self.max_pixels), {}
        if condition.kind == "corruption" and self.rendered_root is not None:
            path = self.rendered_root / condition_relpath(condition, self.protocol, sample.file_name)
            if not path.is_file():
                raise MissingRenderError(
                    f"condition {condition.id}: {path} is missing from the rendered benchmark "
                    f"{self.rendered_root}; render it with `robustpose generate` (same --out) or "
                    f"evaluate with --on-the-fly")
            return read_image(path, self.max_pixels), {}
        image = read_image(self.dataset.image_path(sample), self.max_pixels)
        return render_in_memory_with_info(image, condition, self.protocol, sample.file_name,
                                          sample.persons, self.dataset.meta)
