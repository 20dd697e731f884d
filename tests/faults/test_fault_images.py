"""Issue 11 item 7 (rendering side): hostile source images give one line naming the file.

Before: a decompression bomb (14000 x 14000 PNG named .jpg) raised PIL's
DecompressionBombError with a traceback in `generate` (which aborted mid-way, no manifest),
`attack` and `corruptions`; a 0-byte image crashed `evaluate` with a traceback.
"""
from __future__ import annotations

import pytest
from _faults_helpers import run_cli
from PIL import Image

from robustpose_bench.render.imageio import (
    DEFAULT_MAX_PIXELS,
    MAX_PIXELS_ENV,
    ImageReadError,
    ImageTooLargeError,
    read_image,
)
from robustpose_bench.render.manifest import read_manifest, verify


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    """A 14000 x 14000 PNG (196 megapixels, ~190 kB on disk) named .jpg."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.jpg"
    Image.new("L", (14000, 14000)).save(path, format="PNG")
    return path


def test_reader_refuses_bombs_before_decoding_and_names_the_file(bomb, tmp_path, monkeypatch):
    with pytest.raises(ImageTooLargeError) as info:
        read_image(bomb)
    msg = str(info.value)
    assert msg.startswith(f"{bomb}: 196,000,000 pixels, above the limit of 64,000,000")
    assert "--max-pixels" in msg and "\n" not in msg
    # above PIL's own guard the size is read from the header too
    with pytest.raises(ImageTooLargeError, match=r"14000 x 14000 = 196,000,000 pixels, above "
                                                 r"the limit of 100,000,000"):
        read_image(bomb, max_pixels=100_000_000)
    small = tmp_path / "small.png"
    Image.new("RGB", (40, 30)).save(small)
    assert read_image(small).shape == (30, 40, 3)
    with pytest.raises(ImageTooLargeError, match=r"40 x 30 = 1,200 pixels, above the limit of "
                                                 r"1,000"):
        read_image(small, max_pixels=1000)
    monkeypatch.setenv(MAX_PIXELS_ENV, "1000")
    with pytest.raises(ImageTooLargeError, match="limit of 1,000"):
        read_image(small)
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(ValueError, match=f"{MAX_PIXELS_ENV}='lots' is not an integer"):
        read_image(small)
    assert DEFAULT_MAX_PIXELS == 64_000_000


@pytest.mark.parametrize("content,needle", [
    (b"", "empty file (0 bytes), not an image"),
    (b"\xff\xd8\xff\xe0 not really a jpeg", "cannot decode image"),
    ("truncated", "cannot decode image"),
])
def test_reader_names_broken_files(tmp_path, content, needle):
    path = tmp_path / "broken.jpg"
    if content == "truncated":
        Image.new("RGB", (64, 64), (200, 10, 10)).save(path, quality=90)
        content = path.read_bytes()[:200]
    path.write_bytes(content)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert str(info.value).startswith(f"{path}: ") and needle in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(ImageReadError, match="is a folder, not an image file"):
        read_image(tmp_path)
    with pytest.raises(ImageReadError, match="image file not found"):
        read_image(tmp_path / "nope.jpg")


def test_generate_and_attack_list_failed_images_render_the_rest(bomb, small_set, tmp_path):
    ann, images = small_set
    (images / "sub/img_001.jpg").write_bytes(bomb.read_bytes())
    (images / "img_002.jpg").write_bytes(b"")
    out = tmp_path / "out"
    res = run_cli("generate", "--ann", ann, "--images", images, "--out", out, "--corruptions",
                  "fog", "--severities", "1", "--no-progress")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert f"{images / 'sub/img_001.jpg'}: 196,000,000 pixels, above the limit" in res.stderr
    assert f"{images / 'img_002.jpg'}: empty file (0 bytes)" in res.stderr
    assert "2 rendered" in res.stderr
    manifest = read_manifest(out)
    assert manifest["failed"] == ["img_002.jpg", "sub/img_001.jpg"]
    assert (out / "failed.txt").read_text().count("\n") == 2
    report = verify(out)
    assert report.checked == 2 and report.failed_sources and not report.ok
    res = run_cli("attack", "--ann", ann, "--images", images, "--out", tmp_path / "att",
                  "--targets", "nose", "--modes", "blackout", "--no-progress")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "sub/img_001.jpg: " in res.stderr and "196,000,000 pixels" in res.stderr
    assert read_manifest(tmp_path / "att")["failed"] == ["img_002.jpg", "sub/img_001.jpg"]


def test_corruptions_cli_names_the_bomb(bomb, tmp_path):
    res = run_cli("corruptions", "--image", bomb, "--corruption", "fog", "--severity", "1",
                  "--out", tmp_path / "o.png")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        f"Error: {bomb}: 196,000,000 pixels, above the limit of 64,000,000 (raise it with "
        f"--max-pixels or {MAX_PIXELS_ENV}); not decoded"]
    res = run_cli("corruptions", "--image", bomb, "--corruption", "fog", "--severity", "1",
                  "--out", tmp_path / "o.png", "--max-pixels", "0")
    assert res.returncode == 2 and "Invalid value for '--max-pixels'" in res.stderr
