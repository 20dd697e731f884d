"""SynthPose body model: a 3D stick-and-volume human with joint limits, sampled poses and an
orthographic camera, giving the 17 COCO keypoints (plus MPII's extra joints) in image pixels.

Frames. Body frame: X = the person's left, Y = up, Z = the direction the person faces, unit =
standing height. Camera frame (image pixels): u = x right, v = y down, w = toward the viewer
(larger w is nearer; only differences of w are used, for depth order and face visibility).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Body proportions as fractions of the standing height (head top to sole).
SPINE = 0.30          # mid-hip (pelvis) to mid-shoulder (thorax)
NECK = 0.045          # thorax to the base of the skull
SHOULDER_HALF = 0.105
HIP_HALF = 0.058
UPPER_ARM = 0.165
LOWER_ARM = 0.145     # elbow to wrist
HAND = 0.06
UPPER_LEG = 0.245
LOWER_LEG = 0.24      # knee to ankle
FOOT = 0.11           # ankle to toe
HEAD_RADII = (0.052, 0.066, 0.06)   # head ellipsoid half-axes: width, height, depth

# Unit-sphere head-frame positions (x left, y up, z forward) of the face keypoints; the nose
# tip sticks out of the ellipsoid, the ears sit just outside its sides.
FACE_POINTS = {
    "nose": np.array([0.0, -0.12, 1.12]),
    "left_eye": np.array([0.36, 0.14, 0.92]),
    "right_eye": np.array([-0.36, 0.14, 0.92]),
    "left_ear": np.array([1.04, -0.02, -0.06]),
    "right_ear": np.array([-1.04, -0.02, -0.06]),
}


def rot_x(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else v


def _rodrigues(v: np.ndarray, axis: np.ndarray, deg: float) -> np.ndarray:
    """Rotate vector v about the unit axis by deg (right-handed)."""
    a = np.deg2rad(deg)
    return v * np.cos(a) + np.cross(axis, v) * np.sin(a) + axis * np.dot(axis, v) * (1 - np.cos(a))


@dataclass
class Pose:
    """Joint angles in degrees (sampled by `sample_pose`)."""

    yaw: float = 0.0            # whole body about the vertical; 0 = facing the camera
    tilt: float = 0.0           # camera elevation (rotation about the camera x axis)
    roll: float = 0.0           # in-plane rotation of the whole figure
    lean: float = 0.0           # torso forward bend
    side_bend: float = 0.0
    twist: float = 0.0          # shoulders against hips
    head_yaw: float = 0.0
    head_pitch: float = 0.0
    head_roll: float = 0.0
    # per side ("left", "right"): arm elevation/azimuth/elbow bend/elbow bend direction,
    # leg flexion/abduction/knee bend, ankle flex
    arm: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    leg: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    kind: str = "stand"


POSE_KINDS = ("stand", "walk", "run", "reach", "crouch", "bend", "free")
POSE_PROBS = (0.26, 0.2, 0.12, 0.16, 0.1, 0.06, 0.1)


def sample_pose(rng: np.random.Generator) -> Pose:
    """A random plausible pose: a pose family, then joint angles within anatomical limits."""
    kind = POSE_KINDS[int(rng.choice(len(POSE_KINDS), p=POSE_PROBS))]
    u = rng.uniform
    p = Pose(kind=kind)
    # Orientation: half of the people roughly face the camera, the rest any direction.
    p.yaw = float(u(-40, 40) if rng.random() < 0.45 else u(-180, 180))
    p.tilt = float(rng.normal(0, 8))
    r = rng.random()
    p.roll = float(rng.normal(0, 6) if r < 0.88 else (u(60, 110) * rng.choice([-1, 1])
                                                      if r < 0.95 else u(-180, 180)))
    p.lean = float(rng.normal(4, 6))
    p.side_bend = float(rng.normal(0, 5))
    p.twist = float(rng.normal(0, 10))
    p.head_yaw = float(np.clip(rng.normal(0, 30), -75, 75))
    p.head_pitch = float(np.clip(rng.normal(-3, 12), -35, 40))
    p.head_roll = float(np.clip(rng.normal(0, 8), -25, 25))

    def arm(e, az, k, bend_dir=None):
        return (float(e), float(az), float(k), float(u(-60, 80) if bend_dir is None else bend_dir))

    def leg(f, a, k, ank=None):
        return (float(f), float(a), float(k), float(u(-15, 20) if ank is None else ank))

    sides = ("left", "right")
    if kind == "stand":
        for s in sides:
            p.arm[s] = arm(u(3, 40), u(-30, 70), u(0, 60))
            p.leg[s] = leg(u(-8, 15), u(-3, 14), u(0, 20))
    elif kind in ("walk", "run"):
        big = kind == "run"
        swing = u(25, 55) if big else u(10, 32)
        first = sides[int(rng.integers(2))]
        for s in sides:
            sign = 1.0 if s == first else -1.0
            f = sign * swing + u(-5, 5)
            if big:
                knee = u(60, 120) if f < 0 else u(20, 80)
            else:
                knee = u(15, 50) if f < 0 else u(0, 20)
            p.leg[s] = leg(f, u(-2, 8), knee)
            # arms swing against the same-side leg
            az = 90.0 if sign < 0 else -70.0
            p.arm[s] = arm(u(5, 45) if big else u(5, 25), az + u(-20, 20),
                           u(70, 115) if big else u(5, 45))
        p.lean += u(5, 15) if big else 0.0
    elif kind == "reach":
        for s in sides:
            if rng.random() < 0.7:
                p.arm[s] = arm(u(70, 175), u(-40, 110), u(0, 100))
            else:
                p.arm[s] = arm(u(5, 60), u(-30, 90), u(0, 120))
            p.leg[s] = leg(u(-10, 20), u(-3, 25), u(0, 25))
    elif kind == "crouch":
        for s in sides:
            f = u(55, 105)
            p.leg[s] = leg(f, u(0, 30), u(70, 135), u(-10, 30))
            p.arm[s] = arm(u(10, 80), u(30, 110), u(20, 120))
        p.lean += u(10, 35)
    elif kind == "bend":
        p.lean += u(35, 75)
        for s in sides:
            p.arm[s] = arm(u(40, 110), u(40, 100), u(0, 60))
            p.leg[s] = leg(u(-5, 15), u(0, 12), u(0, 25))
    else:  # free: anything inside the joint limits (dance, sport)
        for s in sides:
            p.arm[s] = arm(u(0, 175), u(-45, 135), u(0, 145))
            p.leg[s] = leg(u(-30, 110), u(-8, 45), u(0, 140))
        p.side_bend += u(-15, 15)
    return p


@dataclass
class Figure:
    """A posed person in the camera frame (image pixels).

    joints: name -> (3,) float64 (u, v, w). Names: the 17 COCO keypoints plus pelvis, thorax,
    neck_top, upper_neck, head_top, head_center, left/right_hand_tip, left/right_toe.
    head_axes: (3, 3) whose columns are the head's semi-axes (x left, y up, z forward, scaled by
    the half-axis lengths) in the camera frame. lateral: side -> (3,) unit camera vector pointing
    from the body's midline toward that side (torso frame). radii: part -> radius in pixels.
    """

    height: float
    joints: dict[str, np.ndarray]
    head_axes: np.ndarray
    lateral: dict[str, np.ndarray]
    torso_rings: list[np.ndarray]
    radii: dict[str, float]
    pose: Pose


def build_figure(pose: Pose, height: float, origin: tuple[float, float], build: float,
                 rng: np.random.Generator) -> Figure:
    """Forward kinematics of `pose` for a person `height` px tall whose pelvis projects to
    `origin` (u, v) image pixels. build: width multiplier (0.8 thin .. 1.3 broad)."""
    jit = lambda: float(rng.uniform(0.95, 1.05))  # noqa: E731 - per-person proportion jitter
    sw, hw = SHOULDER_HALF * jit() * build ** 0.5, HIP_HALF * jit() * build ** 0.3
    ua, la, ul, ll = UPPER_ARM * jit(), LOWER_ARM * jit(), UPPER_LEG * jit(), LOWER_LEG * jit()
    spine = SPINE * jit()
    body: dict[str, np.ndarray] = {"pelvis": np.zeros(3)}
    r_torso = rot_y(pose.twist) @ rot_x(pose.lean) @ rot_z(pose.side_bend)
    body["thorax"] = r_torso @ np.array([0.0, spine, 0.0])
    lateral_b = {"left": r_torso @ np.array([1.0, 0, 0]), "right": r_torso @ np.array([-1.0, 0, 0])}
    for s, sx in (("left", 1.0), ("right", -1.0)):
        body[f"{s}_shoulder"] = body["thorax"] + r_torso @ np.array([sx * sw, -0.012, -0.005])
        e, az, k, bend_rot = pose.arm[s]
        er, azr = np.deg2rad(e), np.deg2rad(az)
        d = np.array([sx * np.sin(er) * np.cos(azr), -np.cos(er), np.sin(er) * np.sin(azr)])
        d = _unit(d)
        ref = np.array([0.0, 0.0, 1.0]) if abs(d[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
        b = _unit(ref - np.dot(ref, d) * d)
        b = _rodrigues(b, d, sx * bend_rot)
        f = _unit(np.cos(np.deg2rad(k)) * d + np.sin(np.deg2rad(k)) * b)
        body[f"{s}_elbow"] = body[f"{s}_shoulder"] + r_torso @ (d * ua)
        body[f"{s}_wrist"] = body[f"{s}_elbow"] + r_torso @ (f * la)
        body[f"{s}_hand_tip"] = body[f"{s}_wrist"] + r_torso @ (f * HAND)
        fl, ab, kn, ank = pose.leg[s]
        fr, abr = np.deg2rad(fl), np.deg2rad(ab)
        t = _unit(np.array([sx * np.sin(abr), -np.cos(abr) * np.cos(fr), np.cos(abr) * np.sin(fr)]))
        shin = rot_x(kn) @ t
        foot = rot_x(-90 + ank) @ shin
        body[f"{s}_hip"] = np.array([sx * hw, 0.0, 0.0])
        body[f"{s}_knee"] = body[f"{s}_hip"] + t * ul
        body[f"{s}_ankle"] = body[f"{s}_knee"] + shin * ll
        body[f"{s}_toe"] = body[f"{s}_ankle"] + foot * FOOT
    r_head = r_torso @ rot_y(pose.head_yaw) @ rot_x(pose.head_pitch) @ rot_z(pose.head_roll)
    hr = np.array(HEAD_RADII) * np.array([jit(), jit(), jit()])
    body["neck_top"] = body["thorax"] + r_torso @ np.array([0.0, NECK, 0.0])
    body["head_center"] = body["neck_top"] + r_head @ np.array([0.0, 0.8 * hr[1], 0.12 * hr[2]])
    head_axes_b = r_head @ np.diag(hr)
    body["head_top"] = body["head_center"] + head_axes_b @ np.array([0.0, 1.0, 0.0])
    body["upper_neck"] = body["head_center"] + head_axes_b @ np.array([0.0, -0.95, -0.25])
    for name, pt in FACE_POINTS.items():
        body[name] = body["head_center"] + head_axes_b @ pt
    # torso cross-sections (level along the spine, half width, half depth) in body units
    rings_spec = ((-0.03, 0.085, 0.058), (0.10, 0.075, 0.055), (0.20, 0.09, 0.062),
                  (spine - 0.01, sw + 0.004, 0.05))
    ang = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    rings_b = []
    for lvl, a, c in rings_spec:
        a = a * build * (sw / SHOULDER_HALF if lvl > 0.15 else hw / HIP_HALF)
        pts = np.stack([a * np.cos(ang), np.full_like(ang, lvl), c * build * np.sin(ang)], 1)
        rings_b.append(pts @ r_torso.T if lvl > 0.05 else pts)

    # camera: proper rotation in an OpenGL-like frame (x right, y up, z to viewer), then the
    # image flip of y; scale = pixels per body unit.
    cam = rot_z(pose.roll) @ rot_x(pose.tilt) @ rot_y(pose.yaw)
    flip = np.diag([1.0, -1.0, 1.0])
    m = flip @ cam * height
    off = np.array([origin[0], origin[1], 0.0])
    joints = {n: m @ v + off for n, v in body.items()}
    head_axes = m @ head_axes_b
    lateral = {s: flip @ cam @ v for s, v in lateral_b.items()}
    rings = [r @ m.T + off for r in rings_b]
    radii = {
        "upper_arm": 0.031, "lower_arm": 0.024, "hand": 0.021, "upper_leg": 0.047,
        "knee": 0.037, "lower_leg": 0.031, "ankle": 0.022, "foot": 0.02, "neck": 0.026,
    }
    radii = {k: max(0.9, v * height * build) for k, v in radii.items()}
    return Figure(height=height, joints=joints, head_axes=head_axes, lateral=lateral,
                  torso_rings=rings, radii=radii, pose=pose)
