"""The benchmark's condition names in one place, importable without image-processing or
numba imports: the 15 corruptions of mPC (PROTOCOL.md section 1 order), the 4 held-out
extras, their categories and the severities. Corruptions, metrics, leaderboard and report
all read them from here."""
from __future__ import annotations

#: The 15 benchmark corruptions in protocol order; mPC averages these x 5 severities.
CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
#: The 4 held-out corruptions: reported separately, never part of mPC.
EXTRA_CORRUPTIONS: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
ALL_CORRUPTIONS: tuple[str, ...] = CORRUPTIONS + EXTRA_CORRUPTIONS
#: category -> the benchmark corruptions in it (extras excluded).
CATEGORIES: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
}
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
#: The short column headers of the AdvMix tables (Table 1/4), also the figures' tick labels.
SHORT_NAMES: dict[str, str] = {
    "gaussian_noise": "Gauss", "shot_noise": "Shot", "impulse_noise": "Impulse",
    "defocus_blur": "Defocus", "glass_blur": "Glass", "motion_blur": "Motion",
    "zoom_blur": "Zoom", "snow": "Snow", "frost": "Frost", "fog": "Fog",
    "brightness": "Bright", "contrast": "Contrast", "elastic_transform": "Elastic",
    "pixelate": "Pixel", "jpeg_compression": "JPEG",
}

#: Spellings of the training methods as the papers print them (summaries record the ids).
METHOD_NAMES: dict[str, str] = {"standard": "Standard", "advmix": "AdvMix", "asda": "ASDA",
                                "stable_heatmap": "StableHeatmap",
                                "occlusion_aug": "OcclusionAug"}


def method_name(method: object) -> str:
    """Display name of a training method id (`advmix` -> `AdvMix`); unknown ids unchanged,
    missing -> `Standard`."""
    if not method:
        return "Standard"
    return METHOD_NAMES.get(str(method).lower(), str(method))
