"""Each attack mode changes exactly the region's pixels, with the stated fill / Gaussian."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from robustpose_bench.datasets.meta import COCO
from robustpose_bench.occlusion import (
    AttackSpec,
    Canvas,
    Circle,
    GaussianSpec,
    Rect,
    draw_attack,
    get_target,
    region_mask,
)
from robustpose_bench.occlusion.modes import blur_roi, fill_region, opencv_default_sigma


def brute_circle(h, w, cx, cy, r):
    ys, xs = np.mgrid[0:h, 0:w]
    return (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r


@pytest.mark.parametrize("cx,cy,r", [(20.0, 30.0, 6.0), (20.4, 29.7, 6.0), (0.0, 0.0, 5.5),
                                     (63.2, 47.9, 18.0), (-3.0, 10.0, 4.0), (70.0, 10.0, 2.0)])
def test_circle_pixels_are_centres_inside(cx, cy, r):
    h, w = 48, 64
    assert np.array_equal(region_mask(Circle(cx, cy, r), h, w), brute_circle(h, w, cx, cy, r))


def test_rect_pixels_are_centres_inside_closed_box():
    m = region_mask(Rect(2.0, 3.5, 5.0, 6.0), 10, 10)
    ys, xs = np.nonzero(m)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (2, 5, 4, 6)
    assert m.sum() == 4 * 3
    assert not region_mask(Rect(-9, -9, -1, -1), 10, 10).any()


def test_radius_6_circle_has_113_pixels():
    # the 13x13 heatmap Gaussian support the paper wants to cover
    assert region_mask(Circle(20, 20, 6), 40, 40).sum() == 113


@pytest.fixture
def image(scene):
    return scene[0]


def _apply(image, region, mode, spec):
    canvas = Canvas(image.copy(), source=image)
    n = fill_region(canvas, region, mode, spec)
    return canvas.image, n


@pytest.mark.parametrize("region", [Circle(150.3, 97.6, 6), Rect(40.5, 60, 120, 140.2),
                                    Circle(2, 3, 9), Rect(380, 300, 450, 400)])
def test_blackout_exactly_inside(image, region):
    out, n = _apply(image, region, "blackout", GaussianSpec(11))
    mask = region_mask(region, *image.shape[:2])
    assert n == mask.sum() > 0
    assert (out[mask] == 0).all()
    assert np.array_equal(out[~mask], image[~mask])
    assert (image[mask] != 0).all()  # every covered pixel really changed


def test_meanout_fills_image_mean(image):
    region = Circle(200.0, 150.0, 10.0)
    out, _ = _apply(image, region, "meanout", GaussianSpec(11))
    mask = region_mask(region, *image.shape[:2])
    expected = np.rint(image.reshape(-1, 3).astype(np.float64).mean(axis=0)).astype(np.uint8)
    assert (out[mask] == expected).all()
    assert np.array_equal(out[~mask], image[~mask])
    # float images keep the exact mean
    fimg = image.astype(np.float32) / 255.0
    fout, _ = _apply(fimg, region, "meanout", GaussianSpec(11))
    np.testing.assert_allclose(fout[mask][0], fimg.reshape(-1, 3).astype(np.float64).mean(axis=0),
                               rtol=1e-6)


@pytest.mark.parametrize("radius", [3, 6, 9, 18])
def test_keypoint_blur_is_opencv_gaussian_of_kernel_2r_minus_1(image, radius):
    region = Circle(120.0, 80.0, float(radius))
    spec = GaussianSpec.for_radius(radius)
    assert spec.kernel == 2 * radius - 1 and spec.sigma == 0.0
    out, _ = _apply(image, region, "blur", spec)
    mask = region_mask(region, *image.shape[:2])
    full = cv2.GaussianBlur(image, (2 * radius - 1, 2 * radius - 1), 0)
    assert np.array_equal(out[mask], full[mask])
    assert np.array_equal(out[~mask], image[~mask])
    assert (out[mask] != image[mask]).any()


def test_part_blur_is_kernel_31_sigma_5(image):
    region = Rect(10, 5, 90, 70)  # touches the image corner: reflect-101 border like OpenCV
    spec = GaussianSpec(31, 0.0)
    out, _ = _apply(image, region, "blur", spec)
    mask = region_mask(region, *image.shape[:2])
    assert np.array_equal(out[mask], cv2.GaussianBlur(image, (31, 31), 0)[mask])
    assert np.array_equal(out[~mask], image[~mask])
    # OpenCV's default sigma for a 31 px kernel is the paper's sigma 5
    assert opencv_default_sigma(31) == pytest.approx(5.0)
    np.testing.assert_allclose(cv2.getGaussianKernel(31, 0), cv2.getGaussianKernel(31, 5.0),
                               atol=1e-12)


def test_blur_is_a_true_gaussian_independent_of_opencv(image):
    """Separable convolution with exp(-x^2 / 2 sigma^2), sigma = 5, reflect-101 borders."""
    x = np.arange(-15, 16, dtype=np.float64)
    g = np.exp(-x ** 2 / (2 * 5.0 ** 2))
    g /= g.sum()
    src = image.astype(np.float64)
    pad = np.pad(src, ((15, 15), (15, 15), (0, 0)), mode="reflect")  # numpy reflect = 101
    tmp = sum(g[i] * pad[:, i:i + src.shape[1]] for i in range(31))
    ref = sum(g[i] * tmp[i:i + src.shape[0]] for i in range(31))
    region = Rect(0, 0, 399, 319)
    out, _ = _apply(image, region, "blur", GaussianSpec(31))
    assert np.abs(out.astype(np.float64) - ref).max() <= 1.0


def test_blur_roi_matches_full_frame_everywhere(image):
    for region in (Circle(0, 0, 7), Circle(399, 319, 7), Rect(100, 0, 140, 319)):
        roi = region.roi(*image.shape[:2])
        for spec in (GaussianSpec(11), GaussianSpec(31), GaussianSpec(5, 2.3)):
            full = cv2.GaussianBlur(image, (spec.kernel, spec.kernel), spec.sigma)
            assert np.array_equal(blur_roi(image, roi, spec), full[roi.slices])


def test_gaussian_spec_scaling():
    spec = GaussianSpec(11)
    assert spec.scaled(1.0) is spec
    half = spec.scaled(0.5)
    assert half.kernel == 21 and half.sigma == pytest.approx(2 * opencv_default_sigma(11))
    assert GaussianSpec(31).scaled(2.0) == GaussianSpec(17, 2.5)  # half-width 7.5 -> 8
    assert GaussianSpec(31).scaled(3.0) == GaussianSpec(11, 5.0 / 3.0)
    assert GaussianSpec.for_radius(2.5).kernel == 5
    assert GaussianSpec(3).scaled(10.0).kernel == 1
    with pytest.raises(ValueError, match="odd"):
        GaussianSpec(4)


def test_overlapping_blur_reads_the_source_once(image):
    canvas = Canvas(image.copy())
    spec = GaussianSpec(11)
    fill_region(canvas, Circle(100, 100, 8), "blur", spec)
    fill_region(canvas, Circle(105, 100, 8), "blur", spec)
    both = region_mask(Circle(100, 100, 8), 320, 400) | region_mask(Circle(105, 100, 8), 320, 400)
    assert np.array_equal(canvas.image[both], cv2.GaussianBlur(image, (11, 11), 0)[both])


def test_draw_attack_reports_outside_and_grayscale(image):
    spec = AttackSpec("blackout", get_target("nose", COCO))
    kps = np.zeros((17, 3))
    kps[0] = [-50, -50, 2]
    canvas = Canvas(image.copy())
    res = draw_attack(canvas, kps, spec)
    assert res.status == "outside" and res.pixels == 0
    assert np.array_equal(canvas.image, image)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    kps[0] = [50, 60, 2]
    for mode in ("blackout", "meanout", "blur"):
        canvas = Canvas(gray.copy())
        res = draw_attack(canvas, kps, AttackSpec(mode, get_target("nose", COCO)))
        assert res.status == "attacked" and res.pixels == 113
        changed = canvas.image != gray
        assert not changed[~region_mask(res.region, *gray.shape)].any()
