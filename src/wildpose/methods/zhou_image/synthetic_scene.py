"""The scene of a synthetic render (:mod:`.synthetic`): its random pinhole camera framing the
body, the body's clothes and skin colours, and the background."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...camera import Camera
from ...geometry import rotation_from_euler
from ...skeleton import H36M17

__all__ = ["STYLES", "Appearance", "pinhole_camera", "sample_camera", "sample_appearance",
           "make_background"]


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


STYLES = ("lab", "wild")


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
