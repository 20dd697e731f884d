"""Public API of robustpose_bench.corruptions: registry, validation, seeding, image handling."""
from __future__ import annotations

import numpy as np
import pytest
from _corruption_data import natural_image, synthetic_image

from robustpose_bench.corruptions import (
    ALL_CORRUPTIONS,
    CATEGORIES,
    CORRUPTIONS,
    EXTRA_CORRUPTIONS,
    MIN_SIZE,
    Corruption,
    corrupt,
    get_corruption,
    list_corruptions,
    make_rng,
    register_corruption,
)

PROTOCOL_ORDER = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
    "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
    "jpeg_compression")
RANDOM = {"gaussian_noise", "shot_noise", "impulse_noise", "glass_blur", "motion_blur", "snow",
          "frost", "fog", "elastic_transform", "speckle_noise", "spatter"}


def test_names_order_and_categories(reference):
    assert CORRUPTIONS == PROTOCOL_ORDER
    assert EXTRA_CORRUPTIONS == ("speckle_noise", "gaussian_blur", "spatter", "saturate")
    assert ALL_CORRUPTIONS == CORRUPTIONS + EXTRA_CORRUPTIONS
    assert tuple(reference.get_corruption_names("all")) == ALL_CORRUPTIONS
    assert list_corruptions() == list(ALL_CORRUPTIONS)
    assert list_corruptions(include_extra=False) == list(CORRUPTIONS)
    assert CATEGORIES == {
        "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
        "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
        "weather": ("snow", "frost", "fog", "brightness"),
        "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
    }
    for cat, names in CATEGORIES.items():
        assert list(names) == reference.get_corruption_names(cat)
    assert list_corruptions("*blur") == ["defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
                                         "gaussian_blur"]
    assert list_corruptions(category="noise") == ["gaussian_noise", "shot_noise",
                                                  "impulse_noise", "speckle_noise"]
    assert {get_corruption(n).uses_rng for n in ALL_CORRUPTIONS if n in RANDOM} == {True}
    assert not any(get_corruption(n).uses_rng for n in ALL_CORRUPTIONS if n not in RANDOM)
    assert all(get_corruption(n).extra == (n in EXTRA_CORRUPTIONS) for n in ALL_CORRUPTIONS)
    assert all(len(get_corruption(n).params) == 5 for n in ALL_CORRUPTIONS)


def test_registry_errors():
    with pytest.raises(ValueError, match="valid: gaussian_noise, shot_noise"):
        get_corruption("gaussian")
    with pytest.raises(ValueError, match="already registered"):
        register_corruption("fog", "weather", (1, 2, 3, 4, 5))(lambda i, s, r: i)
    with pytest.raises(ValueError, match="unknown category"):
        register_corruption("x", "colour", (1, 2, 3, 4, 5))
    with pytest.raises(ValueError, match="one parameter set per severity"):
        register_corruption("x", "noise", (1, 2))
    with pytest.raises(ValueError, match="unknown category"):
        list_corruptions(category="colour")


def test_bad_arguments():
    img = np.zeros((40, 40, 3), np.uint8)
    with pytest.raises(ValueError, match="valid: .*jpeg_compression.*saturate"):
        corrupt(img, "rain", 1)
    for sev in (0, 6, 2.0, "3", True, None):
        with pytest.raises(ValueError, match="severity must be one of 1, 2, 3, 4, 5"):
            corrupt(img, "fog", sev)
    with pytest.raises(ValueError, match="uint8"):
        corrupt(img.astype(np.float32) / 255, "fog", 1)
    with pytest.raises(ValueError, match="uint8"):
        corrupt(img.astype(np.uint16), "fog", 1)
    with pytest.raises(ValueError, match="RGBA"):
        corrupt(np.zeros((40, 40, 4), np.uint8), "fog", 1)
    with pytest.raises(ValueError, match=r"shape \(H, W\)"):
        corrupt(np.zeros((40,), np.uint8), "fog", 1)
    with pytest.raises(ValueError, match="empty"):
        corrupt(np.zeros((0, 40, 3), np.uint8), "fog", 1)
    for seed in (-1, 2 ** 32, 1.5, "1", True):
        with pytest.raises(ValueError, match="seed"):
            corrupt(img, "fog", 1, seed=seed)
    with pytest.raises(ValueError, match="seed"):
        corrupt(img, "contrast", 1, seed=-3)  # validated even where no randomness is used


@pytest.mark.parametrize("name", ALL_CORRUPTIONS)
def test_output_contract(name):
    img = natural_image(48, 64)
    before = img.copy()
    state = np.random.get_state()
    out = corrupt(img, name, 3, seed=11)
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3) and out.flags.c_contiguous
    assert out.flags.writeable and not np.shares_memory(out, img)
    np.testing.assert_array_equal(img, before)  # input untouched
    after = np.random.get_state()
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2:] == state[2:]
    np.testing.assert_array_equal(out, corrupt(img, name, 3, seed=11))  # deterministic
    # grayscale input == its 3-channel stack; non-contiguous input accepted
    gray = img[:, :, 1]
    np.testing.assert_array_equal(corrupt(gray, name, 2, seed=3),
                                  corrupt(np.repeat(gray[:, :, None], 3, 2), name, 2, seed=3))
    np.testing.assert_array_equal(corrupt(gray[:, :, None], name, 2, seed=3),
                                  corrupt(gray, name, 2, seed=3))
    flipped = img[:, ::-1]
    np.testing.assert_array_equal(corrupt(flipped, name, 1, seed=4),
                                  corrupt(np.ascontiguousarray(flipped), name, 1, seed=4))
    # numpy integer seeds and severities are fine
    np.testing.assert_array_equal(corrupt(img, name, np.int64(3), seed=np.uint32(11)), out)


@pytest.mark.parametrize("name", ALL_CORRUPTIONS)
def test_seeding(name):
    img = synthetic_image(40, 48)
    a = corrupt(img, name, 4, seed=1)
    b = corrupt(img, name, 4, seed=2)
    c = corrupt(img, name, 4)  # fresh OS entropy
    d = corrupt(img, name, 4)
    if name in RANDOM:
        assert not np.array_equal(a, b)
        assert not np.array_equal(c, d)
    else:
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(c, a)
    # a RandomState is used as given (and advanced)
    rs = np.random.RandomState(1)
    np.testing.assert_array_equal(corrupt(img, name, 4, seed=rs), a)


def test_seed_stream_is_np_random_seed():
    """seed=s gives what the reference's global np.random.seed(s) stream gives."""
    rs = make_rng(123)
    np.random.seed(123)
    np.testing.assert_array_equal(rs.normal(size=5), np.random.normal(size=5))
    assert make_rng(None) is not make_rng(None)
    given = np.random.RandomState(0)
    assert make_rng(given) is given


@pytest.mark.parametrize("shape", [(1, 1), (1, 57), (57, 1), (5, 7, 3), (31, 31, 3),
                                   (2, 200, 3), (32, 31, 3)])
@pytest.mark.parametrize("name", ALL_CORRUPTIONS)
def test_small_images(name, shape):
    """Below 32 px a side: edge-padded to 32, corrupted, cropped back (no crash)."""
    img = synthetic_image(max(shape[0], 2), max(shape[1], 2))[: shape[0], : shape[1]]
    if len(shape) == 2:
        img = img[:, :, 0]
    out = corrupt(img, name, 5, seed=9)
    assert out.shape == (shape[0], shape[1], 3) and out.dtype == np.uint8
    h, w = shape[:2]
    rgb = img if img.ndim == 3 else np.repeat(img[:, :, None], 3, 2)
    padded = np.pad(rgb, ((0, max(0, MIN_SIZE - h)), (0, max(0, MIN_SIZE - w)), (0, 0)),
                    mode="edge")
    np.testing.assert_array_equal(out, corrupt(padded, name, 5, seed=9)[:h, :w])


@pytest.mark.parametrize("name", ["fog", "zoom_blur", "snow", "pixelate", "frost", "glass_blur"])
def test_small_images_match_reference_of_padded(name, ref_corrupt):
    img = synthetic_image(20, 9)
    padded = np.pad(img, ((0, 12), (0, 23), (0, 0)), mode="edge")
    ours = corrupt(img, name, 3, seed=4)
    np.testing.assert_array_equal(ours, ref_corrupt(padded, name, 3, 4)[:20, :9])


def test_corruption_entry_is_callable():
    entry = get_corruption("contrast")
    assert isinstance(entry, Corruption) and entry.category == "digital" and not entry.extra
    img = natural_image(40, 40)
    np.testing.assert_array_equal(entry(img, 2), corrupt(img, "contrast", 2))
    assert get_corruption("saturate").category == "digital" and get_corruption("saturate").extra


def test_threads_give_same_results():
    from concurrent.futures import ThreadPoolExecutor

    img = natural_image(48, 64)
    jobs = [(n, s) for n in ("gaussian_noise", "glass_blur", "snow", "fog") for s in (1, 5)]
    serial = [corrupt(img, n, s, seed=s) for n, s in jobs]
    with ThreadPoolExecutor(4) as ex:
        threaded = list(ex.map(lambda j: corrupt(img, j[0], j[1], seed=j[1]), jobs * 3))
    for i, out in enumerate(threaded):
        np.testing.assert_array_equal(out, serial[i % len(jobs)])
