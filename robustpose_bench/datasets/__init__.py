"""Dataset readers: COCO-format keypoint files (COCO, OCHuman, CrowdPose), person detection
results and MPII, all into one data model (`types.py`), plus the embedded SynthPose set."""
from robustpose_bench.datasets.coco import load_coco
from robustpose_bench.datasets.detections import load_detections
from robustpose_bench.datasets.errors import AnnotationError
from robustpose_bench.datasets.loading import load_dataset
from robustpose_bench.datasets.meta import (
    COCO,
    CROWDPOSE,
    MPII,
    OCHUMAN,
    SYNTHPOSE,
    DatasetMeta,
    get_meta,
)
from robustpose_bench.datasets.mpii import load_mpii
from robustpose_bench.datasets.types import Dataset, Person, Sample

__all__ = ["AnnotationError", "load_coco", "load_detections", "load_dataset", "load_mpii",
           "COCO", "CROWDPOSE", "MPII", "OCHUMAN", "SYNTHPOSE", "Dataset", "DatasetMeta",
           "Person", "Sample", "get_meta"]
