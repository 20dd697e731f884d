"""SynthPose textures: procedural fills for clothing, skin, hair and the cluttered background.

Every function draws only from the numpy Generator it is given (no global random state), so a
texture is a pure function of its arguments. Images are float32 RGB in 0..255, shape (H, W, 3).
"""
from __future__ import annotations

import cv2
import numpy as np

SKIN_TONES = np.array([
    [255, 224, 196], [241, 194, 160], [224, 172, 125], [198, 134, 91], [161, 102, 64],
    [120, 74, 45], [90, 56, 36],
], dtype=np.float32)
HAIR_COLOURS = np.array([
    [20, 16, 14], [45, 30, 22], [85, 55, 35], [140, 95, 55], [200, 160, 95], [160, 70, 40],
    [120, 120, 120], [225, 220, 210],
], dtype=np.float32)

TEXTURE_KINDS = ("solid", "noise", "stripes", "checks", "dots", "blotches", "plaid")


def random_colour(rng: np.random.Generator, sat: tuple[float, float] = (0.0, 1.0),
                  val: tuple[float, float] = (0.15, 1.0)) -> np.ndarray:
    """(3,) float32 RGB from a random hue, saturation and value."""
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(*sat) * 255, rng.uniform(*val) * 255]]],
                   dtype=np.float32)
    rgb = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    return rgb.reshape(3).astype(np.float32)


def skin_colour(rng: np.random.Generator) -> np.ndarray:
    i = rng.uniform(0, len(SKIN_TONES) - 1)
    lo = int(np.floor(i))
    hi = min(lo + 1, len(SKIN_TONES) - 1)
    c = SKIN_TONES[lo] * (1 - (i - lo)) + SKIN_TONES[hi] * (i - lo)
    return np.clip(c + rng.normal(0, 6, 3), 0, 255).astype(np.float32)


def hair_colour(rng: np.random.Generator) -> np.ndarray:
    c = HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))]
    return np.clip(c + rng.normal(0, 8, 3), 0, 255).astype(np.float32)


def value_noise(h: int, w: int, cell: float, rng: np.random.Generator) -> np.ndarray:
    """(h, w) float32 smooth noise in about -1..1 with features about `cell` pixels apart."""
    gh, gw = max(2, int(np.ceil(h / cell)) + 2), max(2, int(np.ceil(w / cell)) + 2)
    grid = rng.uniform(-1, 1, (gh, gw)).astype(np.float32)
    big = cv2.resize(grid, (int(gw * cell), int(gh * cell)), interpolation=cv2.INTER_CUBIC)
    return big[:h, :w]


def _coords(h: int, w: int, angle_deg: float) -> np.ndarray:
    """(h, w) coordinate along the direction angle_deg (pixels)."""
    a = np.deg2rad(angle_deg)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return xx * np.float32(np.cos(a)) + yy * np.float32(np.sin(a))


def texture(h: int, w: int, rng: np.random.Generator, kind: str | None = None,
            base: np.ndarray | None = None, scale: float = 1.0) -> np.ndarray:
    """(h, w, 3) float32 RGB texture of `kind` around the colour `base`.

    scale: multiplies pattern periods (use the person's size so small people get finer
    patterns). kind None picks one at random.
    """
    if kind is None:
        kind = TEXTURE_KINDS[int(rng.choice(len(TEXTURE_KINDS),
                                            p=(0.22, 0.18, 0.2, 0.1, 0.08, 0.12, 0.1)))]
    c1 = random_colour(rng) if base is None else np.asarray(base, np.float32)
    c2 = random_colour(rng)
    if rng.random() < 0.4:  # second colour a shade of the first
        c2 = np.clip(c1 * rng.uniform(0.4, 1.5), 0, 255)
    period = max(2.0, rng.uniform(3, 14) * scale)
    if kind == "solid":
        out = np.broadcast_to(c1, (h, w, 3)).astype(np.float32)
    elif kind == "noise":
        out = c1 + rng.normal(0, rng.uniform(10, 40), (h, w, 1)).astype(np.float32)
        out = out + rng.normal(0, 6, (h, w, 3)).astype(np.float32)
    elif kind in ("stripes", "checks", "plaid"):
        s1 = np.sin(_coords(h, w, rng.uniform(0, 180)) * np.float32(2 * np.pi / period))
        if kind == "stripes":
            m = s1 > rng.uniform(-0.5, 0.5) if rng.random() < 0.7 else s1 * 0.5 + 0.5
        else:
            s2 = np.sin(_coords(h, w, rng.uniform(0, 180)) * np.float32(2 * np.pi / period))
            m = (s1 > 0) ^ (s2 > 0) if kind == "checks" else np.maximum(s1, s2) > 0.6
        m = np.asarray(m, np.float32)[..., None]
        out = c1 * (1 - m) + c2 * m
    elif kind == "dots":
        out = np.broadcast_to(c1, (h, w, 3)).astype(np.float32).copy()
        n = int(h * w / (period * period) * rng.uniform(0.3, 1.0)) + 1
        xs, ys = rng.uniform(0, w, n), rng.uniform(0, h, n)
        rad = max(1, int(period * 0.25))
        col = tuple(float(v) for v in c2)
        for x, y in zip(xs, ys, strict=True):
            cv2.circle(out, (int(x), int(y)), rad, col, -1, cv2.LINE_AA)
    else:  # blotches (camouflage-like)
        n = value_noise(h, w, period * 1.5, rng)[..., None]
        out = np.where(n > 0, c1, c2).astype(np.float32)
        c3 = random_colour(rng)
        n2 = value_noise(h, w, period * 2.0, rng)[..., None]
        out = np.where(n2 > 0.5, c3, out)
    if rng.random() < 0.5:  # fabric grain
        out = out + rng.normal(0, rng.uniform(3, 12), (h, w, 1)).astype(np.float32)
    return np.ascontiguousarray(out, dtype=np.float32)


def background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """(h, w, 3) float32 cluttered background: gradient or wall/floor, smooth noise, textured
    shapes, limb- and head-like distractors, fine grain."""
    img = np.empty((h, w, 3), np.float32)
    c1, c2 = random_colour(rng, val=(0.2, 0.95)), random_colour(rng, val=(0.2, 0.95))
    if rng.random() < 0.5:
        t = _coords(h, w, rng.uniform(0, 360))
        t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
        img[:] = c1 * (1 - t[..., None]) + c2 * t[..., None]
    else:  # wall / floor with a horizon
        hy = int(rng.uniform(0.25, 0.75) * h)
        img[:hy] = texture(hy, w, rng, base=c1, scale=rng.uniform(0.8, 3.0)) \
            if rng.random() < 0.5 else c1
        img[hy:] = texture(h - hy, w, rng, base=c2, scale=rng.uniform(0.8, 3.0)) \
            if rng.random() < 0.6 else c2
    img += value_noise(h, w, rng.uniform(20, 90), rng)[..., None] * rng.uniform(10, 45)
    n_shapes = int(rng.integers(4, 14))
    for _ in range(n_shapes):
        draw_clutter(img, rng, distractor=rng.random() < 0.25)
    img += rng.normal(0, rng.uniform(1, 8), (h, w, 1)).astype(np.float32)
    return img


def draw_clutter(img: np.ndarray, rng: np.random.Generator, distractor: bool = False,
                 mask: np.ndarray | None = None) -> None:
    """Draw one textured shape (rectangle, ellipse, polygon, bar, or a limb/head-like
    distractor in a skin tone) into img (float32 HxWx3) in place; also into `mask` (uint8 HxW,
    set to 255 where drawn) when given."""
    h, w = img.shape[:2]
    alpha = np.zeros((h, w), np.uint8)
    size = rng.uniform(0.06, 0.45) * min(h, w)
    cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
    if distractor:
        r = max(2.0, size * rng.uniform(0.05, 0.14))
        if rng.random() < 0.6:  # limb-like capsule
            a = rng.uniform(0, 2 * np.pi)
            p2 = (cx + np.cos(a) * size * 0.7, cy + np.sin(a) * size * 0.7)
            cv2.line(alpha, _pt(cx, cy), _pt(*p2), 255, int(2 * r), cv2.LINE_AA, 4)
        else:  # head-like ellipse
            cv2.ellipse(alpha, _pt(cx, cy), (int(r * 2.2 * 16), int(r * 2.8 * 16)),
                        rng.uniform(0, 180), 0, 360, 255, -1, cv2.LINE_AA, 4)
        spec = {"kind": "solid" if rng.random() < 0.5 else "noise",
                "base": skin_colour(rng) if rng.random() < 0.7 else None}
    else:
        kind = int(rng.integers(5))
        if kind == 0:
            x0, y0 = cx - size, cy - size * rng.uniform(0.3, 1.5)
            cv2.rectangle(alpha, _pt(x0, y0), _pt(cx + size, cy + size), 255, -1, cv2.LINE_AA, 4)
        elif kind == 1:
            cv2.ellipse(alpha, _pt(cx, cy), (int(size * 16), int(size * rng.uniform(0.3, 1) * 16)),
                        rng.uniform(0, 180), 0, 360, 255, -1, cv2.LINE_AA, 4)
        elif kind == 2:
            n = int(rng.integers(3, 8))
            ang = np.sort(rng.uniform(0, 2 * np.pi, n))
            rad = size * rng.uniform(0.4, 1.0, n)
            pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1)
            cv2.fillPoly(alpha, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
        elif kind == 3:  # pole / bar
            a = rng.uniform(0, np.pi) if rng.random() < 0.5 else np.pi / 2
            dx, dy = np.cos(a) * size * 2, np.sin(a) * size * 2
            cv2.line(alpha, _pt(cx - dx, cy - dy), _pt(cx + dx, cy + dy), 255,
                     max(1, int(size * rng.uniform(0.05, 0.3))), cv2.LINE_AA, 4)
        else:  # scatter of small blobs (foliage, gravel)
            for _ in range(int(rng.integers(5, 30))):
                rr = max(1, int(size * rng.uniform(0.03, 0.15)))
                cv2.circle(alpha, _pt(cx + rng.normal(0, size * 0.6), cy + rng.normal(0, size * 0.6)),
                           rr * 16, 255, -1, cv2.LINE_AA, 4)
        spec = {"scale": rng.uniform(0.6, 3.0)}
    x, y, bw, bh = cv2.boundingRect(alpha)
    if bw == 0 or bh == 0:
        return
    win = (slice(y, y + bh), slice(x, x + bw))
    fill = texture(bh, bw, rng, **spec)
    a = alpha[win].astype(np.float32)[..., None] / 255.0
    shade = 1.0 + value_noise(bh, bw, rng.uniform(10, 40), rng)[..., None] * rng.uniform(0, 0.25)
    img[win] = img[win] * (1 - a) + fill * shade * a
    if mask is not None:
        mask[win][alpha[win] >= 128] = 255


def _pt(x: float, y: float) -> tuple[int, int]:
    """Point in OpenCV's 4-bit sub-pixel fixed point (shift=4)."""
    return int(round(x * 16)), int(round(y * 16))
