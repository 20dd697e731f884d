"""Shared pytest fixtures: a small SynthPose val split that any test module can use."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def synthpose_val(tmp_path_factory):
    """A 12-image SynthPose val split (seed 0), generated once per test session (per xdist
    worker). Returns the dict of `robustpose_bench.datasets.synthpose.generate`: root, ann_file,
    image_root, mpii_file, mpii_gt_mat, detections, mask_root (all `Path`)."""
    from robustpose_bench.datasets.synthpose import generate

    return generate(tmp_path_factory.mktemp("synthpose_val"), split="val", num_images=12, seed=0)
