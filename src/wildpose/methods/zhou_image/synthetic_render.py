"""Ray-cast drawing of a body (:mod:`.synthetic`): shaded capsules for the limbs and
ellipsoids for the head and torso, with an exact per-pixel depth buffer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...camera import Camera, camera_to_pixels
from ...skeleton import H36M17
from .synthetic_scene import (_LIMBS, STYLES, Appearance, make_background, sample_appearance,
                              sample_camera)

__all__ = ["Render", "draw_capsules", "draw_ellipsoid", "render_camera_frame", "render_pose"]


_J = {name: i for i, name in enumerate(H36M17.joints)}


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


def _shade_into(image, depth, box, dx, dy, t, light, ambient, normal_fn, color_fn) -> None:
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
    image[v0 + iy, u0 + ix] = color_fn(px, py, pz) * shade
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
    # Ray directions (dx (1, w), dy (h, 1), 1) of the box's pixels: a hit's ray parameter
    # is its depth Z in mm.
    dx = ((np.arange(box[0], box[1]) - c[0]) / f[0])[None, :]
    dy = ((np.arange(box[2], box[3]) - c[1]) / f[1])[:, None]
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

    _shade_into(image, depth, box, dx, dy, t, light, ambient, normal,
                lambda px, py, pz: color_fn(local(px, py, pz)))


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

    # (end a, end b, radius, colour) of every capsule; the neck runs from the thorax most of
    # the way to the nose joint.
    caps = [(j[_J[ja]], j[_J[jb]], rad * sc[name], col[part])
            for name, ja, jb, rad, part in _LIMBS]
    caps.append((j[_J["Thorax"]], j[_J["Thorax"]] + 0.6 * (j[_J["Neck/Nose"]] - j[_J["Thorax"]]),
                 45.0 * sc["neck"], col["skin"]))
    for side in ("L", "R"):
        wrist, elbow = j[_J[f"{side}Wrist"]], j[_J[f"{side}Elbow"]]
        hand_dir = _unit(wrist - elbow)
        caps.append((wrist + 20 * hand_dir, wrist + 80 * hand_dir, 33.0 * sc["hands"],
                     col["skin"]))
        ankle, knee = j[_J[f"{side}Foot"]], j[_J[f"{side}Knee"]]
        shin = _unit(ankle - knee)
        toe = _unit(fwd - (fwd @ shin) * shin)      # the foot points forward, across the shin
        heel = ankle + 45 * shin - 30 * toe
        caps.append((heel, heel + 160 * toe, 38.0 * sc["feet"], col["shoes"]))
    draw_capsules(img, depth, *map(np.array, zip(*caps)), f, c, light, amb)

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
