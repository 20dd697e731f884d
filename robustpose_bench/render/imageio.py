"""Image decoding and encoding of rendering and evaluation, so the pixels of a file on disk
and of its in-memory render are the same. RGB uint8 HxWx3.

Every read is bounded: an image above the pixel limit (`DEFAULT_MAX_PIXELS`, or
`$ROBUSTPOSE_MAX_PIXELS`, or the caller's `max_pixels`) is refused from its header, before
any pixel is decoded, and every failure is an `ImageReadError` whose one-line message names
the file (docs/errors.md).
"""
from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

# 64 megapixels (e.g. 8000 x 8000): 30x the largest MPII image (1920 x 1080), above a 48-MP
# phone photo; decoded it is 192 MB of uint8 and ~1.5 GB per float64 copy a corruption makes.
DEFAULT_MAX_PIXELS = 64_000_000
MAX_PIXELS_ENV = "ROBUSTPOSE_MAX_PIXELS"
_PIL_PIXELS = re.compile(r"\((\d+) pixels\)")


class ImageReadError(OSError):
    """An image file that is missing, empty, truncated, too large or not an image; the
    message is one line naming the file."""


class ImageTooLargeError(ImageReadError):
    """An image above the pixel limit (refused before decoding)."""


def max_pixels_limit(max_pixels: int | None = None) -> int:
    """The pixel limit in force: `max_pixels` if given, else `$ROBUSTPOSE_MAX_PIXELS`, else
    `DEFAULT_MAX_PIXELS`. Raises ValueError for a non-positive or non-integer setting."""
    if max_pixels is None:
        text = os.environ.get(MAX_PIXELS_ENV, "").strip()
        if not text:
            return DEFAULT_MAX_PIXELS
        try:
            max_pixels = int(text)
        except ValueError:
            raise ValueError(f"{MAX_PIXELS_ENV}={text!r} is not an integer number of "
                             f"pixels") from None
        where = MAX_PIXELS_ENV
    else:
        where = "max_pixels"
    if int(max_pixels) < 1:
        raise ValueError(f"{where}={max_pixels} must be a positive number of pixels")
    return int(max_pixels)


def _too_large(path: Path, pixels: int, limit: int, size: tuple[int, int] | None) -> str:
    dims = f"{size[0]} x {size[1]} = " if size else ""
    return (f"{path}: {dims}{pixels:,} pixels, above the limit of {limit:,} (raise it with "
            f"--max-pixels or {MAX_PIXELS_ENV}); not decoded")


def read_image(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """Decode an image file to RGB uint8 (H, W, 3) with PIL (EXIF orientation not applied,
    like the COCO tools).

    max_pixels: refuse images with more pixels (width x height, read from the header before
    decoding); default `max_pixels_limit()`. Raises ImageReadError (ImageTooLargeError for
    the limit) with a one-line message naming the file for anything that is not a readable
    image: missing, empty, a folder, truncated, corrupt, or a decoder failure on hostile bytes.
    """
    path = Path(path)
    limit = max_pixels_limit(max_pixels)
    if Image.MAX_IMAGE_PIXELS is not None and limit > Image.MAX_IMAGE_PIXELS:
        # PIL's own guard would refuse what the user allowed: ours decides
        Image.MAX_IMAGE_PIXELS = limit
    try:
        size_bytes = path.stat().st_size
    except FileNotFoundError:
        raise ImageReadError(f"{path}: image file not found") from None
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if path.is_dir():
        raise ImageReadError(f"{path}: is a folder, not an image file")
    if size_bytes == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes), not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
                if width * height > limit:
                    raise ImageTooLargeError(_too_large(path, width * height, limit,
                                                        (width, height)))
                im.load()
                return np.asarray(im.convert("RGB"))
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        found = _PIL_PIXELS.search(str(exc))
        raise ImageTooLargeError(_too_large(path, int(found.group(1)) if found else limit + 1,
                                            limit, None)) from None
    except PermissionError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except MemoryError:
        raise ImageReadError(f"{path}: not enough memory to decode it") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure on hostile bytes is the file's
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise ImageReadError(f"{path}: cannot decode image ({detail})") from None


def encode_image(image: np.ndarray, fmt: str, quality: int = 95) -> bytes:
    """RGB uint8 -> file bytes. jpg: PIL baseline JPEG at `quality` with PIL's default 4:2:0
    subsampling (what the AdvMix authors' `Image.save` produced); png: lossless."""
    im = Image.fromarray(np.ascontiguousarray(image))
    buf = io.BytesIO()
    if fmt == "jpg":
        im.save(buf, format="JPEG", quality=int(quality))
    elif fmt == "png":
        im.save(buf, format="PNG", compress_level=6)
    else:
        raise ValueError(f"unknown image format {fmt!r}; valid: jpg, png")
    return buf.getvalue()


def decode_bytes(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def output_name(file_name: str, fmt: str) -> str:
    """The rendered file's relative name: same path, extension of the output format."""
    p = Path(file_name)
    ext = ".jpg" if fmt == "jpg" else ".png"
    if p.suffix.lower() in ((".jpg", ".jpeg") if fmt == "jpg" else (".png",)):
        return file_name
    return str(p.with_suffix(ext))
