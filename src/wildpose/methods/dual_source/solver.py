"""Joint camera and 3D pose reconstruction from retrieved poses: batched Levenberg-Marquardt
steps on the reprojection error with a bone-length term (weak and full perspective)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...geometry import rotation_matrix
from ...normalization import normalize_2d
from ...skeleton import H36M17

__all__ = ["reconstruct", "reconstruct_perspective"]

_PARENTS = np.array([p for p, _ in H36M17.edges])
_CHILDREN = np.array([c for _, c in H36M17.edges])


def _lm_step(jac: np.ndarray, r: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """One batched Levenberg-Marquardt step: (B, M, P) Jacobian, (B, M) residuals, (B,)
    damping -> (B, P) parameter update (Marquardt's diagonal scaling)."""
    jact = jac.transpose(0, 2, 1)
    jtj = jact @ jac
    jtr = (jact @ r[..., None])[..., 0]
    diag = np.diagonal(jtj, axis1=1, axis2=2)
    lhs = jtj + (mu[:, None] * (diag + 1e-9))[..., None] * np.eye(jac.shape[-1])
    return -np.linalg.solve(lhs, jtr[..., None])[..., 0]


def _keep_better(ok: np.ndarray, new: Any, old: Any) -> Any:
    """Per batch row: ``new`` where ``ok`` (B,) else ``old``; arrays or tuples of arrays."""
    if isinstance(old, tuple):
        return tuple(_keep_better(ok, a, b) for a, b in zip(new, old))
    return np.where(ok.reshape((-1,) + (1,) * (np.ndim(old) - 1)), new, old)


def _shape_terms(neighbours: Any, weights0: Any, feature_weights: Any):
    """What both fits need of the (B, k, 17, 3) retrieved poses: ``(y, yf, w0, dy, target)``
    -- the poses, the poses in the feature layout (B, k, J, 3), the prior weights (B, k)
    (default uniform 1/k), the neighbours' bones (B, k, nb, 3) and the ``w0``-weighted bone
    lengths (B, nb) the bone term pulls towards."""
    y = np.asarray(neighbours, np.float64)
    bsz, k = y.shape[:2]
    yf = y if feature_weights is None else np.einsum(
        "fj,bkjc->bkfc", np.asarray(feature_weights, np.float64), y)
    w0 = np.full((bsz, k), 1.0 / k) if weights0 is None else np.asarray(weights0, np.float64)
    dy = y[:, :, _CHILDREN] - y[:, :, _PARENTS]
    return y, yf, w0, dy, np.einsum("bk,bkn->bn", w0, np.linalg.norm(dy, axis=-1))


def _combine(w: np.ndarray, a: np.ndarray) -> np.ndarray:
    """sum_i w_i a_i: (B, k), (B, k, ...) -> (B, ...) as one batched matmul."""
    return (w[:, None, :] @ a.reshape(*w.shape, -1)).reshape(a.shape[:1] + a.shape[2:])


def _squared_cost(rp: np.ndarray, rb: np.ndarray, rw: np.ndarray) -> np.ndarray:
    """(B,) sum of squares of the reprojection, bone and prior residuals."""
    return (rp ** 2).sum((1, 2)) + (rb ** 2).sum(1) + (rw ** 2).sum(1)


def _skew3(z: np.ndarray) -> np.ndarray:
    """d((I + [delta]x) z)/d delta = -[z]x: (..., 3, 3) for points z (..., 3)."""
    x, y, w = z[..., 0], z[..., 1], z[..., 2]
    zero = np.zeros_like(x)
    return np.stack([np.stack([zero, w, -y], -1), np.stack([-w, zero, x], -1),
                     np.stack([y, -x, zero], -1)], -2)


def _lm_fit(w: np.ndarray, rot: np.ndarray, cam: np.ndarray, residuals, cost,
            reprojection_jacobian, dy: np.ndarray, cb: float, cp: float, iterations: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Levenberg-Marquardt steps over the combination weights ``w`` (B, k), the rotation
    ``rot`` (B, 3, 3), updated multiplicatively, and three camera parameters ``cam`` (B, 3);
    each row keeps a step only if it lowers its ``cost``.

    ``residuals(w, rot, cam)`` gives ``(reprojection (B, J, 2), bone (B, nb), prior (B, k),
    ..., combined bones (B, nb, 3), their lengths (B, nb))``, ``cost`` (B,) of those, and
    ``reprojection_jacobian(parts, cam)`` the (B, 2J, k + 6) Jacobian of the reprojection
    residuals; the bone and prior rows depend on the weights only: d|D_b|/dw_i = u_b . dY_ib
    for the neighbours' bones ``dy`` (B, k, nb, 3), then ``cp * I``.  Returns the final
    ``(w, rot, cam)``.
    """
    bsz, k = w.shape
    nb = dy.shape[2]
    parts = residuals(w, rot, cam)
    cur = cost(parts)
    mu = np.full(bsz, 1e-3)
    for _ in range(iterations):
        rp, rb, rw = parts[:3]
        m = rp[0].size
        jac = np.zeros((bsz, m + nb + k, k + 6))
        jac[:, :m] = reprojection_jacobian(parts, cam)
        u = parts[-2] / np.maximum(parts[-1], 1e-9)[..., None]     # unit combined bones
        jac[:, m:m + nb, :k] = cb * np.swapaxes((dy * u[:, None]).sum(-1), 1, 2)
        jac[:, m + nb:, :k] = cp * np.eye(k)
        step = _lm_step(jac, np.concatenate([rp.reshape(bsz, -1), rb, rw], 1), mu)
        new_params = (w + step[:, :k], rotation_matrix(step[:, k:k + 3]) @ rot,
                      cam + step[:, k + 3:])
        parts_n = residuals(*new_params)
        new = cost(parts_n)
        ok = np.isfinite(new) & (new < cur)
        w, rot, cam, parts, cur = _keep_better(ok, (*new_params, parts_n, new),
                                               (w, rot, cam, parts, cur))
        mu = np.where(ok, mu * 0.3, mu * 10.0)
    return w, rot, cam


def reconstruct(q: np.ndarray, valid: np.ndarray, neighbours: np.ndarray,
                weights0: np.ndarray | None = None, feature_weights: np.ndarray | None = None,
                iterations: int = 8, bone_weight: float = 1.0, prior_weight: float = 0.5,
                pose_rms_mm: float = 450.0, root: int = 0, return_camera: bool = False
                ) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
    """Joint weak-perspective camera and 3D pose fit to normalized 2D poses, batched.

    Minimizes, over the combination weights ``w`` (k), a rotation ``R``, a scale ``s`` and a
    2D translation ``t`` per query::

        sum_j v_j |s (R X)_xy,j + t - q_j|^2                          reprojection
        + (bone_weight / pose_rms)^2 sum_b (|X_b| - L_b)^2            bone lengths
        + prior_weight^2 |w - w0|^2                                    stay near the prior

    with ``X = sum_i w_i Y_i`` (the retrieved poses in their own virtual camera frames) and
    ``L_b`` the ``w0``-weighted bone lengths of the retrieved poses, by Levenberg-Marquardt
    steps (R updated multiplicatively with :func:`wildpose.geometry.rotation_matrix`).

    Args:
        q: (B, J, 2) normalized 2D poses (feature layout), 0 where invalid.
        valid: (B, J) bool.
        neighbours: (B, k, 17, 3) retrieved camera-frame H36M17 poses, mm, root at 0.
        weights0: (B, k) prior combination weights (default uniform 1/k).
        feature_weights: (J, 17) map from H36M17 joints to the feature layout (default I).
        iterations: LM steps.
        pose_rms_mm: typical RMS joint distance from the root, mm (unit of the bone term).
        return_camera: also return the fit ``{"weights": (B, k), "rotation": (B, 3, 3),
            "scale": (B,) normalized units per mm, "translation": (B, 2) normalized units}``.
    Returns:
        (B, 17, 3) float64 camera-frame poses, mm, root at 0 (x right, y down, z forward)
        [, the camera dict].
    """
    y, yf, w0, dy, target = _shape_terms(neighbours, weights0, feature_weights)
    bsz, k = y.shape[:2]
    vw = np.asarray(valid, np.float64)
    sq = np.sqrt(vw)[..., None]                                 # (B, J, 1)
    q = np.where(np.asarray(valid, bool)[..., None], np.asarray(q, np.float64), 0.0)
    cb, cp, jn = bone_weight / pose_rms_mm, prior_weight, q.shape[1]

    def fit_st(zf):
        """Closed-form s, t for fixed camera-frame points (weighted LS on visible joints)."""
        cnt = np.maximum(vw.sum(1), 1)[:, None]
        zm = (zf[..., :2] * vw[..., None]).sum(1) / cnt
        qm = (q * vw[..., None]).sum(1) / cnt
        zc, qc = zf[..., :2] - zm[:, None], q - qm[:, None]
        s = (vw[..., None] * zc * qc).sum((1, 2)) / np.maximum(
            (vw[..., None] * zc * zc).sum((1, 2)), 1e-12)
        return s, qm - s[:, None] * zm

    def residuals(w, rot, cam):                                  # cam: s, t (2,)
        rk = yf @ np.swapaxes(rot, -1, -2)[:, None]             # neighbours, rotated
        zf = _combine(w, rk)
        rp = sq * (cam[:, 0, None, None] * zf[..., :2] + cam[:, None, 1:] - q)
        d = _combine(w, dy)
        ln = np.linalg.norm(d, axis=-1)
        return rp, cb * (ln - target), cp * (w - w0), rk, zf, d, ln

    def jacobian(parts, cam):                                   # columns: w, rot, s, t
        rk, zf, s = parts[3], parts[4], cam[:, 0, None, None, None]
        jt = np.broadcast_to(np.eye(2), (bsz, jn, 2, 2)) * sq[..., None]
        return np.concatenate([
            (sq[:, None] * s * rk[..., :2]).reshape(bsz, k, 2 * jn).transpose(0, 2, 1),
            (sq[..., None] * s * _skew3(zf)[..., :2, :]).reshape(bsz, 2 * jn, 3),
            (sq * zf[..., :2]).reshape(bsz, 2 * jn, 1), jt.reshape(bsz, 2 * jn, 2)], -1)

    s, t = fit_st(_combine(w0, yf))
    w, rot, cam = _lm_fit(w0.copy(), np.broadcast_to(np.eye(3), (bsz, 3, 3)).copy(),
                          np.concatenate([s[:, None], t], 1), residuals,
                          lambda parts: _squared_cost(*parts[:3]), jacobian, dy, cb, cp,
                          iterations)
    out = _combine(w, y) @ np.swapaxes(rot, -1, -2)
    out = out - out[:, root:root + 1]
    if return_camera:
        return out, {"weights": w, "rotation": rot, "scale": cam[:, 0],
                     "translation": cam[:, 1:]}
    return out


def reconstruct_perspective(uv: np.ndarray, valid: np.ndarray, neighbours: np.ndarray,
                            weights0: np.ndarray | None = None,
                            feature_weights: np.ndarray | None = None, iterations: int = 8,
                            bone_weight: float = 1.0, prior_weight: float = 0.5,
                            pose_rms_mm: float = 450.0, root: int = 0, feature_root: int = 0
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Joint *full-perspective* camera and 3D pose fit, for cameras with known intrinsics.

    The weak-perspective fit of :func:`reconstruct` on the normalized query gives the start
    (its scale s and 2D shift t become the depth ``T_z = 1 / (sigma s)`` and ``T_xy``), then
    Levenberg-Marquardt steps minimize, over the combination weights, the rotation and the 3D
    translation ``T`` (mm)::

        sum_j v_j |(P_j,xy / P_j,z - uv_j) / sigma|^2 + bone and prior terms as reconstruct,

    with ``P = R X + T`` and ``sigma`` the query's RMS spread in ``uv`` (so the reprojection
    term has the same units as in :func:`reconstruct`).  Steps that would put a joint behind
    the camera are refused.

    Args:
        uv: (B, J, 2) normalized image coordinates ``(pixels - c) / f`` in the feature layout
            (see :func:`wildpose.camera.pixels_to_normalized`; undistorted if need be).
        valid, neighbours, weights0, feature_weights, iterations, bone_weight, prior_weight,
            pose_rms_mm, root: as :func:`reconstruct`.
        feature_root: the root joint of the feature layout (where ``uv`` is centred).
    Returns:
        ``(poses, root_translation)``: (B, 17, 3) float64 camera-frame poses, mm, root at 0;
        (B, 3) the root's camera coordinates, mm (its depth follows from the retrieved
        mocap's body size, which the 2D alone cannot tell).
    """
    uv = np.asarray(uv, np.float64)
    v = np.asarray(valid, bool)
    y, yf, w0, dy, target = _shape_terms(neighbours, weights0, feature_weights)
    bsz, k = y.shape[:2]
    qn, centre, sigma = normalize_2d(np.where(v[..., None], uv, 0.0), v, root=feature_root)
    _, cam = reconstruct(qn, v, y, weights0, feature_weights, iterations, bone_weight,
                         prior_weight, pose_rms_mm, root=0, return_camera=True)
    sigma = np.maximum(sigma, 1e-12)
    s_uv = np.maximum(sigma * cam["scale"], 1e-9)          # 1 / depth, per mm
    tz = 1.0 / s_uv
    txy = (sigma[:, None] * cam["translation"] + centre) * tz[:, None]
    trans = np.concatenate([txy, tz[:, None]], 1)          # (B, 3) mm
    sq = (np.sqrt(v.astype(np.float64)) / sigma[:, None])[..., None]          # (B, J, 1)
    uvz = np.where(v[..., None], uv, 0.0)
    cb, cp, jn = bone_weight / pose_rms_mm, prior_weight, uv.shape[1]

    def residuals(ww, rr, tt):
        rk = yf @ np.swapaxes(rr, -1, -2)[:, None]
        zf = _combine(ww, rk)
        pts = zf + tt[:, None]
        pz = pts[..., 2]
        rp = sq * (pts[..., :2] / np.where(pz > 1.0, pz, 1.0)[..., None] - uvz)
        d = _combine(ww, dy)
        ln = np.linalg.norm(d, axis=-1)
        return rp, cb * (ln - target), cp * (ww - w0), rk, zf, pts, d, ln

    def cost(parts):
        behind = ((parts[5][..., 2] <= 1.0) & v).any(1)
        return np.where(behind, np.inf, _squared_cost(*parts[:3]))

    def jacobian(parts, _):
        rk, zf, pts = parts[3:6]
        pz = np.where(pts[..., 2] > 1.0, pts[..., 2], 1.0)
        a = np.zeros((bsz, jn, 2, 3))                       # d(projection)/dP, weighted
        a[..., 0, 0] = a[..., 1, 1] = 1.0 / pz
        a[..., 0, 2] = -pts[..., 0] / pz ** 2
        a[..., 1, 2] = -pts[..., 1] / pz ** 2
        a *= sq[..., None]
        return np.concatenate([np.einsum("bjcd,bkjd->bjck", a, rk).reshape(bsz, 2 * jn, k),
                               (a @ _skew3(zf)).reshape(bsz, 2 * jn, 3),
                               a.reshape(bsz, 2 * jn, 3)], -1)

    w, rot, trans = _lm_fit(cam["weights"], cam["rotation"], trans, residuals, cost, jacobian,
                            dy, cb, cp, iterations)
    out = _combine(w, y) @ np.swapaxes(rot, -1, -2)
    root_pos = out[:, root]
    return out - root_pos[:, None], trans + root_pos
