"""Batched rigid and similarity geometry: Procrustes alignment, scale alignment, rotations.

Every function is pure and batched over leading dimensions, and accepts numpy arrays or torch
tensors alike.  Shapes are written ``(..., J, 3)``: any leading batch dimensions, J points.
Positions are in millimetres throughout wildpose, but nothing here depends on the unit: outputs
carry the unit of the inputs.  Angles are in radians.

Conventions: a rotation ``R`` (3, 3) acts on column vectors, ``x' = R x``; on the row-vector
arrays used for poses that is ``pose @ R.T``.  A similarity transform ``(R, s, t)`` maps a
point ``x`` to ``s R x + t``.

numpy inputs are computed in float64 and returned in the inputs' float dtype (float32 inputs
give float32 outputs); torch inputs stay in their own dtype and device and remain
differentiable.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .skeleton import H36M17

Array = Any  # numpy.ndarray or torch.Tensor

__all__ = [
    "weak_perspective_scale",
    "depth_targets",
    "procrustes_transform",
    "procrustes_align",
    "scale_align",
    "rotation_matrix",
    "rotation_from_euler",
]


def _is_torch(a: Any) -> bool:
    """True for a torch tensor, without importing torch.  (Not ``hasattr(a, "device")``:
    numpy >= 2 arrays have a ``device`` attribute too.)"""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(a, torch.Tensor)


def _prepare(pred: Array, target: Array, mask: Array | None):
    """Common casting for two point sets: (pred, target, weights, xp, output dtype).

    ``weights`` is 1.0 for joints used in a fit and 0.0 otherwise, shape (..., J).
    """
    if _is_torch(pred) or _is_torch(target):
        import torch  # only with torch input: numpy callers never import torch

        ref = pred if _is_torch(pred) else target
        dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
        p = torch.as_tensor(pred, dtype=dtype, device=ref.device)
        t = torch.as_tensor(target, dtype=dtype, device=ref.device)
        w = (torch.ones_like(p[..., 0]) if mask is None
             else torch.as_tensor(mask, device=ref.device).to(dtype))
        xp, out = torch, dtype
    else:
        out = np.result_type(np.asarray(pred).dtype, np.asarray(target).dtype, np.float32)
        p = np.asarray(pred, np.float64)
        t = np.asarray(target, np.float64)
        w = np.ones(p.shape[:-1]) if mask is None else np.asarray(mask, bool).astype(np.float64)
        xp = np
    if p.shape != t.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(p.shape)} vs {tuple(t.shape)}")
    if p.ndim < 2:
        raise ValueError(f"expected point sets of shape (..., J, D), got {tuple(p.shape)}")
    return p, t, w, xp, out


def _cast(a: Array, dtype: Any) -> Array:
    return a if _is_torch(a) else a.astype(dtype)


def _safe(x: Array, xp: Any) -> Array:
    """Replace zeros by ones in a denominator; the numerators are zero there too, so a
    degenerate fit (no joints, or all pred joints at one point) gives 0 rather than NaN."""
    return xp.where(x > 0, x, xp.ones_like(x))


def _procrustes(p: Array, t: Array, w: Array, xp: Any, scale: bool):
    """Umeyama on prepared arrays; see :func:`procrustes_transform`."""
    wj = w[..., None]
    n = _safe(w.sum(-1), xp)[..., None]
    mu_p = (wj * p).sum(-2) / n
    mu_t = (wj * t).sum(-2) / n
    p0, t0 = p - mu_p[..., None, :], t - mu_t[..., None, :]
    # Cross-covariance (unnormalized: the 1/n cancels in R and in s).
    cov = xp.swapaxes(wj * t0, -1, -2) @ p0
    u, sv, vh = xp.linalg.svd(cov, full_matrices=False)
    # If U V^T is a reflection, flip the axis of the smallest singular value: that is the
    # cheapest way to make the rotation proper (Umeyama's correction).
    one = xp.ones_like(sv[..., -1])
    d = xp.where(xp.linalg.det(u @ vh) < 0, -one, one)
    signs = xp.concatenate([xp.ones_like(sv[..., :-1]), d[..., None]], -1)
    rot = (u * signs[..., None, :]) @ vh
    if scale:
        s = (sv * signs).sum(-1) / _safe((wj * p0 ** 2).sum((-2, -1)), xp)
    else:
        s = one
    trans = mu_t - s[..., None] * (rot @ mu_p[..., None])[..., 0]
    return rot, s, trans


def procrustes_transform(pred: Array, target: Array, scale: bool = True,
                         mask: Array | None = None) -> tuple[Array, Array, Array]:
    """Least-squares similarity transform taking ``pred`` onto ``target`` (Umeyama, 1991).

    Minimizes ``sum_j mask_j * |s R pred_j + t - target_j|^2`` over proper rotations R
    (det R = +1: a mirror image is never "aligned" by reflecting it), scale s >= 0 and
    translation t.

    Args:
        pred, target: (..., J, 3) points, mm (any dimension D >= 2 works the same way).
        scale: fit the scale; if False, s = 1 (rigid alignment).
        mask: optional (..., J) boolean, the joints to fit on (default: all).
    Returns:
        ``(R, s, t)``: R (..., 3, 3), s (...,) unitless, t (..., 3) mm, such that the aligned
        points are ``s * pred @ R^T + t``.
    """
    p, t, w, xp, out = _prepare(pred, target, mask)
    return tuple(_cast(a, out) for a in _procrustes(p, t, w, xp, scale))


def procrustes_align(pred: Array, target: Array, scale: bool = True,
                     mask: Array | None = None) -> Array:
    """``pred`` moved onto ``target`` by the best similarity (or, with ``scale=False``, rigid)
    transform, see :func:`procrustes_transform`.

    Args:
        pred, target: (..., J, 3) points, mm.
        scale: also fit a uniform scale.
        mask: optional (..., J) boolean of joints to fit on; the transform is applied to all.
    Returns:
        (..., J, 3) aligned ``pred``, mm.
    """
    p, t, w, xp, out = _prepare(pred, target, mask)
    rot, s, trans = _procrustes(p, t, w, xp, scale)
    return _cast(s[..., None, None] * (p @ xp.swapaxes(rot, -1, -2)) + trans[..., None, :], out)


def scale_align(pred: Array, target: Array, mask: Array | None = None) -> Array:
    """``pred`` multiplied by the scale s minimizing ``sum_j mask_j * |s pred_j - target_j|^2``
    (no rotation, no translation: the poses are expected root-relative already), as used by
    N-MPJPE.

    Args:
        pred, target: (..., J, 3) root-relative points, mm.
        mask: optional (..., J) boolean of joints to fit on; the scale is applied to all.
    Returns:
        (..., J, 3) scaled ``pred``, mm (0 where ``pred`` is all zeros on the mask).
    """
    p, t, w, xp, out = _prepare(pred, target, mask)
    scale = (w * (p * t).sum(-1)).sum(-1) / _safe((w * (p * p).sum(-1)).sum(-1), xp)
    return _cast(scale[..., None, None] * p, out)


def rotation_matrix(axis_angle: Array) -> Array:
    """Rodrigues' formula: the rotation by angle ``|v|`` (radians) about the axis ``v/|v|``,
    counter-clockwise when the axis points at the viewer (right-hand rule).

    Args:
        axis_angle: (..., 3) rotation vectors, radians.
    Returns:
        (..., 3, 3) rotation matrices (the identity for a zero vector).
    """
    torch_in = _is_torch(axis_angle)
    v = axis_angle if torch_in else np.asarray(axis_angle, np.float64)
    xp = sys.modules["torch"] if torch_in else np
    if torch_in and not v.is_floating_point():
        v = v.to(xp.get_default_dtype())
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    zero = xp.zeros_like(x)
    k = xp.stack([xp.stack([zero, -z, y], -1),
                  xp.stack([z, zero, -x], -1),
                  xp.stack([-y, x, zero], -1)], -2)
    theta2 = x * x + y * y + z * z
    # R = I + sin(th)/th K + (1 - cos th)/th^2 K^2 with K built from the unnormalized vector;
    # the coefficients are written as sinc terms and replaced by their Taylor series near
    # zero, so small angles neither divide by zero nor lose precision, and the square root
    # is never taken at 0 (its infinite slope would make the gradient NaN).
    small = theta2 < 1e-8
    th = xp.sqrt(xp.where(small, xp.ones_like(theta2), theta2))
    a = xp.where(small, 1 - theta2 / 6, xp.sin(th) / th)
    half = xp.where(small, 1 - theta2 / 24, xp.sin(th / 2) / (th / 2))
    b = 0.5 * half ** 2
    eye = xp.zeros_like(k)
    eye[..., [0, 1, 2], [0, 1, 2]] = 1
    return eye + a[..., None, None] * k + b[..., None, None] * (k @ k)


def rotation_from_euler(azimuth: Array | float, elevation: Array | float = 0.0,
                        roll: Array | float = 0.0) -> Array:
    """Rotation for a virtual camera orbiting a subject, from three angles in radians.

    Axes are those of a Human3.6M camera frame (x right, y down, z forward along the optical
    axis).  The rotation turns by ``azimuth`` about y (vertical: orbiting the subject), then by
    ``elevation`` about x (tilting up/down), then by ``roll`` about z (the optical axis), each
    by the right-hand rule: ``R = Rz(roll) @ Rx(elevation) @ Ry(azimuth)``.  Apply it to a
    root-relative pose as ``pose @ R.T``.

    Args:
        azimuth, elevation, roll: floats or arrays/tensors broadcastable to a common
            shape (...), radians.
    Returns:
        (..., 3, 3) rotation matrices (torch if any angle is a tensor).
    """
    angles = (azimuth, elevation, roll)
    ref = next((a for a in angles if _is_torch(a)), None)
    if ref is not None:
        import torch  # only with torch input: numpy callers never import torch

        dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
        angles = [torch.as_tensor(a, dtype=dtype, device=ref.device) for a in angles]
        xp = torch
    else:
        angles = [np.asarray(a, np.float64) for a in angles]
        xp = np
    mats = []
    for ang, axis in zip(angles, (1, 0, 2)):
        zero = xp.zeros_like(ang)
        mats.append(rotation_matrix(xp.stack([ang if i == axis else zero for i in range(3)],
                                             -1)))
    ry, rx, rz = mats
    return rz @ rx @ ry


def weak_perspective_scale(pose_mm: np.ndarray, keypoints: np.ndarray, valid: np.ndarray
                           ) -> np.ndarray:
    """Per-sample least-squares scale s (mm per normalized unit) with X, Y ~ s * 2D.

    Args:
        pose_mm: (N, J, 3) root-relative 3D, mm; keypoints: (N, J, 2) normalized 2D;
        valid: (N, J) bool joints to fit on.
    Returns:
        (N,) float64 ``s = sum <XY_j, u_j> / sum |u_j|^2`` over valid joints (NaN if the 2D
        is all zero).
    """
    xy = np.asarray(pose_mm, np.float64)[..., :2]
    u = np.asarray(keypoints, np.float64)
    w = np.asarray(valid, bool)[..., None]
    num = (xy * u * w).sum((1, 2))
    den = (u * u * w).sum((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def depth_targets(pose_mm: np.ndarray, keypoints: np.ndarray, valid: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Zhou et al.'s depth targets in the units of the normalized 2D.

    Returns:
        ``(depth, s)``: (N, J) float32 ``(Z - Z_root) / s`` and the (N,) scales of
        :func:`weak_perspective_scale`.
    """
    p = np.asarray(pose_mm, np.float64)
    s = weak_perspective_scale(p, keypoints, valid)
    with np.errstate(invalid="ignore", divide="ignore"):
        depth = (p[..., 2] - p[..., H36M17.root:H36M17.root + 1, 2]) / s[:, None]
    return depth.astype(np.float32), s
