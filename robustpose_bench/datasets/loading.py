"""Open any supported annotation file by its format: COCO-format json (an object with
`images`/`annotations`) or MPII json (a list of person records)."""
from __future__ import annotations

from pathlib import Path

from robustpose_bench.datasets._jsonio import read_json
from robustpose_bench.datasets.coco import load_coco
from robustpose_bench.datasets.errors import AnnotationError
from robustpose_bench.datasets.mpii import load_mpii
from robustpose_bench.datasets.types import Dataset


def detect_format(ann_file: str | Path) -> str:
    """`coco` or `mpii`, from the file's top-level structure."""
    head = Path(ann_file).read_bytes()[:4096].lstrip()
    if head.startswith(b"{"):
        return "coco"
    if head.startswith(b"["):
        return "mpii"
    data = read_json(ann_file)  # raises a clear error for malformed files
    raise AnnotationError(ann_file, f"unrecognised annotation format ({type(data).__name__})")


def load_dataset(ann_file: str | Path, image_root: str | Path | None = None,
                 dataset_name: str | None = None, gt_mat: str | Path | None = None,
                 check_images: bool = True) -> Dataset:
    """Load a data set, picking the reader from the file's content."""
    path = Path(ann_file)
    if not path.is_file():
        raise AnnotationError(path, "file not found")
    if detect_format(path) == "mpii":
        return load_mpii(path, image_root, gt_mat=gt_mat, check_images=check_images)
    return load_coco(path, image_root, dataset_name=dataset_name, check_images=check_images)
