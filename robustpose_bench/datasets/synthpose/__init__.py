"""SynthPose: the embedded default data set of procedural people with the 17 COCO keypoints,
COCO / MPII annotations, person part masks and detection results (issue 2; docs/synthpose.md).

`generate(out_dir, split="val")` writes a split; `render_image(rng)` draws one image in memory.
"""
from robustpose_bench.datasets.synthpose.render import (
    KEYPOINT_PARTS,
    PART_LABELS,
    PART_NAMES,
    RenderedImage,
    RenderedPerson,
    render_image,
)
from robustpose_bench.datasets.synthpose.writer import (
    DEFAULT_IMAGES,
    DEFAULT_SEED,
    SPLITS,
    generate,
    image_file_name,
    image_seed,
)

__all__ = ["DEFAULT_IMAGES", "DEFAULT_SEED", "KEYPOINT_PARTS", "PART_LABELS", "PART_NAMES",
           "SPLITS", "RenderedImage", "RenderedPerson", "generate", "image_file_name",
           "image_seed", "render_image"]
