"""Image decoding and encoding used everywhere (rendering, evaluation, training), so the
pixels of a file on disk and of its in-memory render are the same. RGB uint8 HxWx3."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


class ImageReadError(OSError):
    """An image file that is missing, truncated or not an image; names the file."""


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to RGB uint8 (H, W, 3) with PIL (EXIF orientation not applied,
    like the COCO tools)."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise ImageReadError(f"{path}: image file not found") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{path}: cannot decode image ({exc})") from None


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
