"""SynthPose scene renderer: people (painter's order by depth), occluders and background into
an RGB image plus per-pixel person / body-part label maps, from which visibility is read.

Every random draw comes from the numpy Generators passed in, so an image is a pure function of
its seed. Keypoints are image pixels, x first, 0-based (pixel centres at integers).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from robustpose_bench.datasets.meta import COCO_KEYPOINTS
from robustpose_bench.datasets.synthpose import textures as tx
from robustpose_bench.datasets.synthpose.body import (
    FACE_POINTS,
    Figure,
    Pose,
    build_figure,
    sample_pose,
)

# Part label values of the label maps and of the per-person mask PNGs.
PART_NAMES = ("background", "head", "torso", "left_upper_arm", "left_lower_arm",
              "right_upper_arm", "right_lower_arm", "left_upper_leg", "left_lower_leg",
              "right_upper_leg", "right_lower_leg")
PART_LABELS = {name: i for i, name in enumerate(PART_NAMES)}

# Parts a keypoint lies on: the keypoint is visible (v=2) only when the front-most pixel at its
# position belongs to the same person and to one of these parts.
KEYPOINT_PARTS: dict[str, tuple[int, ...]] = {
    "nose": (1,), "left_eye": (1,), "right_eye": (1,), "left_ear": (1,), "right_ear": (1,),
    "left_shoulder": (2, 3), "right_shoulder": (2, 5),
    "left_elbow": (3, 4), "right_elbow": (5, 6),
    "left_wrist": (4,), "right_wrist": (6,),
    "left_hip": (2, 7), "right_hip": (2, 9),
    "left_knee": (7, 8), "right_knee": (9, 10),
    "left_ankle": (8,), "right_ankle": (10,),
}
# A shoulder / hip counts as on the torso only while its side of the body faces the camera:
# the unit vector from the midline toward that side has a camera (toward-viewer) component
# above this (turned more than about 53 degrees from facing the camera, or from facing away,
# the far shoulder / hip is behind the chest / pelvis).
TORSO_SIDE_MIN = -0.8
# Face keypoints on the far side of the head are self-occluded (v=1): thresholds on the
# toward-viewer component of the surface normal at the point.
EYE_NORMAL_MIN = 0.2
NOSE_FORWARD_MIN = -0.15
EAR_NORMAL_MIN = -0.3

IMAGE_WIDTH = (320, 480)
IMAGE_HEIGHT = (240, 360)


@dataclass
class Look:
    """Appearance of one person (colours, garments, hair)."""

    skin: np.ndarray
    hair: np.ndarray
    hair_style: str
    top: dict
    bottom: dict
    sleeves: str
    trousers: str
    shoes: np.ndarray
    hat: np.ndarray | None


@dataclass
class PersonSpec:
    """What is needed to draw one person: pose, size, place, build, look, texture seed."""

    pose: Pose
    height: float
    origin: tuple[float, float]
    build: float
    look: Look
    figure_seed: int
    figure: Figure | None = None


@dataclass
class OccluderSpec:
    seed: int


@dataclass
class RenderedPerson:
    """Annotation of one drawn person.

    keypoints: (17, 3) float64 (x, y, v) COCO order; x = y = 0 where v = 0 (outside image).
    mask: (H, W) uint8 part labels (PART_LABELS) of this person's visible pixels.
    mpii: (16, 3) float64 (x, y, vis) 0-based, vis 1 = inside the image.
    head_box: (4,) x1, y1, x2, y2 of the head ellipsoid and the face keypoints (0-based pixels,
    unclipped).
    full_box: (4,) x1, y1, x2, y2 of all joints and the head top (unclipped).
    height: standing height in pixels. pose: the sampled joint angles (in memory only).
    """

    keypoints: np.ndarray
    mask: np.ndarray
    mpii: np.ndarray
    head_box: np.ndarray
    full_box: np.ndarray
    height: float
    pose: Pose | None = None


@dataclass
class RenderedImage:
    image: np.ndarray          # (H, W, 3) uint8 RGB
    persons: list[RenderedPerson] = field(default_factory=list)

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


# ----------------------------------------------------------------------------------- sampling

def sample_look(rng: np.random.Generator) -> Look:
    def garment() -> dict:
        return {"kind": tx.TEXTURE_KINDS[int(rng.choice(len(tx.TEXTURE_KINDS),
                                                         p=(0.26, 0.16, 0.2, 0.1, 0.08, 0.1, 0.1)))],
                "base": tx.random_colour(rng, val=(0.1, 0.95)),
                "scale": float(rng.uniform(0.5, 1.6))}

    styles = ("short", "long", "bald", "hat")
    style = styles[int(rng.choice(4, p=(0.5, 0.3, 0.08, 0.12)))]
    return Look(
        skin=tx.skin_colour(rng), hair=tx.hair_colour(rng), hair_style=style,
        top=garment(), bottom=garment(),
        sleeves=("none", "short", "long")[int(rng.choice(3, p=(0.15, 0.4, 0.45)))],
        trousers=("shorts", "long")[int(rng.choice(2, p=(0.3, 0.7)))],
        shoes=tx.random_colour(rng, val=(0.05, 0.7)),
        hat=tx.random_colour(rng) if style == "hat" else None,
    )


def sample_people(rng: np.random.Generator, width: int, height: int) -> list[PersonSpec]:
    """1-4 people at different scales, some overlapping, some partly outside the frame; the
    list is in drawing order (far to near)."""
    n = int(rng.choice([1, 2, 3, 4], p=[0.3, 0.3, 0.22, 0.18]))
    people: list[PersonSpec] = []
    for i in range(n):
        hp = float(np.exp(rng.uniform(np.log(0.3 * height), np.log(1.3 * height))))
        if i > 0 and rng.random() < 0.5:  # near an earlier person: overlaps
            ref = people[int(rng.integers(len(people)))]
            ox = ref.origin[0] + rng.normal(0, 0.2) * (ref.height + hp) * 0.5
            oy = ref.origin[1] + rng.normal(0, 0.12) * (ref.height + hp) * 0.5
        elif rng.random() < 0.6:  # framed: head and feet inside when the person fits
            ox = rng.uniform(0.08, 0.92) * width
            oy = rng.uniform(0.5 * hp, height - 0.5 * hp) if hp < height else \
                rng.uniform(height - 0.5 * hp, 0.5 * hp)
        else:  # anywhere: often cut by the image border
            ox = rng.uniform(-0.02, 1.02) * width
            oy = rng.uniform(0.15, 1.02) * height
        people.append(PersonSpec(
            pose=sample_pose(rng), height=hp, origin=(float(ox), float(oy)),
            build=float(rng.uniform(0.8, 1.3)), look=sample_look(rng),
            figure_seed=int(rng.integers(2**62))))
    order = np.argsort([p.height * rng.uniform(0.7, 1.3) for p in people], kind="stable")
    return [people[i] for i in order]


# ---------------------------------------------------------------------------------- drawing

def _poly_alpha(shape: tuple[int, int], polys: list[np.ndarray]) -> tuple[tuple, np.ndarray]:
    """Anti-aliased coverage (uint8 0..255) of polygons (each (N, 2) float image px) inside
    their clipped bounding window. Returns ((y0, y1, x0, x1), alpha) or (None, None)."""
    h, w = shape
    allp = np.concatenate(polys, 0)
    x0 = max(0, int(np.floor(allp[:, 0].min())) - 1)
    y0 = max(0, int(np.floor(allp[:, 1].min())) - 1)
    x1 = min(w, int(np.ceil(allp[:, 0].max())) + 2)
    y1 = min(h, int(np.ceil(allp[:, 1].max())) + 2)
    if x1 <= x0 or y1 <= y0:
        return None, None
    alpha = np.zeros((y1 - y0, x1 - x0), np.uint8)
    off = np.array([x0, y0], np.float64)
    pts = [np.round((p - off) * 16).astype(np.int32) for p in polys]
    cv2.fillPoly(alpha, pts, 255, cv2.LINE_AA, 4)
    return (y0, y1, x0, x1), alpha


def capsule_polygon(p1: np.ndarray, r1: float, p2: np.ndarray, r2: float,
                    n: int = 10) -> np.ndarray:
    """(M, 2) convex outline of two discs (centres p1, p2 in image px, radii r1, r2) and the
    tapered band joining them."""
    a = np.linspace(0, 2 * np.pi, 2 * n, endpoint=False)
    circ = np.stack([np.cos(a), np.sin(a)], 1)
    pts = np.concatenate([p1[None, :2] + r1 * circ, p2[None, :2] + r2 * circ], 0)
    return cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)


def _axis_shading(win: tuple, p1: np.ndarray, p2: np.ndarray, radius: float,
                  light: np.ndarray) -> np.ndarray:
    """(h, w, 1) float32 cylinder-like shading across the segment p1-p2 (image px)."""
    y0, y1, x0, x1 = win
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    d = (p2[:2] - p1[:2]).astype(np.float32)
    ln = float(np.hypot(*d))
    if ln < 1e-6:
        d = np.array([1.0, 0.0], np.float32)
        ln = 1.0
    nrm = np.array([-d[1], d[0]], np.float32) / ln
    s = ((xx - p1[0]) * nrm[0] + (yy - p1[1]) * nrm[1]) / max(radius, 0.5)
    s = np.clip(s, -1.2, 1.2)
    side = float(np.sign(nrm @ light[:2]) or 1.0)
    return (1.0 - 0.3 * s * s + 0.16 * side * s)[..., None]


class Canvas:
    """The image under construction plus its person-id and part-label maps.

    pid: (H, W) uint8, 0 = background / occluder, k = the k-th drawn person (1-based).
    part: (H, W) uint8 part label (PART_LABELS) of the front-most person pixel.
    """

    def __init__(self, image: np.ndarray):
        self.image = image
        h, w = image.shape[:2]
        self.pid = np.zeros((h, w), np.uint8)
        self.part = np.zeros((h, w), np.uint8)

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape[:2]

    def paint(self, win: tuple, alpha: np.ndarray, colour: np.ndarray, pid: int, label: int) -> None:
        """Blend colour (h, w, 3) float32 into the window with AA coverage alpha and claim the
        pixels with coverage >= 1/2 for (pid, label)."""
        y0, y1, x0, x1 = win
        a = alpha.astype(np.float32)[..., None] * np.float32(1 / 255)
        region = self.image[y0:y1, x0:x1]
        region *= 1 - a
        region += colour * a
        sel = alpha >= 128
        self.pid[y0:y1, x0:x1][sel] = pid
        self.part[y0:y1, x0:x1][sel] = label


class _Fills:
    """Lazily generated garment textures over one person's window (image coordinates, so a
    pattern continues across the parts of a garment)."""

    def __init__(self, look: Look, box: tuple, height: float, rng: np.random.Generator):
        self.look, self.box, self.rng = look, box, rng
        self.scale = float(np.clip(height / 250.0, 0.35, 1.6))
        self.cache: dict[str, np.ndarray] = {}

    def get(self, name: str, win: tuple) -> np.ndarray:
        by0, by1, bx0, bx1 = self.box
        if name not in self.cache:
            h, w = by1 - by0, bx1 - bx0
            lk = self.look
            if name in ("top", "bottom"):
                g = lk.top if name == "top" else lk.bottom
                t = tx.texture(h, w, self.rng, kind=g["kind"], base=g["base"],
                               scale=g["scale"] * self.scale)
            elif name == "skin":
                t = lk.skin + self.rng.normal(0, 3, (h, w, 1)).astype(np.float32)
            elif name == "shoes":
                t = np.broadcast_to(lk.shoes, (h, w, 3)).astype(np.float32)
            else:
                raise ValueError(f"unknown fill {name!r}")
            self.cache[name] = np.ascontiguousarray(t, np.float32)
        y0, y1, x0, x1 = win
        return self.cache[name][y0 - by0:y1 - by0, x0 - bx0:x1 - bx0]


def _head_layer(fig: Figure, look: Look, shape: tuple[int, int], light: np.ndarray,
                rng: np.random.Generator) -> tuple[tuple | None, np.ndarray | None, np.ndarray | None]:
    """Ray-cast the head ellipsoid (orthographic) with hair, eyes, mouth, plus 2D nose and ears.

    Returns (window, alpha uint8, colour float32 (h, w, 3)).
    """
    h_img, w_img = shape
    a_mat = fig.head_axes
    c = fig.joints["head_center"]
    ext = np.sqrt((a_mat[:2] ** 2).sum(1))  # silhouette half extents in u, v
    pad = 0.6 * ext.max() + 2
    x0 = max(0, int(np.floor(c[0] - ext[0] - pad)))
    x1 = min(w_img, int(np.ceil(c[0] + ext[0] + pad)) + 1)
    y0 = max(0, int(np.floor(c[1] - ext[1] - pad)))
    y1 = min(h_img, int(np.ceil(c[1] + ext[1] + pad)) + 1)
    if x1 <= x0 or y1 <= y0:
        return None, None, None
    ainv = np.linalg.inv(a_mat)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    q0 = np.stack([xx - c[0], yy - c[1], np.full_like(xx, -c[2])], -1) @ ainv.T
    b = ainv[:, 2]
    bb = float(b @ b)
    ab = q0 @ b
    qmin = (q0 * q0).sum(-1) - ab * ab / bb   # min |n|^2 along the viewing ray
    rad_px = float(ext.mean())
    cover = np.clip((1.0 - np.sqrt(np.maximum(qmin, 0))) * rad_px + 0.5, 0, 1)
    disc = np.maximum(ab * ab - bb * ((q0 * q0).sum(-1) - 1.0), 0)
    z = (-ab + np.sqrt(disc)) / bb
    n = q0 + z[..., None] * b
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)
    nx, ny, nz = n[..., 0], n[..., 1], n[..., 2]
    ncam = n @ ainv
    ncam /= np.maximum(np.linalg.norm(ncam, axis=-1, keepdims=True), 1e-9)
    shade = 0.6 + 0.5 * np.clip(ncam @ light, 0, 1)

    col = np.empty(n.shape, np.float32)
    col[:] = look.skin
    style = look.hair_style
    wig = rng.normal(0, 0.04, 4)
    if style == "short":
        hair = (ny > 0.4 + wig[0]) | ((nz < -0.1 + wig[1]) & (ny > -0.5)) | \
               ((np.abs(nx) > 0.82) & (ny > 0.1) & (nz < 0.2))
    elif style == "long":
        hair = (ny > 0.36 + wig[0]) | (nz < 0.05 + wig[1]) | ((np.abs(nx) > 0.72) & (nz < 0.5))
    elif style == "bald":
        hair = (nz < -0.35) & (ny < 0.1 + wig[2]) & (ny > -0.55)
    else:
        hair = (nz < -0.1) & (ny > -0.45)
    col[hair] = look.hair
    if look.hat is not None:
        col[ny > 0.32 + wig[3]] = look.hat
    for name in ("left_eye", "right_eye"):
        e = FACE_POINTS[name] / np.linalg.norm(FACE_POINTS[name])
        dist = np.linalg.norm(n - e, axis=-1)
        col[(dist < 0.17) & (nz > 0)] = (235, 235, 230)
        col[(dist < 0.1) & (nz > 0)] = (30, 25, 20)
        brow = np.linalg.norm(n - (e + np.array([0.0, 0.2, -0.04])), axis=-1)
        col[(brow < 0.12) & (np.abs(n[..., 1] - e[1] - 0.2) < 0.04) & (nz > 0)] = look.hair * 0.8
    mouth = (np.abs(nx) < 0.22) & (np.abs(ny + 0.5) < 0.05) & (nz > 0.5)
    col[mouth] = look.skin * np.array([0.7, 0.35, 0.35], np.float32)
    col *= shade[..., None].astype(np.float32)
    alpha = np.round(cover * 255).astype(np.uint8)

    # ears and nose: small 2D blobs, drawn where they face the camera
    off = np.array([x0, y0], np.float64)
    for side in ("left_ear", "right_ear"):
        nrm = ainv.T @ np.array([1.0 if side.startswith("left") else -1.0, 0, 0])
        nrm /= np.linalg.norm(nrm)
        if nrm[2] > EAR_NORMAL_MIN:
            p = fig.joints[side][:2] - off
            ax = (max(1, int(0.24 * ext[0] * 16)), max(1, int(0.36 * ext[1] * 16)))
            ang = float(np.degrees(np.arctan2(a_mat[1, 1], a_mat[0, 1]))) - 90
            ear = np.zeros_like(alpha)
            cv2.ellipse(ear, (int(p[0] * 16), int(p[1] * 16)), ax, ang, 0, 360, 255, -1,
                        cv2.LINE_AA, 4)
            sel = ear > alpha
            col[sel] = look.skin * 0.88 if style != "long" else look.hair
            alpha = np.maximum(alpha, ear)
    fwd = ainv.T @ np.array([0.0, 0.0, 1.0])
    fwd /= np.linalg.norm(fwd)
    if fwd[2] > NOSE_FORWARD_MIN:
        p = fig.joints["nose"][:2] - off
        nose = np.zeros_like(alpha)
        r = max(1, int(0.2 * ext.mean() * 16))
        cv2.circle(nose, (int(p[0] * 16), int(p[1] * 16)), r, 255, -1, cv2.LINE_AA, 4)
        sel = nose > 0
        col[sel] = col[sel] * 0.3 + look.skin * 0.62
        alpha = np.maximum(alpha, nose)
    return (y0, y1, x0, x1), alpha, col


def _draw_person(canvas: Canvas, spec: PersonSpec, pid: int, light: np.ndarray) -> None:
    fig = spec.figure
    rng = np.random.default_rng(spec.figure_seed)
    j = fig.joints
    rd = fig.radii
    hgt = fig.height
    h_img, w_img = canvas.shape
    pts = np.array([v[:2] for v in j.values()])
    m = 0.15 * hgt + 3
    box = (max(0, int(pts[:, 1].min() - m)), min(h_img, int(pts[:, 1].max() + m) + 1),
           max(0, int(pts[:, 0].min() - m)), min(w_img, int(pts[:, 0].max() + m) + 1))
    if box[1] <= box[0] or box[3] <= box[2]:
        return
    fills = _Fills(spec.look, box, hgt, rng)
    lk = spec.look
    torso_w = float(np.mean([r[:, 2].mean() for r in fig.torso_rings]))

    items: list[tuple[float, int, str, object]] = []  # (depth, tie, kind, payload)
    items.append((torso_w, 0, "torso", None))
    items.append((j["head_center"][2] + 0.05 * hgt, 1, "head", None))
    for s in ("left", "right"):
        upper_arm_fill = "skin" if lk.sleeves == "none" else "top"
        lower_arm_fill = "top" if lk.sleeves == "long" else "skin"
        lower_leg_fill = "bottom" if lk.trousers == "long" else "skin"
        segs = {
            "upper_arm": [(j[f"{s}_shoulder"], rd["upper_arm"], j[f"{s}_elbow"],
                           rd["lower_arm"] * 1.05, upper_arm_fill)],
            "lower_arm": [(j[f"{s}_elbow"], rd["lower_arm"], j[f"{s}_wrist"], rd["hand"] * 0.9,
                           lower_arm_fill),
                          (j[f"{s}_wrist"], rd["hand"] * 0.9, j[f"{s}_hand_tip"], rd["hand"],
                           "skin")],
            "upper_leg": [(j[f"{s}_hip"], rd["upper_leg"], j[f"{s}_knee"], rd["knee"], "bottom")],
            "lower_leg": [(j[f"{s}_knee"], rd["knee"], j[f"{s}_ankle"], rd["ankle"],
                           lower_leg_fill),
                          (j[f"{s}_ankle"], rd["ankle"], j[f"{s}_toe"], rd["foot"], "shoes")],
        }
        for part, seg in segs.items():
            depth = float(np.mean([(a[2] + b[2]) * 0.5 for a, _, b, _, _ in seg]))
            items.append((depth + 0.03 * hgt, 2, f"{s}_{part}", seg))
    items.sort(key=lambda it: (it[0], it[1]))

    for _, _, kind, payload in items:
        if kind == "torso":
            ring_pts = np.concatenate([r[:, :2] for r in fig.torso_rings], 0)
            hull = cv2.convexHull(ring_pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)
            neck = capsule_polygon(j["thorax"], rd["neck"], j["neck_top"], rd["neck"] * 0.95)
            win, alpha = _poly_alpha(canvas.shape, [hull])
            if win is not None:
                sw = float(np.linalg.norm(j["left_shoulder"][:2] - j["right_shoulder"][:2]))
                shade = _axis_shading(win, j["pelvis"], j["thorax"],
                                      max(sw * 0.6, rd["upper_leg"] * 2), light)
                canvas.paint(win, alpha, fills.get("top", win) * shade, pid, PART_LABELS["torso"])
            win, alpha = _poly_alpha(canvas.shape, [neck])
            if win is not None:
                shade = _axis_shading(win, j["thorax"], j["neck_top"], rd["neck"], light)
                canvas.paint(win, alpha, fills.get("skin", win) * shade * 0.92, pid,
                             PART_LABELS["torso"])
        elif kind == "head":
            win, alpha, col = _head_layer(fig, lk, canvas.shape, light, rng)
            if win is not None:
                canvas.paint(win, alpha, col, pid, PART_LABELS["head"])
        else:
            label = PART_LABELS[kind]
            for p1, r1, p2, r2, fill in payload:
                win, alpha = _poly_alpha(canvas.shape, [capsule_polygon(p1, r1, p2, r2)])
                if win is None:
                    continue
                shade = _axis_shading(win, p1, p2, max(r1, r2), light)
                canvas.paint(win, alpha, fills.get(fill, win) * shade, pid, label)


# ------------------------------------------------------------------------------ annotation

def _keypoints(fig: Figure, canvas: Canvas, pid: int) -> np.ndarray:
    """(17, 3) COCO keypoints with visibility read from the label maps (see module rules)."""
    h, w = canvas.shape
    ainv = np.linalg.inv(fig.head_axes)
    out = np.zeros((len(COCO_KEYPOINTS), 3))
    for k, name in enumerate(COCO_KEYPOINTS):
        # the written precision (0.01 px), so readers find the same pixel with round()
        x, y = round(float(fig.joints[name][0]), 2), round(float(fig.joints[name][1]), 2)
        if not (0.0 <= x <= w - 1 and 0.0 <= y <= h - 1):
            continue
        allowed = KEYPOINT_PARTS[name]
        side = name.split("_")[0]
        if name.endswith(("shoulder", "hip")) and fig.lateral[side][2] < TORSO_SIDE_MIN:
            allowed = tuple(a for a in allowed if a != PART_LABELS["torso"])
        hidden = False
        if name in FACE_POINTS:
            if name == "nose":
                nrm = ainv.T @ np.array([0.0, 0.0, 1.0])
                thr = NOSE_FORWARD_MIN
            elif name.endswith("ear"):
                nrm = ainv.T @ np.array([1.0 if side == "left" else -1.0, 0.0, 0.0])
                thr = EAR_NORMAL_MIN
            else:
                nrm = ainv.T @ (FACE_POINTS[name] / np.linalg.norm(FACE_POINTS[name]))
                thr = EYE_NORMAL_MIN
            hidden = nrm[2] / np.linalg.norm(nrm) <= thr
        xi, yi = int(round(x)), int(round(y))
        vis = (not hidden and canvas.pid[yi, xi] == pid and canvas.part[yi, xi] in allowed)
        out[k] = (x, y, 2.0 if vis else 1.0)
    return out


MPII_FROM_FIGURE = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee",
                    "left_ankle", "pelvis", "thorax", "upper_neck", "head_top", "right_wrist",
                    "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist")


def _mpii_joints(fig: Figure, shape: tuple[int, int]) -> np.ndarray:
    """(16, 3) MPII joints (x, y, inside-image flag), 0-based; pelvis = mid-hip, thorax =
    mid-shoulder, upper_neck / head_top from the drawn head."""
    h, w = shape
    j = fig.joints
    pts = {n: j[n][:2] for n in MPII_FROM_FIGURE if n not in ("pelvis", "thorax")}
    pts["pelvis"] = (j["left_hip"][:2] + j["right_hip"][:2]) / 2
    pts["thorax"] = (j["left_shoulder"][:2] + j["right_shoulder"][:2]) / 2
    out = np.zeros((16, 3))
    for k, name in enumerate(MPII_FROM_FIGURE):
        x, y = pts[name]
        inside = 0.0 <= x <= w - 1 and 0.0 <= y <= h - 1
        out[k] = (x, y, 1.0) if inside else (0.0, 0.0, 0.0)
    return out


def _annotate(specs: list[PersonSpec], canvas: Canvas) -> list[RenderedPerson]:
    out = []
    for i, spec in enumerate(specs):
        fig = spec.figure
        pid = i + 1
        kps = _keypoints(fig, canvas, pid)
        mask = np.where(canvas.pid == pid, canvas.part, 0).astype(np.uint8)
        a = fig.head_axes
        c = fig.joints["head_center"]
        ext = np.sqrt((a[:2] ** 2).sum(1))
        face = np.array([fig.joints[n][:2] for n in FACE_POINTS])  # nose and ears stick out
        head_box = np.array([min(c[0] - ext[0], face[:, 0].min()), min(c[1] - ext[1], face[:, 1].min()),
                             max(c[0] + ext[0], face[:, 0].max()), max(c[1] + ext[1], face[:, 1].max())])
        names = [n for n in fig.joints if n != "head_center"]
        pts = np.array([fig.joints[n][:2] for n in names])
        full = np.array([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()])
        full[:2] = np.minimum(full[:2], head_box[:2])
        full[2:] = np.maximum(full[2:], head_box[2:])
        out.append(RenderedPerson(kps, mask, _mpii_joints(fig, canvas.shape), head_box, full,
                                  spec.height, spec.pose))
    return out


def _acceptable(p: RenderedPerson) -> bool:
    """A drawn person is annotated only when enough of it is visible to be labelled."""
    v = p.keypoints[:, 2]
    return int((p.mask > 0).sum()) >= 40 and int((v > 0).sum()) >= 4 and int((v == 2).sum()) >= 2


# ---------------------------------------------------------------------------------- scene

def _compose(bg: np.ndarray, specs: list[PersonSpec], occluders: list[tuple[int, OccluderSpec]],
             light: np.ndarray) -> Canvas:
    canvas = Canvas(bg.copy())
    occ_at: dict[int, list[OccluderSpec]] = {}
    for pos, o in occluders:
        occ_at.setdefault(pos, []).append(o)
    for i in range(len(specs) + 1):
        for o in occ_at.get(i, []):
            mask = np.zeros(canvas.shape, np.uint8)
            tx.draw_clutter(canvas.image, np.random.default_rng(o.seed), mask=mask)
            sel = mask > 0
            canvas.pid[sel] = 0
            canvas.part[sel] = 0
        if i < len(specs):
            _draw_person(canvas, specs[i], i + 1, light)
    return canvas


def render_image(rng: np.random.Generator) -> RenderedImage:
    """One SynthPose image (RGB uint8) and its annotated persons, drawn only from `rng`."""
    width = int(rng.integers(IMAGE_WIDTH[0], IMAGE_WIDTH[1] + 1))
    height = int(rng.integers(IMAGE_HEIGHT[0], IMAGE_HEIGHT[1] + 1))
    bg = tx.background(height, width, rng)
    light = np.array([rng.uniform(-0.6, 0.6), rng.uniform(-0.8, 0.1), 1.0])
    light /= np.linalg.norm(light)
    for _attempt in range(20):
        specs = sample_people(rng, width, height)
        for s in specs:
            s.figure = build_figure(s.pose, s.height, s.origin, s.build,
                                    np.random.default_rng(s.figure_seed + 1))
        n_occ = int(rng.choice([0, 1, 2], p=[0.55, 0.3, 0.15]))
        occluders = [(int(rng.integers(1, len(specs) + 1)), OccluderSpec(int(rng.integers(2**62))))
                     for _ in range(n_occ)]
        # drop people too hidden to label, redraw without them (others stay identical)
        for _ in range(len(specs) + 1):
            canvas = _compose(bg, specs, occluders, light)
            persons = _annotate(specs, canvas)
            keep = [i for i, p in enumerate(persons) if _acceptable(p)]
            if len(keep) == len(specs):
                break
            # an occluder drawn before person `pos` stays before the same kept people
            occluders = [(sum(1 for k in keep if k < pos), o) for pos, o in occluders]
            specs = [specs[i] for i in keep]
            if not specs:
                break
        if specs:
            break
    img = canvas.image
    # camera: slight blur, exposure, sensor noise
    sigma = rng.uniform(0.0, 0.9)
    if sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img = img * rng.uniform(0.85, 1.15) + rng.uniform(-15, 15)
    img = img + rng.normal(0, rng.uniform(0.5, 4), img.shape).astype(np.float32)
    image = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return RenderedImage(image=image, persons=persons)
