"""Geometry checked against hand-computed rotations and transforms built independently."""

import numpy as np
import pytest
import torch

from wildpose.geometry import (procrustes_align, procrustes_transform,
                               rotation_from_euler, rotation_matrix, scale_align)


def random_rotation(rng, batch=()):
    """Uniform-ish random proper rotations from the QR decomposition of Gaussian matrices."""
    q, r = np.linalg.qr(rng.normal(size=(*batch, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
    det = np.linalg.det(q)
    q[..., :, 2] *= det[..., None]  # flip a column where q is a reflection
    return q


def rz(theta):
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def rx(theta):
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


# ------------------------------------------------------------------------ rotation_matrix
def test_rotation_matrix_quarter_turn_about_z():
    r = rotation_matrix([0.0, 0.0, np.pi / 2])
    np.testing.assert_allclose(r @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(r @ [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], atol=1e-12)


def test_rotation_matrix_matches_closed_form_about_x():
    for theta in (0.3, -1.2, 2.9):
        np.testing.assert_allclose(rotation_matrix([theta, 0.0, 0.0]), rx(theta), atol=1e-12)


def test_rotation_matrix_zero_and_tiny_angles():
    np.testing.assert_allclose(rotation_matrix(np.zeros(3)), np.eye(3), atol=0)
    # To first order a rotation vector v acts as x -> x + v x x.
    v = np.array([1e-7, -2e-7, 3e-7])
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(rotation_matrix(v) @ x, x + np.cross(v, x), atol=1e-12)


def test_rotation_matrix_batched_is_proper_and_fixes_its_axis():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(4, 5, 3))
    r = rotation_matrix(v)
    assert r.shape == (4, 5, 3, 3)
    np.testing.assert_allclose(r @ np.swapaxes(r, -1, -2), np.broadcast_to(np.eye(3), r.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)
    np.testing.assert_allclose((r @ v[..., None])[..., 0], v, atol=1e-12)
    # The angle is |v|: trace R = 1 + 2 cos(angle).
    np.testing.assert_allclose(np.trace(r, axis1=-2, axis2=-1),
                               1 + 2 * np.cos(np.linalg.norm(v, axis=-1)), atol=1e-12)


def test_rotation_matrix_torch_zero_angle_has_finite_gradient():
    v = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    r = rotation_matrix(v)
    assert torch.allclose(r, torch.eye(3, dtype=torch.float64).expand(2, 3, 3))
    (r[..., 1, 0]).sum().backward()  # d R_10 / d v_z = 1 at v = 0
    assert torch.isfinite(v.grad).all()
    assert torch.allclose(v.grad, torch.tensor([[0.0, 0.0, 1.0]] * 2, dtype=torch.float64))


def test_rotation_from_euler_hand_cases():
    # Azimuth alone turns about y: the optical axis z swings to +x.
    np.testing.assert_allclose(rotation_from_euler(np.pi / 2) @ [0, 0, 1], [1, 0, 0], atol=1e-12)
    # Elevation alone turns about x: y goes to z.
    np.testing.assert_allclose(rotation_from_euler(0.0, np.pi / 2) @ [0, 1, 0], [0, 0, 1],
                               atol=1e-12)
    # Azimuth first: x -> (0, 0, -1) about y, then about x -> (0, 1, 0).
    np.testing.assert_allclose(rotation_from_euler(np.pi / 2, np.pi / 2) @ [1, 0, 0],
                               [0, 1, 0], atol=1e-12)
    # Roll alone is a rotation about z.
    np.testing.assert_allclose(rotation_from_euler(0.0, 0.0, 0.4), rz(0.4), atol=1e-12)


def test_rotation_from_euler_broadcasts_and_accepts_torch():
    r = rotation_from_euler(np.array([0.0, 0.1, 0.2]), 0.3)
    assert r.shape == (3, 3, 3)
    np.testing.assert_allclose(r[0], rx(0.3), atol=1e-12)
    rt = rotation_from_euler(torch.tensor([0.0], dtype=torch.float64), 0.0, 0.4)
    assert isinstance(rt, torch.Tensor) and rt.shape == (1, 3, 3)
    np.testing.assert_allclose(rt[0].numpy(), rz(0.4), atol=1e-12)


# ------------------------------------------------------------------------ procrustes
def test_procrustes_recovers_random_similarity():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 17, 3)) * 200
    rot = random_rotation(rng, (6,))
    s = rng.uniform(0.5, 2.0, size=6)
    t = rng.normal(size=(6, 3)) * 1000
    y = s[:, None, None] * np.einsum("nij,nkj->nki", rot, x) + t[:, None, :]
    r_hat, s_hat, t_hat = procrustes_transform(x, y)
    np.testing.assert_allclose(r_hat, rot, atol=1e-10)
    np.testing.assert_allclose(s_hat, s, rtol=1e-10)
    np.testing.assert_allclose(t_hat, t, atol=1e-8)
    np.testing.assert_allclose(procrustes_align(x, y), y, atol=1e-8)


def test_procrustes_two_joint_hand_example():
    # A unit segment along x is matched to a length-2 segment along y starting at (5, 0, 0).
    pred = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    target = np.array([[5.0, 0.0, 0.0], [5.0, 2.0, 0.0]])
    _, s, _ = procrustes_transform(pred, target)
    assert s == pytest.approx(2.0)
    np.testing.assert_allclose(procrustes_align(pred, target), target, atol=1e-12)


def test_procrustes_rigid_keeps_unit_scale():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(17, 3)) * 100
    rot = random_rotation(rng)
    y = 3.0 * x @ rot.T + [10.0, 20.0, 30.0]
    r_hat, s_hat, t_hat = procrustes_transform(x, y, scale=False)
    assert s_hat == 1.0
    np.testing.assert_allclose(r_hat, rot, atol=1e-10)  # the best rotation ignores scale
    np.testing.assert_allclose(t_hat, y.mean(0) - rot @ x.mean(0), atol=1e-8)


def test_procrustes_reflection_yields_proper_rotation():
    # Planar points mirrored in x: the 180-degree turn about y (x -> -x, z -> -z) reproduces
    # the mirror image exactly on the plane z = 0, and it is a proper rotation.
    pred = np.array([[0, 0, 0], [100, 0, 0], [0, 50, 0], [30, 70, 0], [-40, 10, 0.0]])
    target = pred * [-1, 1, 1]
    r, s, _ = procrustes_transform(pred, target)
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(r, np.diag([-1.0, 1.0, -1.0]), atol=1e-10)
    assert s == pytest.approx(1.0)
    np.testing.assert_allclose(procrustes_align(pred, target), target, atol=1e-9)


def test_procrustes_mirrored_chiral_set_is_not_reflected():
    rng = np.random.default_rng(3)
    pred = rng.normal(size=(17, 3)) * 100
    target = pred * [-1, 1, 1]
    r, _, _ = procrustes_transform(pred, target)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-10)
    assert np.linalg.det(r) == pytest.approx(1.0)
    # No rotation undoes a mirror of a non-planar set, so the residual stays positive.
    assert np.abs(procrustes_align(pred, target) - target).max() > 1.0


def test_procrustes_is_least_squares_optimal():
    rng = np.random.default_rng(4)
    pred = rng.normal(size=(17, 3)) * 100
    target = pred @ random_rotation(rng).T * 1.3 + rng.normal(size=(17, 3)) * 30
    r, s, t = procrustes_transform(pred, target)
    best = ((s * pred @ r.T + t - target) ** 2).sum()
    for _ in range(50):
        dr = rotation_matrix(rng.normal(size=3) * 0.05)
        ds, dt = 1 + rng.normal() * 0.05, rng.normal(size=3) * 5
        other = ((s * ds * pred @ (dr @ r).T + t + dt - target) ** 2).sum()
        assert other > best


def test_procrustes_mask_ignores_outliers_but_moves_all_joints():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(17, 3)) * 100
    rot = random_rotation(rng)
    y = 0.8 * x @ rot.T + [1.0, 2.0, 3.0]
    exact = y.copy()
    y[[3, 9]] += 500.0  # corrupted targets, excluded from the fit
    mask = np.ones(17, bool)
    mask[[3, 9]] = False
    r_hat, s_hat, _ = procrustes_transform(x, y, mask=mask)
    np.testing.assert_allclose(r_hat, rot, atol=1e-10)
    assert s_hat == pytest.approx(0.8)
    np.testing.assert_allclose(procrustes_align(x, y, mask=mask), exact, atol=1e-8)


def test_procrustes_float32_and_torch():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 17, 3)) * 100
    rot = random_rotation(rng, (3,))
    y = 1.5 * np.einsum("nij,nkj->nki", rot, x) + 7.0
    out32 = procrustes_align(x.astype(np.float32), y.astype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, y, atol=1e-2)

    xt = torch.tensor(x, requires_grad=True)
    r_t, s_t, _ = procrustes_transform(xt, torch.tensor(y))
    np.testing.assert_allclose(r_t.detach().numpy(), rot, atol=1e-10)
    np.testing.assert_allclose(s_t.detach().numpy(), 1.5, rtol=1e-10)
    aligned = procrustes_align(xt, torch.tensor(y))
    assert isinstance(aligned, torch.Tensor) and aligned.dtype == torch.float64
    np.testing.assert_allclose(aligned.detach().numpy(), y, atol=1e-8)
    aligned.square().sum().backward()
    assert xt.grad is not None and torch.isfinite(xt.grad).all()

    a32 = procrustes_align(torch.tensor(x, dtype=torch.float32),
                           torch.tensor(y, dtype=torch.float32))
    assert a32.dtype == torch.float32
    np.testing.assert_allclose(a32.numpy(), y, atol=1e-2)


def test_procrustes_shape_mismatch():
    with pytest.raises(ValueError, match="shapes differ"):
        procrustes_align(np.zeros((17, 3)), np.zeros((16, 3)))


# ------------------------------------------------------------------------ scale
def test_optimal_scale_hand_example():
    pred = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    target = np.array([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    # s = <pred, target> / |pred|^2 = (2 + 3) / 2
    np.testing.assert_allclose(scale_align(pred, target), 2.5 * pred)
    # Fitting on the second joint only gives its own ratio, applied to both joints.
    np.testing.assert_allclose(scale_align(pred, target, mask=[False, True]), 3.0 * pred)


def test_scale_align_batched_and_torch():
    pred = np.stack([np.eye(3), 2 * np.eye(3)])  # (2, 3, 3): two poses of three joints
    target = np.stack([4 * np.eye(3), np.eye(3)])
    expected = np.array([4.0, 0.5])[:, None, None] * pred
    np.testing.assert_allclose(scale_align(pred, target), expected)
    st = scale_align(torch.tensor(pred), torch.tensor(target))
    np.testing.assert_allclose(st.numpy(), expected)
    # A pose at the origin has no scale to fit: 0, not NaN.
    np.testing.assert_array_equal(scale_align(np.zeros((2, 3)), np.ones((2, 3))), 0.0)
