"""The benchmark's condition names as the metrics need them (no image-processing imports).

Mirrors PROTOCOL.md section 1 and `robustpose_bench.corruptions` (tests assert equality).
"""
from __future__ import annotations

#: The 15 benchmark corruptions in protocol order; mPC averages these x 5 severities.
CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
#: Held-out corruptions: reported separately, never part of mPC.
EXTRA_CORRUPTIONS: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
CATEGORIES: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
}
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
