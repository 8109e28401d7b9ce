"""Synthetic training images rendered from mocap poses.

Bodies are drawn from Human3.6M-17 poses (:mod:`wildpose.mocap.sources`, canonical body frame,
mm) through a random pinhole camera as shaded volumes: capsules for the limbs and ellipsoids
for the head and torso.  Every pixel casts a ray, so occlusion is exact (a per-pixel depth
buffer) and shading is Lambertian from the true surface normal.  Work is done per volume on
the pixels of its projected bounding box only, so a 128 px image takes a few milliseconds.

Two styles:

* ``"lab"``: a plain, slightly varying grey studio background, near-fixed clothes colours,
  standard limb thickness, light from the upper front;
* ``"wild"``: procedural textured and cluttered backgrounds (value noise, stripes, random
  shapes and sticks), random limb thickness within human ranges, random clothes and skin
  colours, random light direction and strength, small camera roll and looser framing.

Left and right are told apart the way clothes and faces tell them apart: each left or right
limb gets its own colour (slightly different in the lab, often fully independent in the
wild), and the head is skin-coloured on the face side and hair-coloured behind, so the
facing direction is visible.  No label is painted.

Conventions: camera frame x right, y down, z forward (mm); pixel (u, v) is the centre of
column u, row v, and ``u = f X / Z + c`` as in :func:`wildpose.camera.camera_to_pixels`
(no lens distortion).  The principal point is the image centre ``((W - 1) / 2, (H - 1) / 2)``
so that mirroring an image maps u to ``W - 1 - u``.  A camera is a
:class:`wildpose.camera.Camera` with ``X_cam = R (X - T) = R X + t``, ``t = -R T``.

The dataset (:class:`SyntheticPoseDataset`) renders sample i on the fly from ``(seed, i)``,
and :func:`prerender` writes N samples to one ``.npz`` (resumable, in chunks).
:func:`build_splits` makes the lab / wild / test splits of Zhou et al.'s setting from the
shared data folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..camera import Camera, camera_to_pixels
from ..chunked import write_chunks
from ..geometry import rotation_from_euler
from ..mocap.sources import concatenate, load_bvh_mocap, load_h36m_mocap
from ..skeleton import H36M17

__all__ = [
    "STYLES",
    "Appearance",
    "Render",
    "pinhole_camera",
    "sample_camera",
    "sample_appearance",
    "make_background",
    "draw_capsules",
    "draw_ellipsoid",
    "render_camera_frame",
    "render_pose",
    "SyntheticPoseDataset",
    "prerender",
    "build_splits",
    "LAB_SUBJECTS",
    "WILD_SUBJECTS",
    "TEST_SUBJECTS",
]

STYLES = ("lab", "wild")

LAB_SUBJECTS = (1, 5, 6)
WILD_SUBJECTS = (7, 8)
TEST_SUBJECTS = (9, 11)

_J = {name: i for i, name in enumerate(H36M17.joints)}

#: Limb capsules: (name, joint a, joint b, radius mm, clothes part).  Radii are those of an
#: average adult at wildpose's reference size (bone sum 4145 mm).
_LIMBS = (
    ("right upper leg", "RHip", "RKnee", 72.0, "right thigh"),
    ("right lower leg", "RKnee", "RFoot", 50.0, "right shin"),
    ("left upper leg", "LHip", "LKnee", 72.0, "left thigh"),
    ("left lower leg", "LKnee", "LFoot", 50.0, "left shin"),
    ("right upper arm", "RShoulder", "RElbow", 44.0, "right sleeve"),
    ("right lower arm", "RElbow", "RWrist", 36.0, "right forearm"),
    ("left upper arm", "LShoulder", "LElbow", 44.0, "left sleeve"),
    ("left lower arm", "LElbow", "LWrist", 36.0, "left forearm"),
    ("right shoulder", "Thorax", "RShoulder", 55.0, "shirt"),
    ("left shoulder", "Thorax", "LShoulder", 55.0, "shirt"),
    ("pelvis", "RHip", "LHip", 82.0, "pants"),
)

#: Colour parts.  A body's palette is one RGB colour per part.
PARTS = ("shirt", "pants", "skin", "hair", "shoes", "right thigh", "right shin",
         "left thigh", "left shin", "right sleeve", "right forearm", "left sleeve",
         "left forearm")

#: Lab palette (RGB): a dark shirt, dark trousers; the right-side clothes are a shade
#: lighter than the left, as two-tone sportswear would be.
_LAB_BASE = {"shirt": (70, 80, 105), "pants": (50, 50, 60), "skin": (200, 160, 135),
             "hair": (45, 35, 30), "shoes": (30, 30, 30)}


@dataclass
class Appearance:
    """How one body looks: colours, thickness and light.

    Attributes:
        colors: {part: (3,) RGB 0-255}, one entry per name in :data:`PARTS`.
        radius_scale: {limb name or "torso"/"head"/"hands"/"feet"/"neck": factor} on the
            standard radii (1 = average adult).
        light: (3,) unit vector towards the light, camera frame.
        ambient: share of light that reaches surfaces facing away from the light, 0-1.
        stripes: (period in the torso's unit-sphere coordinates, (3,) second colour) or None
            for a plain shirt.
    """

    colors: dict[str, np.ndarray]
    radius_scale: dict[str, float]
    light: np.ndarray
    ambient: float
    stripes: tuple[float, np.ndarray] | None = None


@dataclass
class Render:
    """One rendered sample.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        joints_2d: (17, 2) float32 pixels, H36M17 order.
        joints_3d: (17, 3) float32 camera-frame mm (NaN when withheld).
        visible: (17,) bool, joint projects inside the image (and lies in front of the camera).
        mask: (H, W) bool, pixels covered by the body.
        camera: the camera (no distortion), ``X_cam = R X + t`` for a canonical-frame pose X.
        t: (3,) float64 translation, mm.
    """

    image: np.ndarray
    joints_2d: np.ndarray
    joints_3d: np.ndarray
    visible: np.ndarray
    mask: np.ndarray
    camera: Camera
    t: np.ndarray


# ------------------------------------------------------------------------------- camera
def pinhole_camera(R: np.ndarray, t: np.ndarray, f: float | np.ndarray, size: int) -> Camera:
    """A distortion-free :class:`~wildpose.camera.Camera` of a square ``size`` px image.

    Args:
        R: (3, 3) rotation, canonical frame -> camera frame.
        t: (3,) translation, mm: ``X_cam = R X + t``.
        f: focal length, pixels (scalar or (2,)).
        size: image width = height, pixels; the principal point is the image centre.
    """
    R = np.asarray(R, np.float64)
    t = np.asarray(t, np.float64)
    half = (size - 1) / 2.0
    return Camera(R=R, T=-R.T @ t, f=np.broadcast_to(np.asarray(f, np.float64), (2,)).copy(),
                  c=np.array([half, half]), k=np.zeros(3), p=np.zeros(2), name="synthetic",
                  width=size, height=size)


def _fit_translation(rotated: np.ndarray, f: float, size: int, fill: float,
                     shift: np.ndarray, margin_mm: float = 70.0) -> np.ndarray:
    """Translation that puts a rotated pose in front of the camera so that its projected
    joints span ``fill`` of the image side, their box centred ``shift`` px off the centre.

    Args:
        rotated: (17, 3) root-relative pose in camera axes, mm.
        f: focal length, px; size: image side, px; fill: 0-1; shift: (2,) px.
        margin_mm: flesh beyond the joints (head top, feet, hands), counted in the extent.
    Returns:
        (3,) t, mm.
    """
    lo, hi = rotated[:, :2].min(0) - margin_mm, rotated[:, :2].max(0) + margin_mm
    z = f * (hi - lo).max() / (fill * size)
    z = max(z, float(np.abs(rotated[:, 2]).max()) + 600.0)   # never inside the body
    t = np.array([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, z])
    # Perspective makes near parts bigger: two corrections of scale and centre suffice.
    for _ in range(2):
        cam = rotated + t
        uv = f * cam[:, :2] / cam[:, 2:3]
        span = (uv.max(0) - uv.min(0)).max() + 2 * margin_mm * f / t[2]
        t[2] = max(t[2] * span / (fill * size), float(np.abs(rotated[:, 2]).max()) + 600.0)
        cam = rotated + t
        uv = f * cam[:, :2] / cam[:, 2:3]
        t[:2] += (shift - (uv.max(0) + uv.min(0)) / 2) * t[2] / f
    return t


def sample_camera(pose: np.ndarray, size: int, rng: np.random.Generator,
                  style: str = "lab") -> Camera:
    """A random camera looking at a canonical-frame pose.

    Azimuth is uniform all round; elevation looks slightly down (up to about 35 degrees in
    the lab, -10 to 40 in the wild, with a small roll); the focal length is 1.2-2.5 image
    sides; the distance makes the body fill 70-90 % (lab) or 55-95 % (wild) of the image.

    Args:
        pose: (17, 3) canonical-frame H36M17 pose, mm (root-relative or not).
        size: image side, px.
    """
    pose = np.asarray(pose, np.float64)
    pose = pose - pose[H36M17.root]
    az = rng.uniform(-np.pi, np.pi)
    if style == "lab":
        el, roll = rng.uniform(0.0, 0.6), 0.0
        f = size * rng.uniform(1.5, 2.0)
        fill = rng.uniform(0.7, 0.9)
        shift = rng.uniform(-0.03, 0.03, 2) * size
    else:
        el, roll = rng.uniform(-0.17, 0.7), rng.normal(0.0, 0.08)
        f = size * rng.uniform(1.2, 2.5)
        fill = rng.uniform(0.55, 0.95)
        shift = rng.uniform(-0.08, 0.08, 2) * size
    R = rotation_from_euler(az, el, roll)
    t = _fit_translation(pose @ R.T, f, size, fill, shift)
    return pinhole_camera(R, t, f, size)


# ------------------------------------------------------------------------------- appearance
def _jitter(rng: np.random.Generator, color, amount: float) -> np.ndarray:
    return np.clip(np.asarray(color, np.float64) + rng.normal(0, amount, 3), 0, 255)


def _random_color(rng: np.random.Generator) -> np.ndarray:
    """A clothes colour: random hue, mostly muted, sometimes dark or bright."""
    base = rng.uniform(0, 255, 3)
    grey = rng.uniform(20, 230)
    mix = rng.uniform(0.2, 1.0)
    return np.clip(mix * base + (1 - mix) * grey, 0, 255)


def _skin(rng: np.random.Generator) -> np.ndarray:
    """A skin tone between dark and light (a line through typical RGB skin colours)."""
    s = rng.uniform(0, 1)
    return np.array([75 + 160 * s, 50 + 140 * s, 35 + 130 * s]) + rng.normal(0, 6, 3)


def sample_appearance(rng: np.random.Generator, style: str = "lab") -> Appearance:
    """Random clothes, skin, limb thickness and light of one body, for a style."""
    if style == "lab":
        c = {k: _jitter(rng, v, 6) for k, v in _LAB_BASE.items()}
        for side, shade in (("left", 0.0), ("right", 22.0)):
            c[f"{side} thigh"] = c[f"{side} shin"] = np.clip(c["pants"] + shade, 0, 255)
            c[f"{side} sleeve"] = c[f"{side} forearm"] = np.clip(c["shirt"] + shade, 0, 255)
        build = rng.uniform(0.95, 1.05)
        scale = {name: build for name, *_ in _LIMBS}
        scale.update(torso=build, head=1.0, hands=1.0, feet=1.0, neck=build)
        light = np.array([0.3, -0.6, -1.0]) + rng.normal(0, 0.05, 3)
        return Appearance(c, scale, light / np.linalg.norm(light), rng.uniform(0.35, 0.45))

    skin = _skin(rng)
    c = {"shirt": _random_color(rng), "pants": _random_color(rng), "skin": skin,
         "hair": _jitter(rng, rng.choice([[30, 25, 20], [90, 60, 35], [200, 170, 110],
                                          [120, 120, 120]]), 12),
         "shoes": _random_color(rng) * rng.uniform(0.3, 1.0)}
    short_sleeves, shorts = rng.random() < 0.35, rng.random() < 0.2
    independent = rng.random() < 0.5   # e.g. a jacket with odd sleeves, patterned trousers
    for side in ("left", "right"):
        sleeve = _random_color(rng) if independent else _jitter(rng, c["shirt"], 18)
        leg = _random_color(rng) if independent else _jitter(rng, c["pants"], 18)
        c[f"{side} sleeve"] = sleeve
        c[f"{side} forearm"] = skin if short_sleeves else sleeve
        c[f"{side} thigh"] = leg
        c[f"{side} shin"] = skin if shorts else leg
    build = rng.uniform(0.85, 1.2)   # slim to heavy
    scale = {name: build * rng.uniform(0.85, 1.15) for name, *_ in _LIMBS}
    scale.update(torso=build * rng.uniform(0.9, 1.15), head=rng.uniform(0.9, 1.1),
                 hands=rng.uniform(0.85, 1.15), feet=rng.uniform(0.85, 1.15),
                 neck=build * rng.uniform(0.85, 1.15))
    # Light from anywhere in front of the body's visible side, mostly from above.
    light = np.array([rng.uniform(-1, 1), rng.uniform(-1, 0.3), -rng.uniform(0.2, 1.0)])
    stripes = ((rng.uniform(0.15, 0.4), _random_color(rng)) if rng.random() < 0.3 else None)
    return Appearance(c, scale, light / np.linalg.norm(light), rng.uniform(0.2, 0.55),
                      stripes)


# ------------------------------------------------------------------------------- background
def _upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of a (g, g, C) grid to (size, size, C)."""
    g = grid.shape[0]
    x = np.linspace(0, g - 1, size, dtype=grid.dtype)
    i0 = np.minimum(x.astype(int), g - 2)
    w = (x - i0)[:, None]
    rows = grid[i0] * (1 - w[..., None]) + grid[i0 + 1] * w[..., None]       # (size, g, C)
    return rows[:, i0] * (1 - w[None, :, :]) + rows[:, i0 + 1] * w[None, :, :]


def make_background(size: int, rng: np.random.Generator, style: str = "lab") -> np.ndarray:
    """A (size, size, 3) float32 background, values 0-255.

    Lab: one grey level with a faint wall-to-floor step and gradient, and little noise.
    Wild: a value-noise, stripe or gradient base, 2-12 random rectangles, ellipses and
    sticks on top, and sensor noise.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / np.float32(size)
    if style == "lab":
        grey = rng.uniform(95, 175)
        horizon = rng.uniform(0.6, 0.85)
        img = grey + rng.uniform(-6, 6) * yy - rng.uniform(3, 8) * (yy > horizon)
        img = img[..., None] + rng.uniform(-4, 4, 3).astype(np.float32)
        return img + rng.standard_normal(img.shape, np.float32) * np.float32(1.2)

    kind = rng.integers(3)
    if kind == 0:      # blotchy texture: value noise at two scales
        img = _upsample(rng.uniform(0, 255, (int(rng.integers(2, 6)),) * 2 + (3,))
                        .astype(np.float32), size)
        fine = _upsample(rng.uniform(-1, 1, (int(rng.integers(8, 24)),) * 2 + (3,))
                         .astype(np.float32), size)
        img = img + rng.uniform(10, 60) * fine
    elif kind == 1:    # stripes / planks at a random angle
        a, period = rng.uniform(0, np.pi), rng.uniform(0.04, 0.3)
        s = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(a) + yy * np.sin(a)) / period)
        s = s if rng.random() < 0.5 else (s > 0.5).astype(np.float32)
        img = _random_color(rng) * s[..., None] + _random_color(rng) * (1 - s[..., None])
    else:              # gradient (sky to ground, a lit wall)
        a = rng.uniform(0, 2 * np.pi)
        s = np.clip(0.5 + (xx - 0.5) * np.cos(a) + (yy - 0.5) * np.sin(a), 0, 1)
        img = _random_color(rng) * s[..., None] + _random_color(rng) * (1 - s[..., None])
    img = np.ascontiguousarray(img, np.float32)
    for _ in range(int(rng.integers(2, 13))):
        _paste_shape(img, rng)
    img += rng.standard_normal(img.shape, np.float32) * np.float32(rng.uniform(0, 10))
    return img


def _paste_shape(img: np.ndarray, rng: np.random.Generator) -> None:
    """Blend one random rectangle, ellipse or stick (a distractor limb) into a (S, S, 3)
    float32 image in place; only the shape's bounding box is touched."""
    size = img.shape[0]
    shape = rng.integers(3)
    cx, cy = rng.uniform(-0.1, 1.1, 2)
    if shape == 0:
        hw, hh = rng.uniform(0.025, 0.25, 2)
    elif shape == 1:
        hw, hh = rng.uniform(0.03, 0.3, 2)
    else:
        ex, ey = rng.uniform(-0.3, 0.3, 2)
        width = rng.uniform(0.01, 0.05)
        hw, hh = abs(ex) + width, abs(ey) + width
    color = (rng.uniform(0.5, 1.0), _random_color(rng))
    u0, u1 = max(int((cx - hw) * size), 0), min(int(np.ceil((cx + hw) * size)) + 1, size)
    v0, v1 = max(int((cy - hh) * size), 0), min(int(np.ceil((cy + hh) * size)) + 1, size)
    if u0 >= u1 or v0 >= v1:
        return
    x = (np.arange(u0, u1, dtype=np.float32) / size - cx)[None, :]
    y = (np.arange(v0, v1, dtype=np.float32) / size - cy)[:, None]
    if shape == 0:
        m = (np.abs(x) < hw) & (np.abs(y) < hh)
    elif shape == 1:
        m = (x / hw) ** 2 + (y / hh) ** 2 < 1
    else:
        s = np.clip((x * ex + y * ey) / (ex * ex + ey * ey + 1e-9), 0, 1)
        m = (x - s * ex) ** 2 + (y - s * ey) ** 2 < width ** 2
    alpha, rgb = color
    win = img[v0:v1, u0:u1]
    win[m] = alpha * rgb.astype(np.float32) + (1 - alpha) * win[m]


# ------------------------------------------------------------------------------- ray casting
def _box(points: np.ndarray, radius: float, f: np.ndarray, c: np.ndarray, size: int
         ) -> tuple[int, int, int, int] | None:
    """Pixel box (u0, u1, v0, v1), end-exclusive, that holds the projection of every point
    within ``radius`` mm of the (K, 3) camera-frame ``points`` (a capsule's ends, a sphere's
    centre); None when the box misses the image or a point is too close to the camera."""
    z = points[:, 2]
    if (z - radius).min() <= 1.0:
        return None
    uv = points[:, :2] / z[:, None] * f + c
    # The silhouette of a sphere off the optical axis is slightly larger than r f / z.
    r_px = radius * f.max() / (z.min() - radius) * 1.05 + 1.0
    u0 = max(int(np.floor(uv[:, 0].min() - r_px)), 0)
    u1 = min(int(np.ceil(uv[:, 0].max() + r_px)) + 1, size)
    v0 = max(int(np.floor(uv[:, 1].min() - r_px)), 0)
    v1 = min(int(np.ceil(uv[:, 1].max() + r_px)) + 1, size)
    if u0 >= u1 or v0 >= v1:
        return None
    return u0, u1, v0, v1


def _rays(box, f, c):
    """Ray directions (dx (1, w), dy (h, 1)) with dz = 1 of the pixels of a box, so that the
    ray parameter of a hit is its depth Z in mm."""
    u0, u1, v0, v1 = box
    dx = ((np.arange(u0, u1) - c[0]) / f[0])[None, :]
    dy = ((np.arange(v0, v1) - c[1]) / f[1])[:, None]
    return dx, dy


def _sphere_hit(dx, dy, dd, p, r):
    """Depth of the first hit of rays (dx, dy, 1) on spheres at ``p`` (K, 1, 1, 3) mm of
    radius ``r`` (K, 1, 1) mm, broadcast with the rays: inf where missed."""
    b = dx * p[..., 0] + dy * p[..., 1] + p[..., 2]
    h = b * b - dd * ((p * p).sum(-1) - r * r)
    return np.where(h >= 0, (b - np.sqrt(np.maximum(h, 0))) / dd, np.inf)


def draw_capsules(image: np.ndarray, depth: np.ndarray, a: np.ndarray, b: np.ndarray,
                  radius: np.ndarray, colors: np.ndarray, f: np.ndarray, c: np.ndarray,
                  light: np.ndarray, ambient: float) -> None:
    """Ray-cast capsules into an image in place, keeping the nearest surface per pixel.

    All K capsules are cast at once on pixel windows of a common size (each capsule's own
    projected box, padded), then the nearest hit per pixel wins against the depth buffer.

    Args:
        image: (H, W, 3) float32 RGB, 0-255, modified in place.
        depth: (H, W) float32 depth buffer, mm (inf = empty), modified in place.
        a, b: (K, 3) camera-frame segment ends, mm (a == b draws a sphere).
        radius: (K,) mm; colors: (K, 3) RGB 0-255.
        f, c: (2,) focal length and principal point, px.
        light: (3,) unit vector towards the light; ambient: 0-1.
    """
    height, width = depth.shape
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    r = np.asarray(radius, np.float64)
    zmin = np.minimum(a[:, 2], b[:, 2])
    keep = zmin - r > 1.0                        # capsules reaching the camera are skipped
    a, b, r, colors, zmin = a[keep], b[keep], r[keep], np.asarray(colors)[keep], zmin[keep]
    if not len(a):
        return
    ua = a[:, :2] / a[:, 2:3] * f + c
    ub = b[:, :2] / b[:, 2:3] * f + c
    # The silhouette of a sphere off the optical axis is slightly larger than r f / z.
    r_px = r * f.max() / (zmin - r) * 1.05 + 1.0
    lo = np.floor(np.minimum(ua, ub) - r_px[:, None]).astype(int)
    hi = np.ceil(np.maximum(ua, ub) + r_px[:, None]).astype(int) + 1
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, [width, height])
    ext = hi - lo
    if (ext <= 0).all():
        return
    wb, hb = int(ext[:, 0].max()), int(ext[:, 1].max())
    uu = lo[:, 0:1] + np.arange(wb)                                    # (K, wb)
    vv = lo[:, 1:2] + np.arange(hb)                                    # (K, hb)
    inside = (uu < hi[:, 0:1])[:, None, :] & (vv < hi[:, 1:2])[:, :, None]
    dx = ((uu - c[0]) / f[0])[:, None, :]                              # (K, 1, wb)
    dy = ((vv - c[1]) / f[1])[:, :, None]                              # (K, hb, 1)
    dd = dx * dx + dy * dy + 1.0
    rr = r[:, None, None]
    t = np.minimum(_sphere_hit(dx, dy, dd, a[:, None, None], rr),
                   _sphere_hit(dx, dy, dd, b[:, None, None], rr))
    # Infinite cylinder about each segment; ray origin at the camera centre (oa = -a).
    ba = b - a
    baba = (ba * ba).sum(-1)
    baoa = -(ba * a).sum(-1)
    qc = baba * (a * a).sum(-1) - baoa * baoa - r * r * baba
    baba_, baoa_, qc_ = (v[:, None, None] for v in (baba, baoa, qc))
    bard = dx * ba[:, None, None, 0] + dy * ba[:, None, None, 1] + ba[:, None, None, 2]
    rdoa = -(dx * a[:, None, None, 0] + dy * a[:, None, None, 1] + a[:, None, None, 2])
    qa = baba_ * dd - bard * bard
    qb = baba_ * rdoa - baoa_ * bard
    h = qb * qb - qa * qc_
    ok = (h >= 0) & (qa > 1e-12)
    tc = np.where(ok, (-qb - np.sqrt(np.maximum(h, 0))) / np.where(ok, qa, 1.0), 0.0)
    y = baoa_ + tc * bard                         # hit position along the segment
    t = np.minimum(t, np.where(ok & (y > 0) & (y < baba_), tc, np.inf))
    t = np.where(inside & (t > 0), t, np.inf)

    k, iy, ix = np.nonzero(np.isfinite(t))
    tz = t[k, iy, ix]
    pix = vv[k, iy] * width + uu[k, ix]
    front = tz < depth.reshape(-1)[pix]
    k, iy, ix, tz, pix = k[front], iy[front], ix[front], tz[front], pix[front]
    if not len(pix):
        return
    order = np.lexsort((tz, pix))                 # per pixel, nearest first
    first = np.ones(len(order), bool)
    first[1:] = pix[order[1:]] != pix[order[:-1]]
    sel = order[first]
    k, tz, pix = k[sel], tz[sel], pix[sel]
    p = np.stack([dx[k, 0, ix[sel]] * tz, dy[k, iy[sel], 0] * tz, tz], -1)   # (P, 3) mm
    s = np.clip(((p - a[k]) * ba[k]).sum(-1) / np.maximum(baba[k], 1e-9), 0, 1)
    n = (p - a[k] - s[:, None] * ba[k]) / r[k, None]
    lam = np.maximum(n @ light, 0.0)
    image.reshape(-1, 3)[pix] = colors[k] * (ambient + (1 - ambient) * lam)[:, None]
    depth.reshape(-1)[pix] = tz


def _shade_into(image, depth, box, dx, dy, t, color, light, ambient, normal_fn,
                color_fn=None) -> None:
    """Write Lambert-shaded colour where the hit depth ``t`` (h, w) beats the depth buffer."""
    u0, u1, v0, v1 = box
    win = depth[v0:v1, u0:u1]
    new = (t < win) & (t > 0)
    if not new.any():
        return
    iy, ix = np.nonzero(new)
    tz = t[iy, ix]
    px, py, pz = dx[0, ix] * tz, dy[iy, 0] * tz, tz
    nx, ny, nz = normal_fn(px, py, pz)
    lam = np.maximum(nx * light[0] + ny * light[1] + nz * light[2], 0.0)
    shade = (ambient + (1 - ambient) * lam)[:, None]
    col = color_fn(px, py, pz) if color_fn is not None else np.asarray(color)[None, :]
    image[v0 + iy, u0 + ix] = col * shade
    win[iy, ix] = tz


def draw_ellipsoid(image: np.ndarray, depth: np.ndarray, center: np.ndarray,
                   axes: np.ndarray, semi: np.ndarray, f: np.ndarray, c: np.ndarray,
                   light: np.ndarray, ambient: float, color_fn) -> None:
    """Ray-cast one ellipsoid into an image in place (nearest surface wins).

    Args:
        image, depth: as in :func:`draw_capsules`.
        center: (3,) camera-frame centre, mm.
        axes: (3, 3) columns = unit axis directions (lateral, up, forward), camera frame.
        semi: (3,) semi-axis lengths along them, mm.
        color_fn: (local (P, 3) unit-sphere coordinates along ``axes``) -> (P, 3) RGB.
    """
    size = image.shape[0]
    box = _box(center[None], float(semi.max()), f, c, size)
    if box is None:
        return
    dx, dy = _rays(box, f, c)
    m = axes.T / semi[:, None]                      # camera offset -> unit-sphere coords
    o = -m @ center                                 # the camera centre, in those coords
    dl = [dx * m[i, 0] + dy * m[i, 1] + m[i, 2] for i in range(3)]
    qa = dl[0] ** 2 + dl[1] ** 2 + dl[2] ** 2
    qb = dl[0] * o[0] + dl[1] * o[1] + dl[2] * o[2]
    h = qb * qb - qa * (o @ o - 1.0)
    t = np.where(h >= 0, (-qb - np.sqrt(np.maximum(h, 0))) / qa, np.inf)

    def local(px, py, pz):
        return (np.stack([px, py, pz], -1) - center) @ m.T

    def normal(px, py, pz):
        n = local(px, py, pz) @ m                   # gradient of |m (p - center)|^2 / 2
        n /= np.linalg.norm(n, axis=-1, keepdims=True)
        return n[:, 0], n[:, 1], n[:, 2]

    _shade_into(image, depth, box, dx, dy, t, None, light, ambient, normal,
                lambda px, py, pz: color_fn(local(px, py, pz)))


# ------------------------------------------------------------------------------- body
def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _frame(up: np.ndarray, lateral: np.ndarray) -> np.ndarray:
    """(3, 3) columns (left, up, forward) from an up vector and a rough right-to-left
    vector; forward = left x up, which is the body's facing direction for any proper pose."""
    up = _unit(up)
    left = _unit(lateral - (lateral @ up) * up)
    return np.stack([left, up, np.cross(left, up)], 1)


def render_camera_frame(joints: np.ndarray, f: np.ndarray, c: np.ndarray,
                        background: np.ndarray, appearance: Appearance
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Draw a body over a background.

    Args:
        joints: (17, 3) camera-frame H36M17 joints, mm, all in front of the camera.
        f, c: (2,) focal length and principal point, px.
        background: (S, S, 3) float RGB 0-255 (not modified).
        appearance: colours, thickness and light.
    Returns:
        ``(image, depth)``: (S, S, 3) uint8 and (S, S) float32 depth in mm (inf off-body).
    """
    j = np.asarray(joints, np.float64)
    size = background.shape[0]
    img = np.array(background, np.float32)
    depth = np.full((size, size), np.inf, np.float32)
    col, sc = appearance.colors, appearance.radius_scale
    light, amb = np.asarray(appearance.light, np.float64), appearance.ambient

    up = j[_J["Thorax"]] - j[_J["Hip"]]
    torso = _frame(up, j[_J["LShoulder"]] - j[_J["RShoulder"]]
                   + j[_J["LHip"]] - j[_J["RHip"]])
    fwd = torso[:, 2]

    a, b, r, colors = [], [], [], []
    for name, ja, jb, rad, part in _LIMBS:
        a.append(j[_J[ja]])
        b.append(j[_J[jb]])
        r.append(rad * sc[name])
        colors.append(col[part])
    # Neck: from the thorax most of the way to the nose joint.
    a.append(j[_J["Thorax"]])
    b.append(j[_J["Thorax"]] + 0.6 * (j[_J["Neck/Nose"]] - j[_J["Thorax"]]))
    r.append(45.0 * sc["neck"])
    colors.append(col["skin"])
    for side in ("L", "R"):
        wrist, elbow = j[_J[f"{side}Wrist"]], j[_J[f"{side}Elbow"]]
        hand_dir = _unit(wrist - elbow)
        a.append(wrist + 20 * hand_dir)
        b.append(wrist + 80 * hand_dir)
        r.append(33.0 * sc["hands"])
        colors.append(col["skin"])
        ankle, knee = j[_J[f"{side}Foot"]], j[_J[f"{side}Knee"]]
        shin = _unit(ankle - knee)
        toe = _unit(fwd - (fwd @ shin) * shin)      # the foot points forward, across the shin
        heel = ankle + 45 * shin - 30 * toe
        a.append(heel)
        b.append(heel + 160 * toe)
        r.append(38.0 * sc["feet"])
        colors.append(col["shoes"])
    draw_capsules(img, depth, np.array(a), np.array(b), np.array(r), np.array(colors), f, c,
                  light, amb)

    # Torso: an abdomen/pelvis and a chest ellipsoid, each turned with its own body part.
    ts = sc["torso"]
    hip, spine, thorax = j[_J["Hip"]], j[_J["Spine"]], j[_J["Thorax"]]
    hip_w = np.linalg.norm(j[_J["LHip"]] - j[_J["RHip"]])
    sh_w = np.linalg.norm(j[_J["LShoulder"]] - j[_J["RShoulder"]])
    shirt = np.asarray(col["shirt"], np.float64)
    stripes = appearance.stripes

    pants = np.asarray(col["pants"], np.float64)

    def shirt_color(loc):
        if stripes is None:
            return np.broadcast_to(shirt, loc.shape)
        on = np.sin(2 * np.pi * loc[:, 1:2] / stripes[0]) > 0
        return np.where(on, shirt, np.asarray(stripes[1], np.float64))

    def waist_color(loc):
        # Trousers up to just below the navel, the shirt above.
        return np.where(loc[:, 1:2] < -0.15, pants, shirt_color(loc))

    pelvis = _frame(spine - hip, j[_J["LHip"]] - j[_J["RHip"]])
    draw_ellipsoid(img, depth, hip + 0.45 * (spine - hip), pelvis,
                   np.array([0.5 * hip_w + 25, 0.75 * np.linalg.norm(spine - hip) + 20,
                             90.0]) * ts, f, c, light, amb, waist_color)
    chest = _frame(thorax - spine, j[_J["LShoulder"]] - j[_J["RShoulder"]])
    draw_ellipsoid(img, depth, spine + 0.5 * (thorax - spine), chest,
                   np.array([0.42 * sh_w + 25, 0.62 * np.linalg.norm(thorax - spine) + 10,
                             105.0]) * ts, f, c, light, amb, shirt_color)

    # Head: face side skin, back and crown hair, so the facing direction shows.
    nose, top = j[_J["Neck/Nose"]], j[_J["Head"]]
    head_up = _unit(top - thorax)
    head = _frame(head_up, np.cross(head_up, nose - thorax))   # forward: towards the nose
    skin, hair = np.asarray(col["skin"], np.float64), np.asarray(col["hair"], np.float64)

    def head_color(loc):
        face = (loc[:, 2:3] > -0.1) & (loc[:, 1:2] < 0.45)
        return np.where(face, skin, hair)

    hs = sc["head"]
    draw_ellipsoid(img, depth, (nose + top) / 2 - 45 * head[:, 2], head,
                   np.array([78.0, 108.0, 98.0]) * hs, f, c, light, amb, head_color)
    return np.clip(img, 0, 255).astype(np.uint8), depth


def render_pose(pose: np.ndarray, rng: np.random.Generator | int | None = None,
                size: int = 128, style: str = "lab", camera: Camera | None = None,
                appearance: Appearance | None = None,
                background: np.ndarray | None = None) -> Render:
    """Render one canonical-frame pose through a random (or given) camera.

    Args:
        pose: (17, 3) H36M17 pose, mm, canonical body frame (as in
            :class:`wildpose.mocap.sources.MocapPoses`); it is root-centred here.
        rng: a generator or seed for the random camera, appearance and background.
        size: image side, px (64-128 intended; any size >= 16 works).
        style: "lab" or "wild".
        camera: a distortion-free camera (``X_cam = R X - R T``) to use instead of a
            random one; its ``c`` should be the image centre for mirror symmetry.
        appearance, background: to use instead of random ones ((size, size, 3) float RGB).
    Returns:
        :class:`Render`.
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}: use one of {', '.join(STYLES)}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    pose = np.asarray(pose, np.float64)
    if pose.shape != (17, 3) or not np.isfinite(pose).all():
        raise ValueError(f"expected one finite (17, 3) H36M17 pose in mm, got shape "
                         f"{pose.shape}")
    pose = pose - pose[H36M17.root]
    cam = camera if camera is not None else sample_camera(pose, size, rng, style)
    app = appearance if appearance is not None else sample_appearance(rng, style)
    bg = background if background is not None else make_background(size, rng, style)
    R = np.asarray(cam.R, np.float64)
    t = -R @ np.asarray(cam.T, np.float64)
    joints = pose @ R.T + t
    if (joints[:, 2] <= 0).any():
        raise ValueError("part of the body is behind the camera")
    f, c = np.asarray(cam.f, np.float64), np.asarray(cam.c, np.float64)
    image, depth = render_camera_frame(joints, f, c, bg, app)
    uv = camera_to_pixels(joints, f, c, distortion=False)
    visible = ((uv >= -0.5) & (uv < size - 0.5)).all(-1) & (joints[:, 2] > 0)
    return Render(image, uv.astype(np.float32), joints.astype(np.float32), visible,
                  np.isfinite(depth), cam, t)


# ------------------------------------------------------------------------------- dataset
@dataclass
class SyntheticPoseDataset:
    """Images rendered on the fly from mocap poses; sample i is a pure function of
    ``(seed, i)``, so nothing but the poses is held in memory.

    Attributes:
        poses: (N, 17, 3) canonical-frame H36M17 poses, mm (``MocapPoses.poses``).
        style: "lab" or "wild".
        size: image side, px.
        seed: base seed.
        keep_3d: False withholds the 3D labels (``joints_3d`` all NaN), as for 2D-only data.
        length: number of samples (default: one per pose); sample i shows pose ``i % N``.
        name: a label for logs and files.
    """

    poses: np.ndarray
    style: str = "lab"
    size: int = 128
    seed: int = 0
    keep_3d: bool = True
    length: int | None = None
    name: str = "synthetic"
    _poses: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"unknown style {self.style!r}: use one of {', '.join(STYLES)}")
        p = np.asarray(getattr(self.poses, "poses", self.poses), np.float32)
        if p.ndim != 3 or p.shape[1:] != (17, 3) or len(p) == 0:
            raise ValueError(f"{self.name}: expected poses of shape (N, 17, 3) mm in H36M17 "
                             f"order, got {p.shape}")
        self._poses = p

    def __len__(self) -> int:
        return len(self._poses) if self.length is None else int(self.length)

    def render(self, i: int) -> Render:
        """The full :class:`Render` of sample i (3D kept or withheld as configured)."""
        if not 0 <= i < len(self):
            raise IndexError(f"{self.name}: sample {i} out of range 0..{len(self) - 1}")
        rng = np.random.default_rng([int(self.seed), int(i)])
        out = render_pose(self._poses[i % len(self._poses)], rng, self.size, self.style)
        if not self.keep_3d:
            out.joints_3d = np.full_like(out.joints_3d, np.nan)
        return out

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        """Sample i as arrays: ``image`` (S, S, 3) uint8, ``joints_2d`` (17, 2) float32 px,
        ``joints_3d`` (17, 3) float32 camera mm (NaN if withheld), ``visible`` (17,) bool,
        ``f``, ``c`` (2,) float32 px, ``R`` (3, 3), ``t`` (3,) mm float32, ``has_3d``."""
        r = self.render(int(i))
        return {"image": r.image, "joints_2d": r.joints_2d, "joints_3d": r.joints_3d,
                "visible": r.visible, "f": r.camera.f.astype(np.float32),
                "c": r.camera.c.astype(np.float32), "R": r.camera.R.astype(np.float32),
                "t": r.t.astype(np.float32), "has_3d": np.bool_(self.keep_3d)}


_ARRAY_KEYS = ("image", "joints_2d", "joints_3d", "visible", "f", "c", "R", "t")


def prerender(dataset: SyntheticPoseDataset, path: str | os.PathLike, n: int | None = None,
              chunk: int = 1000, progress: bool = True) -> Path:
    """Render samples 0..n-1 of a dataset into one ``.npz``.

    Chunks are written to ``<path>.parts/`` as they finish, so an interrupted run resumes
    where it stopped when called again with the same dataset settings; the chunk folder is
    removed once the ``.npz`` is complete.

    The file holds ``image`` (n, S, S, 3) uint8, ``joints_2d`` (n, 17, 2) float32 px,
    ``joints_3d`` (n, 17, 3) float32 camera mm (NaN where withheld), ``visible`` (n, 17)
    bool, ``f``/``c`` (n, 2), ``R`` (n, 3, 3), ``t`` (n, 3) float32, ``pose_index`` (n,)
    int64, ``has_3d`` (n,) bool, and ``style``, ``size``, ``seed`` scalars.

    Returns:
        the path of the ``.npz``.
    """
    n = len(dataset) if n is None else int(n)
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(".npz")
    parts = path.with_name(path.name + ".parts")
    settings = {"style": dataset.style, "size": dataset.size, "seed": dataset.seed,
                "keep_3d": dataset.keep_3d, "n": n, "chunk": chunk,
                "poses": len(dataset._poses),
                "pose_sum": float(np.float64(dataset._poses.sum()).round(3))}

    def render_rows(start: int, stop: int) -> dict[str, np.ndarray]:
        rows = [dataset[i] for i in range(start, stop)]
        return {k: np.stack([r[k] for r in rows]) for k in _ARRAY_KEYS}

    files = write_chunks(parts, settings, n, chunk, render_rows, f"render {dataset.name}",
                         progress)
    arrays = {k: [] for k in _ARRAY_KEYS}
    for part in files:
        with np.load(part) as z:
            for k in _ARRAY_KEYS:
                arrays[k].append(z[k])
    out = {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in arrays.items()}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **out, pose_index=np.arange(n) % len(dataset._poses),
             has_3d=np.full(n, dataset.keep_3d), style=dataset.style, size=dataset.size,
             seed=dataset.seed)
    os.replace(tmp, path)
    for p in parts.iterdir():
        p.unlink()
    parts.rmdir()
    return path


# ------------------------------------------------------------------------------- splits
def _require_dir(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path} does not exist")
    return path


def build_splits(data_root: str | os.PathLike, size: int = 128, seed: int = 0,
                 stride: int = 1, actions: Sequence[str] | None = None,
                 cmu: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
                 include_cmu: bool = True) -> dict[str, SyntheticPoseDataset]:
    """The three renders of Zhou et al.'s weak-supervision setting, from mocap.

    * ``"lab"``: Human3.6M S1, S5, S6 poses, lab style, 3D kept;
    * ``"wild"``: Human3.6M S7, S8 and CMU BVH poses, wild style, 3D withheld (NaN);
    * ``"test"``: Human3.6M S9, S11 poses, wild style, 3D kept for scoring.

    Args:
        data_root: the shared data folder holding ``h36m/`` and ``cmu-mocap/`` (or the
            ``h36m`` folder itself, with ``cmu`` given).
        size: image side, px; seed: base seed (each split gets its own stream).
        stride, actions: passed to :func:`wildpose.mocap.sources.load_h36m_mocap`.
        cmu: BVH files or folders (default ``<data_root>/cmu-mocap``).
        include_cmu: False leaves CMU out of the wild split.
    Raises:
        FileNotFoundError: a one-line message naming a missing data folder.
    """
    root = _require_dir(Path(data_root), "data folder")
    h36m = root / "h36m" if (root / "h36m").is_dir() else root
    if not (h36m / "cameras.h5").is_file():
        raise FileNotFoundError(f"Human3.6M data not found: {h36m} has no cameras.h5")
    wild = [load_h36m_mocap(h36m, WILD_SUBJECTS, stride, actions=actions)]
    if include_cmu:
        sources = [root / "cmu-mocap"] if cmu is None else (
            [cmu] if isinstance(cmu, (str, os.PathLike)) else list(cmu))
        for s in sources:
            _require_dir(Path(s), "CMU BVH mocap")
        wild.append(load_bvh_mocap(sources, stride=stride))
    lab = load_h36m_mocap(h36m, LAB_SUBJECTS, stride, actions=actions)
    test = load_h36m_mocap(h36m, TEST_SUBJECTS, stride, actions=actions)
    return {
        "lab": SyntheticPoseDataset(lab.poses, "lab", size, seed * 3 + 0, True, name="lab"),
        "wild": SyntheticPoseDataset(concatenate(wild).poses, "wild", size, seed * 3 + 1,
                                     False, name="wild"),
        "test": SyntheticPoseDataset(test.poses, "wild", size, seed * 3 + 2, True,
                                     name="test"),
    }
