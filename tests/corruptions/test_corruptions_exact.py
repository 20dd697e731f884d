"""Exactness contract: our corruptions equal stock `imagecorruptions` 1.1.2 run right after
`np.random.seed(seed)`, for all 19 corruptions x 5 severities x 3 shapes (gray, non-square)."""
from __future__ import annotations

import numpy as np
import pytest
from _corruption_data import SHAPES, natural_image

from robustpose_bench.corruptions import ALL_CORRUPTIONS, corrupt

SEEDED = [c for c in ALL_CORRUPTIONS if c != "impulse_noise"]


def _compare(ours: np.ndarray, ref: np.ndarray) -> tuple[int, float]:
    if ref.ndim == 2:
        ref = np.stack([ref] * 3, axis=-1)
    assert ours.shape == ref.shape and ours.dtype == np.uint8
    diff = np.abs(ours.astype(np.int16) - ref.astype(np.int16))
    return int(diff.max()), float((diff == 0).mean())


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("name", SEEDED)
def test_matches_reference(name, severity, shape, images, ref_corrupt):
    img = images[shape]
    seed = 1000 * ALL_CORRUPTIONS.index(name) + 10 * severity + list(SHAPES).index(shape)
    ours = corrupt(img, name, severity, seed=seed)
    ref = ref_corrupt(img, name, severity, seed)
    max_diff, same = _compare(ours, ref)
    assert max_diff <= 1, f"{name}/{severity} {shape}: max diff {max_diff}"
    assert same >= 0.9999, f"{name}/{severity} {shape}: only {100 * same:.3f}% identical"


@pytest.mark.parametrize("name", SEEDED)
def test_matches_reference_larger_image(name, ref_corrupt):
    """One bigger, odd-sized photo (frost texture scaling, fog map 256, zoom/snow geometry)."""
    if name == "glass_blur":
        pytest.skip("the reference glass blur is pure Python; covered on the small shapes")
    img = natural_image(131, 197, "chelsea")
    for severity in (1, 5):
        ours = corrupt(img, name, severity, seed=severity)
        ref = ref_corrupt(img, name, severity, severity)
        max_diff, same = _compare(ours, ref)
        assert max_diff <= 1 and same >= 0.9999, (name, severity, max_diff, same)


class _LegacyAsGenerator:
    """Stands in for the `np.random.default_rng()` that scikit-image's random_noise builds,
    drawing from a legacy RandomState instead (what our impulse_noise does)."""

    def __init__(self, seed: int):
        self.rs = np.random.RandomState(seed)

    def random(self, shape):
        return self.rs.random_sample(shape)


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_impulse_noise_is_the_seeded_reference(severity, shape, images, reference,
                                               monkeypatch):
    """With skimage's generator replaced by RandomState(seed), stock impulse_noise gives our
    output bit for bit: ours is the seeded equivalent of the reference."""
    img = images[shape]
    seed = 77 + severity
    monkeypatch.setattr(np.random, "default_rng", lambda seed_=None: _LegacyAsGenerator(seed))
    ref = reference.corrupt(img, corruption_name="impulse_noise", severity=severity)
    monkeypatch.undo()
    max_diff, same = _compare(corrupt(img, "impulse_noise", severity, seed=seed), ref)
    assert max_diff == 0 and same == 1.0


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_impulse_noise_statistics(severity, ref_corrupt):
    """Fraction of changed values matches the severity's amount (and the unseeded stock one)."""
    amount = (0.03, 0.06, 0.09, 0.17, 0.27)[severity - 1]
    img = np.full((96, 128, 3), 100, np.uint8)  # neither 0 nor 255: every flip is visible
    ours = corrupt(img, "impulse_noise", severity, seed=5)
    changed = (ours != img).mean()
    n = img.size
    assert abs(changed - amount) < 5 * np.sqrt(amount * (1 - amount) / n)
    salt = (ours == 255).sum() / max((ours != img).sum(), 1)
    assert abs(salt - 0.5) < 0.05
    assert set(np.unique(ours)) <= {0, 100, 255}
    ref = ref_corrupt(img, "impulse_noise", severity, 0)  # unseeded inside skimage
    assert abs((ref != img).mean() - changed) < 10 * np.sqrt(amount * (1 - amount) / n)
    np.testing.assert_array_equal(ours, corrupt(img, "impulse_noise", severity, seed=5))
    assert not np.array_equal(ours, corrupt(img, "impulse_noise", severity, seed=6))
