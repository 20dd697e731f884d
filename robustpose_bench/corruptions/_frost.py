"""Frost textures: the six images shipped inside the installed `imagecorruptions` 1.1.2 package
(Hendrycks & Dietterich's frost photos), located without importing that package.

`importlib.util.find_spec("imagecorruptions")` reads the package's location from the import
system without running its `__init__` (which fails on current setuptools / NumPy); the files are
read with cv2.imread like the reference and checked against the sha256 sums of the 1.1.2 wheel.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
from pathlib import Path

import cv2
import numpy as np

FROST_FILES: tuple[str, ...] = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg",
                                "frost5.jpg", "frost6.jpg")
# sha256 of the files in imagecorruptions-1.1.2 (same as its wheel RECORD); the reference's
# `np.random.randint(5)` never picks frost6.jpg.
FROST_SHA256: dict[str, str] = {
    "frost1.png": "ff9f907860bd7a835d459e32f9d588062b7f61ee267343cc7222b56753a14755",
    "frost2.png": "fe211a89b336999c207a852ce05818d4545d0b57c5beadd824b4cc9d9a9b6137",
    "frost3.png": "2d0d50b4a9bb213f38b024ef7768731bb83cc08d2f26b5766bbc167cdfa0e504",
    "frost4.jpg": "3f8b91ca1a9fa7167b09e773da53f5ae60d0a1fd88f02a783f6e328a72887f6e",
    "frost5.jpg": "5fc6a19df4a429ba68abdcc8f8a4278d4c9f81c9ccafd2c92ab0c8cf8992ebd2",
    "frost6.jpg": "1f92b2f48408748085b68dd81d816ef239f42cef3029c25d041fcb6760fb4f25",
}


class FrostTextureError(RuntimeError):
    """The frost textures of the `imagecorruptions` package cannot be found or were modified."""


@functools.lru_cache(maxsize=1)
def texture_dir() -> Path:
    """The `frost/` folder of the installed `imagecorruptions` package."""
    spec = importlib.util.find_spec("imagecorruptions")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        folder = Path(loc) / "frost"
        if folder.is_dir():
            return folder
    raise FrostTextureError(
        "frost textures not found: the frost corruption reads the six texture images shipped "
        "with the `imagecorruptions` package; install it with `pip install imagecorruptions==1.1.2`"
        f" (searched: {locations or 'no installed imagecorruptions package'})")


@functools.lru_cache(maxsize=len(FROST_FILES))
def load_texture(index: int) -> np.ndarray:
    """Texture `index` (0..5) as cv2.imread gives it: uint8 (h, w, 3) BGR, read-only."""
    name = FROST_FILES[index]
    path = texture_dir() / name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FrostTextureError(f"cannot read frost texture {path}: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != FROST_SHA256[name]:
        raise FrostTextureError(f"frost texture {path} differs from imagecorruptions 1.1.2 "
                                f"(sha256 {digest}); reinstall imagecorruptions==1.1.2")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise FrostTextureError(f"cannot decode frost texture {path}")
    img.setflags(write=False)
    return img
