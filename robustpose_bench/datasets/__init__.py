"""Dataset readers: COCO-format keypoint files (COCO, OCHuman, CrowdPose), person detection
results and MPII, all into one data model (`types.py`), plus the embedded SynthPose set."""
from robustpose_bench.datasets.meta import (
    COCO,
    CROWDPOSE,
    MPII,
    OCHUMAN,
    SYNTHPOSE,
    DatasetMeta,
    get_meta,
)
from robustpose_bench.datasets.types import Dataset, Person, Sample

__all__ = ["COCO", "CROWDPOSE", "MPII", "OCHUMAN", "SYNTHPOSE", "Dataset", "DatasetMeta",
           "Person", "Sample", "get_meta"]
