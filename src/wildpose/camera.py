"""Camera models: Human3.6M's full pinhole camera with distortion, weak perspective, and
scaled orthographic projection.

Every function is pure and batched, and accepts numpy arrays or torch tensors alike (it uses
only operators both share), so the same code scores numpy predictions and backpropagates
through torch losses.  Shapes are written ``(..., J, 3)``: any leading batch dimensions, J
points.  Per-camera parameters broadcast against the points' leading dimensions, so a single
camera (``R`` of shape (3, 3)) serves a whole batch and a batch of cameras (``R`` of shape
(B, 3, 3)) serves a batch of poses (B, J, 3).

Conventions (those of Human3.6M and 3d-pose-baseline):
    world -> camera:  X_cam = R (X_world - T), with T the camera centre in world mm;
    camera -> pixels: x = X/Z, y = Y/Z, then radial (k1, k2, k3) and tangential (p1, p2)
    distortion as in Human3.6M's own ``ProjectPointRadial``, then u = f * x_d + c.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .geometry import _is_torch, rotation_from_euler

Array = Any  # numpy.ndarray or torch.Tensor

__all__ = [
    "Camera",
    "world_to_camera",
    "camera_to_world",
    "distort",
    "undistort",
    "camera_to_pixels",
    "pixels_to_normalized",
    "scaled_orthographic_project",
    "virtual_camera_view",
    "DEFAULT_FOV_DEGREES",
    "default_focal_length",
    "image_center",
    "fit_root_translation",
]


def _swap(a: Array) -> Array:
    """Transpose the last two axes of a numpy array or torch tensor."""
    return a.transpose(-1, -2) if _is_torch(a) else np.swapaxes(a, -1, -2)


def _unsq(a: Array, n: int = 1) -> Array:
    """Insert ``n`` axes before the last one: per-camera (..., C) -> per-point (..., 1, C)."""
    for _ in range(n):
        a = a[..., None, :]
    return a


@dataclass(frozen=True)
class Camera:
    """One calibrated camera (Human3.6M's model).

    Attributes:
        R: (3, 3) world-to-camera rotation.
        T: (3,) camera centre in world coordinates, mm.
        f: (2,) focal lengths, pixels.
        c: (2,) principal point, pixels.
        k: (3,) radial distortion k1, k2, k3.
        p: (2,) tangential distortion p1, p2.
        name: camera id, e.g. "54138969".
        width, height: image size in pixels.
    """

    R: np.ndarray
    T: np.ndarray
    f: np.ndarray
    c: np.ndarray
    k: np.ndarray
    p: np.ndarray
    name: str = ""
    width: int = 1000
    height: int = 1000

    def world_to_camera(self, points: Array) -> Array:
        return world_to_camera(points, _like(self.R, points), _like(self.T, points))

    def project(self, points_cam: Array, distortion: bool = True) -> Array:
        """(..., J, 3) camera-frame mm -> (..., J, 2) pixels."""
        return camera_to_pixels(points_cam, *(_like(a, points_cam) for a in
                                              (self.f, self.c, self.k, self.p)),
                                distortion=distortion)

    def world_to_pixels(self, points: Array, distortion: bool = True) -> Array:
        """(..., J, 3) world mm -> (..., J, 2) pixels."""
        return self.project(self.world_to_camera(points), distortion)


def _like(a: np.ndarray, ref: Array) -> Array:
    """``a`` as the same kind (numpy or torch, dtype, device) as ``ref``."""
    if _is_torch(ref):
        import torch  # only with torch input: numpy callers never import torch

        return torch.as_tensor(np.asarray(a), dtype=ref.dtype, device=ref.device)
    return np.asarray(a, dtype=ref.dtype if np.issubdtype(ref.dtype, np.floating) else None)


def world_to_camera(points: Array, R: Array, T: Array) -> Array:
    """World to camera coordinates, X_cam = R (X - T).

    Args:
        points: (..., J, 3) world coordinates, mm.
        R: (..., 3, 3) rotations; T: (..., 3) camera centres, mm.
    Returns:
        (..., J, 3) camera coordinates, mm (Z along the optical axis).
    """
    return (points - _unsq(T)) @ _swap(R)


def camera_to_world(points: Array, R: Array, T: Array) -> Array:
    """Inverse of :func:`world_to_camera`: X = R^T X_cam + T.  Shapes as there."""
    return points @ R + _unsq(T)


def distort(xy: Array, k: Array, p: Array) -> Array:
    """Apply Human3.6M's lens distortion to normalized image coordinates.

    Args:
        xy: (..., J, 2) normalized coordinates (X/Z, Y/Z), unitless.
        k: (..., 3) radial k1, k2, k3; p: (..., 2) tangential p1, p2.
    Returns:
        (..., J, 2) distorted normalized coordinates.
    """
    factor, shift = _distortion_terms(xy, k, p)
    return xy * factor + shift


def _distortion_terms(xy: Array, k: Array, p: Array) -> tuple[Array, Array]:
    """``(factor, shift)`` of :func:`distort` at ``xy``: distorted = xy * factor + shift."""
    k, p = _unsq(k), _unsq(p)
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1 + k[..., 0] * r2 + k[..., 1] * r2 ** 2 + k[..., 2] * r2 ** 3
    # Human3.6M's ProjectPointRadial folds the tangential term into a common factor.
    tan = p[..., 0] * y + p[..., 1] * x
    return (radial + tan)[..., None], r2[..., None] * _stack_last(p[..., 1], p[..., 0], ref=xy)


def _stack_last(*arrays: Array, ref: Array) -> Array:
    """``arrays`` broadcast against each other and stacked along a new last axis."""
    if _is_torch(ref):
        import torch  # only with torch input: numpy callers never import torch

        return torch.stack(torch.broadcast_tensors(*arrays), -1)
    return np.stack(np.broadcast_arrays(*arrays), -1)


def undistort(xy_d: Array, k: Array, p: Array, iterations: int = 20) -> Array:
    """Invert :func:`distort` by fixed-point iteration (exact to ~1e-9 for real lenses).

    Args:
        xy_d: (..., J, 2) distorted normalized coordinates.
        k, p: as in :func:`distort`.
    Returns:
        (..., J, 2) undistorted normalized coordinates.
    """
    xy = xy_d
    for _ in range(iterations):
        # distort(xy) = xy * factor + shift  =>  xy = (xy_d - shift) / factor
        factor, shift = _distortion_terms(xy, k, p)
        xy = (xy_d - shift) / factor
    return xy


def camera_to_pixels(points: Array, f: Array, c: Array, k: Array | None = None,
                     p: Array | None = None, distortion: bool = True) -> Array:
    """Perspective projection of camera-frame points to pixels.

    Args:
        points: (..., J, 3) camera coordinates, mm, Z > 0.
        f: (..., 2) focal lengths, pixels; c: (..., 2) principal point, pixels.
        k, p: (..., 3) radial and (..., 2) tangential distortion, used when ``distortion``.
    Returns:
        (..., J, 2) pixel coordinates.
    """
    xy = points[..., :2] / points[..., 2:3]
    if distortion and k is not None and p is not None:
        xy = distort(xy, k, p)
    return xy * _unsq(f) + _unsq(c)


def pixels_to_normalized(pixels: Array, f: Array, c: Array, k: Array | None = None,
                         p: Array | None = None, distortion: bool = True) -> Array:
    """Pixels to undistorted normalized coordinates (X/Z, Y/Z): the inverse of
    :func:`camera_to_pixels` up to depth.  Shapes as there, output (..., J, 2)."""
    xy = (pixels - _unsq(c)) / _unsq(f)
    if distortion and k is not None and p is not None:
        xy = undistort(xy, k, p)
    return xy


def scaled_orthographic_project(points: Array, scale: Array,
                                translation: Array | None = None,
                                rotation: Array | None = None) -> Array:
    """Scaled orthographic projection: x = s * (R X)_xy + t.

    Args:
        points: (..., J, 3) points (any length unit).
        scale: (...,) scale s (output units per input unit).
        translation: (..., 2) offset t in output units, or None for zero.
        rotation: (..., 3, 3) rotation applied first, or None for the identity.
    Returns:
        (..., J, 2) projected points.
    """
    if rotation is not None:
        points = points @ _swap(rotation)
    out = points[..., :2] * scale[..., None, None]
    if translation is not None:
        out = out + _unsq(translation)
    return out


def virtual_camera_view(poses: Array, azimuth_deg: Array | float, elevation_deg: Array | float,
                        roll_deg: Array | float = 0.0, distance_mm: Array | float = 5000.0,
                        focal_px: Array | float = 1000.0, center_px: Array | None = None,
                        offset_mm: Array | None = None) -> tuple[Array, Array]:
    """A pose seen by a virtual pinhole camera orbiting it (no distortion).

    The camera looks at the pose's root from ``distance_mm`` away, at ``azimuth_deg`` about
    the vertical and ``elevation_deg`` above the horizon (positive: from above, looking
    down), turned by ``roll_deg`` about its optical axis (angles as in
    :func:`wildpose.geometry.rotation_from_euler`).  ``offset_mm`` moves the person across
    the view (camera x, y) so that they are seen off-centre, as in a wide photo.

    Args:
        poses: (..., J, 3) mm in the canonical body frame of :mod:`wildpose.mocap.sources`
            (x = the subject's left, y down, the subject facing -z), root at index 0.
        azimuth_deg, elevation_deg, roll_deg, distance_mm, focal_px: floats or (...,) arrays
            (degrees, mm, pixels).
        center_px: (..., 2) principal point, pixels (default 0, 0).
        offset_mm: (..., 2) the root's position across the view, camera x, y in mm.
    Returns:
        ``(points_cam, pixels)``: (..., J, 3) camera-frame mm (z > 0 in front of the camera;
        the root at (offset, distance)) and (..., J, 2) pixels.
    """
    if _is_torch(poses):
        import torch  # only reached with torch inputs

        def arr(v: Any) -> Any:
            return torch.as_tensor(v, dtype=poses.dtype, device=poses.device)
        deg2rad = torch.deg2rad
    else:
        poses = np.asarray(poses, np.float64)

        def arr(v: Any) -> Any:
            return np.asarray(v, np.float64)
        deg2rad = np.deg2rad
    rot = rotation_from_euler(deg2rad(arr(azimuth_deg)), deg2rad(arr(elevation_deg)),
                              deg2rad(arr(roll_deg)))
    cam = (poses - poses[..., :1, :]) @ _swap(rot)
    off = arr(0.0 if offset_mm is None else offset_mm)
    sx, sy = (off, off) if off.ndim == 0 else (off[..., 0], off[..., 1])
    cam = cam + _stack_last(sx, sy, arr(distance_mm), ref=cam)[..., None, :]
    f = arr(focal_px)[..., None, None]
    c = arr(0.0 if center_px is None else center_px)
    pixels = cam[..., :2] / cam[..., 2:3] * f + (c if c.ndim == 0 else c[..., None, :])
    return cam, pixels

# ------------------------------------------------------------------- placing a pose in a photo

#: Field of view assumed across the image's longer side when no focal length is given.
DEFAULT_FOV_DEGREES = 55.0


def default_focal_length(width: int, height: int,
                         fov_degrees: float = DEFAULT_FOV_DEGREES) -> float:
    """Focal length in pixels for a field of view of ``fov_degrees`` across the longer side."""
    return 0.5 * max(width, height) / math.tan(math.radians(fov_degrees) / 2)


def image_center(width: int, height: int) -> np.ndarray:
    """Principal point at the image centre, in wildpose's pixel-centre convention."""
    return np.array([(width - 1) / 2.0, (height - 1) / 2.0])


def fit_root_translation(pose_3d: Any, keypoints_2d: Any, focal_length: float | Any,
                         center: Any, weights: Any = None, min_joints: int = 3,
                         iterations: int = 5) -> np.ndarray | None:
    """The translation t placing a root-relative 3D pose so that its perspective projection
    best matches 2D keypoints.

    Minimizes sum_j w_j |camera_to_pixels(P_j + t, f, c) - u_j|^2: a linear least-squares
    start (the projection equations multiplied out by depth, which is exact for noise-free
    keypoints) refined by Gauss-Newton on the reprojection error.

    Args:
        pose_3d: (J, 3) mm, camera axes, root-relative (or any origin: t is added to it).
        keypoints_2d: (J, 2) pixels.
        focal_length: f in pixels, a scalar or (fx, fy).
        center: (2,) principal point, pixels.
        weights: optional (J,) non-negative joint weights; 0 (or a non-finite input) leaves a
            joint out.
        min_joints: fewer usable joints -> None.
    Returns:
        (3,) float64 translation in mm, or None if it cannot be fitted (too few joints, a
        degenerate configuration, or the pose ends up behind the camera).
    """
    P = np.asarray(pose_3d, np.float64)
    uv = np.asarray(keypoints_2d, np.float64)
    f = np.broadcast_to(np.asarray(focal_length, np.float64), (2,))
    c = np.asarray(center, np.float64)
    w = np.ones(len(P)) if weights is None else np.asarray(weights, np.float64).copy()
    ok = np.isfinite(P).all(1) & np.isfinite(uv).all(1) & np.isfinite(w) & (w > 0)
    if ok.sum() < min_joints:
        return None
    P, uv, w = P[ok], uv[ok], w[ok]
    a = (uv - c) / f                                    # normalized image coordinates
    # x: tx - a_x tz = a_x Z - X ;  y: ty - a_y tz = a_y Z - Y
    n = len(P)
    A = np.zeros((2 * n, 3))
    A[:n, 0] = 1.0
    A[n:, 1] = 1.0
    A[:n, 2] = -a[:, 0]
    A[n:, 2] = -a[:, 1]
    b = np.concatenate([a[:, 0] * P[:, 2] - P[:, 0], a[:, 1] * P[:, 2] - P[:, 1]])
    sw = np.sqrt(np.concatenate([w, w]))
    try:
        t, *_ = np.linalg.lstsq(A * sw[:, None], b * sw, rcond=None)
    except np.linalg.LinAlgError:
        return None
    if not np.isfinite(t).all():
        return None
    for _ in range(iterations):                       # Gauss-Newton on pixels
        Q = P + t
        z = Q[:, 2]
        if (z <= 1.0).any():
            break
        r = (camera_to_pixels(Q, f, c, distortion=False) - uv).T.reshape(-1)   # x.., y..
        J = np.zeros((2 * n, 3))
        J[:n, 0] = f[0] / z
        J[:n, 2] = -f[0] * Q[:, 0] / z ** 2
        J[n:, 1] = f[1] / z
        J[n:, 2] = -f[1] * Q[:, 1] / z ** 2
        try:
            step, *_ = np.linalg.lstsq(J * sw[:, None], -r * sw, rcond=None)
        except np.linalg.LinAlgError:
            break
        t = t + step
        if np.abs(step).max() < 1e-6:
            break
    if not np.isfinite(t).all() or ((P + t)[:, 2] <= 1.0).any():
        return None
    return t
