"""Tests of wildpose.camera against hand-computed projections and inverse relations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wildpose.camera import (
    Camera,
    camera_to_pixels,
    camera_to_world,
    default_focal_length,
    distort,
    fit_root_translation,
    pixels_to_normalized,
    scaled_orthographic_project,
    undistort,
    world_to_camera,
)
from wildpose.geometry import rotation_matrix

# Realistic lens parameters, of the size of Human3.6M's calibrated cameras.
K_REAL = np.array([-0.207, 0.248, -0.0031])
P_REAL = np.array([-0.0014, -0.00098])


def _rot(axis: str, deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _random_camera(rng: np.random.Generator) -> dict:
    """A camera about 4-5 m from the origin looking roughly at it, with realistic lens."""
    # Looking along world +y from y = -4500: camera z = world y, camera x = world x,
    # camera y = -world z (image y points down), then a small random tilt.
    base = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    R = _rot("x", rng.uniform(-5, 5)) @ _rot("y", rng.uniform(-5, 5)) @ base
    T = np.array([rng.uniform(-300, 300), -4500 + rng.uniform(-300, 300),
                  rng.uniform(800, 1000)])
    return dict(R=R, T=T, f=rng.uniform(1100, 1200, 2), c=rng.uniform(480, 520, 2),
                k=K_REAL * rng.uniform(0.5, 1.5, 3), p=P_REAL * rng.uniform(0.5, 1.5, 2))


def _random_pose(rng: np.random.Generator, n: int = 17) -> np.ndarray:
    """A person-sized cloud of points around the origin (world mm, z up)."""
    return rng.uniform([-400, -300, 0], [400, 300, 1800], size=(n, 3))


# ----------------------------------------------------------------------------- extrinsics

def test_world_to_camera_hand_example():
    # Camera at (10, 20, 30), rotated 90 degrees about z: camera x = world y,
    # camera y = -world x.
    R = np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]])
    T = np.array([10.0, 20, 30])
    X = np.array([[11.0, 22, 33], [10, 20, 1030]])
    np.testing.assert_allclose(world_to_camera(X, R, T), [[2, -1, 3], [0, 0, 1000]])


def test_world_camera_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(5):
        R, T = _random_rotation(rng), rng.normal(0, 3000, 3)
        X = rng.normal(0, 1000, (4, 17, 3))
        Xc = world_to_camera(X, R, T)
        np.testing.assert_allclose(camera_to_world(Xc, R, T), X, atol=1e-9)
        # A rotation keeps distances between points and puts the camera centre at 0.
        np.testing.assert_allclose(np.linalg.norm(Xc - Xc[..., :1, :], axis=-1),
                                   np.linalg.norm(X - X[..., :1, :], axis=-1), atol=1e-9)
        np.testing.assert_allclose(world_to_camera(T[None], R, T), 0, atol=1e-9)


# ----------------------------------------------------------------------------- intrinsics

F = np.array([1000.0, 1000.0])
C = np.array([500.0, 500.0])


def test_projection_without_distortion_hand_computed():
    # x = 100 / 2000 = 0.05, y = -50 / 2000 = -0.025; u = 1000 * 0.05 + 500 = 550,
    # v = 1000 * -0.025 + 500 = 475.
    X = np.array([[100.0, -50.0, 2000.0]])
    np.testing.assert_allclose(camera_to_pixels(X, F, C), [[550, 475]])
    # distortion=False ignores k and p; zero k and p change nothing.
    np.testing.assert_allclose(camera_to_pixels(X, F, C, K_REAL, P_REAL, distortion=False),
                               [[550, 475]])
    np.testing.assert_allclose(camera_to_pixels(X, F, C, np.zeros(3), np.zeros(2)),
                               [[550, 475]])


def test_projection_is_invariant_to_depth_scaling():
    X = np.array([[100.0, -50.0, 2000.0]])
    np.testing.assert_allclose(camera_to_pixels(3 * X, F, C, K_REAL, P_REAL),
                               camera_to_pixels(X, F, C, K_REAL, P_REAL))


def test_radial_distortion_k1_hand_computed():
    # Point (400, 300, 1000): x = 0.4, y = 0.3, r^2 = 0.16 + 0.09 = 0.25.
    # k1 = 0.1: 1 + k1 r^2 = 1.025, so x_d = 0.41, y_d = 0.3075,
    # u = 1000 * 0.41 + 500 = 910, v = 1000 * 0.3075 + 500 = 807.5.
    X = np.array([[400.0, 300.0, 1000.0]])
    k = np.array([0.1, 0.0, 0.0])
    p = np.zeros(2)
    np.testing.assert_allclose(distort(np.array([[0.4, 0.3]]), k, p), [[0.41, 0.3075]])
    np.testing.assert_allclose(camera_to_pixels(X, F, C, k, p), [[910.0, 807.5]])


def test_radial_distortion_k2_k3_hand_computed():
    # r^2 = 0.25: 1 + k2 r^4 = 1 + 0.2 * 0.0625 = 1.0125; 1 + k3 r^6 = 1 + 0.4 * 0.015625 = 1.00625.
    xy = np.array([[0.4, 0.3]])
    np.testing.assert_allclose(distort(xy, np.array([0, 0.2, 0]), np.zeros(2)),
                               [[0.4 * 1.0125, 0.3 * 1.0125]])
    np.testing.assert_allclose(distort(xy, np.array([0, 0, 0.4]), np.zeros(2)),
                               [[0.4 * 1.00625, 0.3 * 1.00625]])


def test_tangential_distortion_human36m_convention_hand_computed():
    # Human3.6M's ProjectPointRadial with only p = (p1, p2) = (0.01, 0.02) at x = 0.4, y = 0.3:
    #   r^2 = 0.25, tan = p1 * y + p2 * x = 0.003 + 0.008 = 0.011, factor = 1 + tan = 1.011,
    #   x_d = x * 1.011 + r^2 * p2 = 0.4044 + 0.005 = 0.4094,
    #   y_d = y * 1.011 + r^2 * p1 = 0.3033 + 0.0025 = 0.3058,
    #   u = 1000 * 0.4094 + 500 = 909.4, v = 1000 * 0.3058 + 500 = 805.8.
    X = np.array([[400.0, 300.0, 1000.0]])
    k, p = np.zeros(3), np.array([0.01, 0.02])
    np.testing.assert_allclose(distort(np.array([[0.4, 0.3]]), k, p), [[0.4094, 0.3058]])
    np.testing.assert_allclose(camera_to_pixels(X, F, C, k, p), [[909.4, 805.8]])


def test_radial_and_tangential_combined_hand_computed():
    # k1 = 0.1 and p = (0.01, 0.02) at (0.4, 0.3): factor = 1.025 + 0.011 = 1.036,
    # x_d = 0.4144 + 0.005 = 0.4194, y_d = 0.3108 + 0.0025 = 0.3133.
    out = distort(np.array([[0.4, 0.3]]), np.array([0.1, 0, 0]), np.array([0.01, 0.02]))
    np.testing.assert_allclose(out, [[0.4194, 0.3133]])


def test_undistort_inverts_distort():
    rng = np.random.default_rng(1)
    xy = rng.uniform(-0.45, 0.45, (3, 17, 2))
    xy_d = distort(xy, K_REAL, P_REAL)
    assert np.abs(xy_d - xy).max() > 1e-3  # the lens does something
    np.testing.assert_allclose(undistort(xy_d, K_REAL, P_REAL), xy, atol=1e-9)
    # Tangential-only and the hand example.
    p = np.array([0.01, 0.02])
    np.testing.assert_allclose(undistort(np.array([[0.4094, 0.3058]]), np.zeros(3), p),
                               [[0.4, 0.3]], atol=1e-9)


def test_pixels_to_normalized_inverts_camera_to_pixels_up_to_depth():
    rng = np.random.default_rng(2)
    cam = _random_camera(rng)
    Xc = world_to_camera(_random_pose(rng), cam["R"], cam["T"])
    assert (Xc[:, 2] > 0).all()
    uv = camera_to_pixels(Xc, cam["f"], cam["c"], cam["k"], cam["p"])
    xy = pixels_to_normalized(uv, cam["f"], cam["c"], cam["k"], cam["p"])
    np.testing.assert_allclose(xy, Xc[:, :2] / Xc[:, 2:], atol=1e-9)
    # Scaling the normalized coordinates back by depth recovers the camera-frame points.
    np.testing.assert_allclose(np.concatenate([xy * Xc[:, 2:], Xc[:, 2:]], -1), Xc,
                               atol=1e-6)
    # Without distortion it is the plain pinhole inverse.
    uv0 = camera_to_pixels(Xc, cam["f"], cam["c"])
    np.testing.assert_allclose(pixels_to_normalized(uv0, cam["f"], cam["c"]),
                               Xc[:, :2] / Xc[:, 2:], atol=1e-12)


# ----------------------------------------------------------------------------- batching

def test_batched_cameras_equal_a_loop():
    rng = np.random.default_rng(3)
    B = 4
    cams = [_random_camera(rng) for _ in range(B)]
    poses = np.stack([_random_pose(rng) for _ in range(B)])
    stack = {k: np.stack([c[k] for c in cams]) for k in cams[0]}
    Xc = world_to_camera(poses, stack["R"], stack["T"])
    uv = camera_to_pixels(Xc, stack["f"], stack["c"], stack["k"], stack["p"])
    back = pixels_to_normalized(uv, stack["f"], stack["c"], stack["k"], stack["p"])
    assert Xc.shape == (B, 17, 3) and uv.shape == (B, 17, 2)
    for b, cam in enumerate(cams):
        xc = world_to_camera(poses[b], cam["R"], cam["T"])
        np.testing.assert_allclose(Xc[b], xc, atol=1e-9)
        u = camera_to_pixels(xc, cam["f"], cam["c"], cam["k"], cam["p"])
        np.testing.assert_allclose(uv[b], u, atol=1e-9)
        np.testing.assert_allclose(back[b], pixels_to_normalized(u, cam["f"], cam["c"],
                                                                 cam["k"], cam["p"]),
                                   atol=1e-9)
        np.testing.assert_allclose(camera_to_world(Xc, stack["R"], stack["T"])[b], poses[b],
                                   atol=1e-9)


def test_one_camera_serves_a_batch_of_poses():
    rng = np.random.default_rng(4)
    cam = _random_camera(rng)
    poses = np.stack([_random_pose(rng) for _ in range(3)])[None]  # (1, 3, 17, 3)
    Xc = world_to_camera(poses, cam["R"], cam["T"])
    uv = camera_to_pixels(Xc, cam["f"], cam["c"], cam["k"], cam["p"])
    assert uv.shape == (1, 3, 17, 2)
    for i in range(3):
        xc = world_to_camera(poses[0, i], cam["R"], cam["T"])
        np.testing.assert_allclose(uv[0, i], camera_to_pixels(xc, cam["f"], cam["c"],
                                                              cam["k"], cam["p"]), atol=1e-9)


def test_camera_object_projects_a_known_point_by_hand():
    # The camera stands at (0, -4000, 1000) looking along world +y (camera x = world x,
    # camera y = -world z: image y points down); f = 1000 px, c = (500, 500).
    R = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    cam = Camera(R=R, T=np.array([0.0, -4000, 1000]), f=np.array([1000.0, 1000]),
                 c=np.array([500.0, 500]), k=np.array([0.1, 0, 0]), p=np.zeros(2))
    X = np.array([[200.0, 0, 500]])                  # 200 mm right of, 500 mm below the camera
    np.testing.assert_allclose(cam.world_to_camera(X), [[200, 500, 4000]])
    # normalized (0.05, 0.125): pinhole pixels (550, 625)
    np.testing.assert_allclose(cam.world_to_pixels(X, distortion=False), [[550, 625]])
    # with k1 = 0.1 the offsets from c grow by 1 + 0.1 r^2, r^2 = 0.05^2 + 0.125^2 = 0.018125
    grow = 1 + 0.1 * 0.018125
    np.testing.assert_allclose(cam.world_to_pixels(X), [[500 + 50 * grow, 500 + 125 * grow]])
    np.testing.assert_allclose(cam.project(np.array([[200.0, 500, 4000]]), distortion=False),
                               [[550, 625]])


class _ArrayWithDevice(np.ndarray):
    """A numpy array carrying a ``device`` attribute, as every array does in numpy >= 2."""

    device = "cpu"


def test_numpy_arrays_with_device_attribute_stay_numpy():
    # Regression: numpy/torch dispatch once used hasattr(a, "device"), which numpy >= 2
    # arrays satisfy too (it then called torch on numpy arrays or transposed wrongly).
    rng = np.random.default_rng(6)
    d = _random_camera(rng)
    poses = np.stack([_random_pose(rng) for _ in range(2)])
    Rs = np.stack([d["R"], _random_rotation(rng)])
    Ts = np.stack([d["T"], d["T"]])
    dev = lambda a: np.asarray(a, np.float64).view(_ArrayWithDevice)  # noqa: E731
    Xc = world_to_camera(dev(poses), dev(Rs), dev(Ts))
    assert isinstance(Xc, np.ndarray)
    np.testing.assert_allclose(np.asarray(Xc), world_to_camera(poses, Rs, Ts))
    xy = distort(dev(np.full((3, 2), 0.2)), dev(K_REAL), dev(P_REAL))
    assert isinstance(xy, np.ndarray)
    np.testing.assert_allclose(np.asarray(xy), distort(np.full((3, 2), 0.2), K_REAL, P_REAL))
    uv = Camera(**d).world_to_pixels(dev(poses[0]))
    assert isinstance(uv, np.ndarray)
    np.testing.assert_allclose(np.asarray(uv), Camera(**d).world_to_pixels(poses[0]))


# ----------------------------------------------------------------------------- torch

def test_torch_and_numpy_agree():
    rng = np.random.default_rng(7)
    B = 3
    cams = [_random_camera(rng) for _ in range(B)]
    stack = {k: np.stack([c[k] for c in cams]) for k in cams[0]}
    poses = np.stack([_random_pose(rng) for _ in range(B)])
    t = {k: torch.from_numpy(v) for k, v in stack.items()}
    Xc_np = world_to_camera(poses, stack["R"], stack["T"])
    Xc_t = world_to_camera(torch.from_numpy(poses), t["R"], t["T"])
    assert isinstance(Xc_t, torch.Tensor)
    np.testing.assert_allclose(Xc_t.numpy(), Xc_np, atol=1e-9)
    uv_np = camera_to_pixels(Xc_np, stack["f"], stack["c"], stack["k"], stack["p"])
    uv_t = camera_to_pixels(Xc_t, t["f"], t["c"], t["k"], t["p"])
    np.testing.assert_allclose(uv_t.numpy(), uv_np, atol=1e-9)
    np.testing.assert_allclose(pixels_to_normalized(uv_t, t["f"], t["c"], t["k"], t["p"]).numpy(),
                               pixels_to_normalized(uv_np, stack["f"], stack["c"], stack["k"],
                                                    stack["p"]), atol=1e-12)
    np.testing.assert_allclose(camera_to_world(Xc_t, t["R"], t["T"]).numpy(), poses, atol=1e-9)
    # Camera methods keep torch tensors (and their dtype) torch.
    cam = Camera(**cams[0])
    uv32 = cam.world_to_pixels(torch.from_numpy(poses[0]).float())
    assert isinstance(uv32, torch.Tensor) and uv32.dtype == torch.float32
    np.testing.assert_allclose(uv32.numpy(), cam.world_to_pixels(poses[0]), atol=1e-2)


def test_torch_projection_gradcheck():
    rng = np.random.default_rng(8)
    d = _random_camera(rng)
    Xw = torch.from_numpy(_random_pose(rng, 5)).requires_grad_(True)
    R, T = torch.from_numpy(d["R"]), torch.from_numpy(d["T"])
    f = torch.from_numpy(d["f"]).requires_grad_(True)
    c = torch.from_numpy(d["c"])
    k = torch.from_numpy(d["k"]).requires_grad_(True)
    p = torch.from_numpy(d["p"]).requires_grad_(True)

    def project(Xw, f, k, p):
        return camera_to_pixels(world_to_camera(Xw, R, T), f, c, k, p)

    assert torch.autograd.gradcheck(project, (Xw, f, k, p))


def test_torch_undistort_gradcheck():
    xy_d = torch.tensor([[0.3, -0.2], [0.1, 0.25]], dtype=torch.float64, requires_grad=True)
    k, p = torch.from_numpy(K_REAL), torch.from_numpy(P_REAL)
    assert torch.autograd.gradcheck(lambda a: undistort(a, k, p), (xy_d,))


def test_torch_gradient_matches_finite_difference():
    # d u / d X for u = f X / Z + c without distortion is f / Z: a hand derivative.
    X = torch.tensor([[100.0, -50.0, 2000.0]], dtype=torch.float64, requires_grad=True)
    u = camera_to_pixels(X, torch.tensor(F), torch.tensor(C))
    u[0, 0].backward()
    np.testing.assert_allclose(X.grad.numpy(), [[1000 / 2000, 0, -1000 * 100 / 2000 ** 2]])


# ----------------------------------------------------------------------------- simplified models

def test_scaled_orthographic_hand_example():
    # Rotation by 90 degrees about z maps (1, 2, 3) to (-2, 1, 3); scale 2 gives (-4, 2);
    # adding t = (10, 20) gives (6, 22).  Depth is dropped.
    R = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    X = np.array([[1.0, 2, 3], [0, 0, 100]])
    out = scaled_orthographic_project(X, np.array(2.0), np.array([10.0, 20]), R)
    np.testing.assert_allclose(out, [[6, 22], [10, 20]])
    # Without rotation / translation: plain s * (x, y).
    np.testing.assert_allclose(scaled_orthographic_project(X, np.array(0.5)),
                               [[0.5, 1], [0, 0]])
    # Rotation by 90 degrees about x maps (1, 2, 3) to (1, -3, 2).
    Rx = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    np.testing.assert_allclose(scaled_orthographic_project(X[:1], np.array(1.0), rotation=Rx),
                               [[1, -3]])


def test_scaled_orthographic_batched_torch():
    R = torch.tensor([[[0.0, -1, 0], [1, 0, 0], [0, 0, 1]], [[1.0, 0, 0], [0, 1, 0], [0, 0, 1]]],
                     dtype=torch.float64)
    X = torch.tensor([[[1.0, 2, 3]], [[1.0, 2, 3]]], dtype=torch.float64)
    out = scaled_orthographic_project(X, torch.tensor([2.0, 3.0], dtype=torch.float64),
                                      torch.tensor([[10.0, 20], [0, 0]], dtype=torch.float64), R)
    np.testing.assert_allclose(out.numpy(), [[[6, 22]], [[3, 6]]])


# --- virtual_camera_view: hand-computed views of a known pose ---------------------------
def _stick():
    """Root at the origin, a joint 100 mm to the subject's left (+x), one 100 mm up (-y)."""
    return np.array([[0.0, 0, 0], [100.0, 0, 0], [0.0, -100.0, 0]])


def test_virtual_camera_front_view_is_plain_perspective():
    from wildpose.camera import virtual_camera_view

    cam, px = virtual_camera_view(_stick(), 0.0, 0.0, distance_mm=5000.0, focal_px=1000.0,
                                  center_px=np.array([320.0, 240.0]))
    np.testing.assert_allclose(cam[0], [0, 0, 5000])
    # 100 mm at 5 m with f = 1000 px: 20 px
    np.testing.assert_allclose(px, [[320, 240], [340, 240], [320, 220]], atol=1e-9)


def test_virtual_camera_elevation_90_looks_straight_down():
    from wildpose.camera import virtual_camera_view

    cam, px = virtual_camera_view(_stick(), 0.0, 90.0, distance_mm=5000.0)
    # from above, "up" points at the camera: the head joint is 100 mm nearer
    np.testing.assert_allclose(cam[2], [0, 0, 4900], atol=1e-9)
    np.testing.assert_allclose(px[2], [0, 0], atol=1e-9)


def test_virtual_camera_azimuth_180_sees_the_back_and_roll_90_turns_the_image():
    from wildpose.camera import virtual_camera_view

    cam, _ = virtual_camera_view(_stick(), 180.0, 0.0, distance_mm=3000.0)
    np.testing.assert_allclose(cam[1], [-100, 0, 3000], atol=1e-9)  # left appears on the left
    _, px = virtual_camera_view(_stick(), 0.0, 0.0, roll_deg=90.0, distance_mm=5000.0)
    np.testing.assert_allclose(px[1], [0, 20], atol=1e-9)            # x turned onto y


def test_virtual_camera_keeps_bone_lengths_and_batches_in_torch():
    import torch

    from wildpose.camera import virtual_camera_view

    rng = np.random.default_rng(0)
    poses = rng.normal(size=(4, 17, 3)) * 300
    az, el, roll = rng.uniform(-180, 180, 4), rng.uniform(-20, 60, 4), rng.uniform(-10, 10, 4)
    off = rng.normal(size=(4, 2)) * 500
    cam, px = virtual_camera_view(poses, az, el, roll, np.full(4, 6000.0), np.full(4, 900.0),
                                  offset_mm=off)
    d0 = np.linalg.norm(poses[:, :, None] - poses[:, None], axis=-1)
    d1 = np.linalg.norm(cam[:, :, None] - cam[:, None], axis=-1)
    np.testing.assert_allclose(d0, d1, atol=1e-6)                   # a rigid motion
    np.testing.assert_allclose(cam[:, 0, :2], off, atol=1e-9)
    cam_t, px_t = virtual_camera_view(torch.from_numpy(poses), torch.from_numpy(az),
                                      torch.from_numpy(el), torch.from_numpy(roll),
                                      torch.full((4,), 6000.0, dtype=torch.float64),
                                      torch.full((4,), 900.0, dtype=torch.float64),
                                      offset_mm=torch.from_numpy(off))
    np.testing.assert_allclose(px_t.numpy(), px, atol=1e-9)


#: A standing person in camera mm (y down), pelvis at the origin.
POSE_3D = np.array([
    [0, 0, 0], [-130, 0, 0], [-130, 450, 20], [-130, 880, 0],
    [130, 0, 0], [130, 450, 20], [130, 880, 0],
    [0, -230, 0], [0, -480, 0], [0, -560, -40], [0, -680, 0],
    [170, -450, 0], [200, -200, 0], [210, 30, -30],
    [-170, -450, 0], [-200, -200, 0], [-210, 30, -30]], np.float64)


# ------------------------------------------------------------------------ root translation
def test_root_translation_is_recovered_exactly():
    t_true = np.array([150.0, -80.0, 4200.0])
    f, c = np.array([1000.0, 1000.0]), np.array([320.0, 240.0])
    uv = camera_to_pixels(POSE_3D + t_true, f, c)
    np.testing.assert_allclose(fit_root_translation(POSE_3D, uv, f, c), t_true, atol=1e-6)
    # rotated pose, non-square pixels, some joints left out
    pose = POSE_3D @ rotation_matrix(np.array([0.2, 0.7, -0.1])).T
    f2 = np.array([900.0, 950.0])
    uv = camera_to_pixels(pose + t_true, f2, c)
    w = np.ones(17)
    w[[3, 6, 10]] = 0.0
    uv[[3, 6, 10]] = 1e6                           # junk where the weight is 0
    np.testing.assert_allclose(fit_root_translation(pose, uv, f2, c, weights=w), t_true,
                               atol=1e-6)


def test_root_translation_with_noise_and_degenerate_cases():
    t_true = np.array([-300.0, 200.0, 3000.0])
    f, c = 800.0, np.array([320.0, 240.0])
    uv = camera_to_pixels(POSE_3D + t_true, np.array([f, f]), c)
    noisy = uv + np.random.default_rng(1).normal(0, 2.0, uv.shape)
    t = fit_root_translation(POSE_3D, noisy, f, c)
    assert np.abs(t - t_true).max() < 100           # 2 px noise: a few cm at 3 m
    assert fit_root_translation(POSE_3D[:2], uv[:2], f, c) is None          # < 3 joints
    assert fit_root_translation(POSE_3D, np.full((17, 2), np.nan), f, c) is None


def test_default_focal_length():
    assert default_focal_length(640, 480) == pytest.approx(320 / math.tan(math.radians(27.5)))
    assert default_focal_length(480, 640) == default_focal_length(640, 480)   # longer side
    assert default_focal_length(1000, 500, fov_degrees=90) == pytest.approx(500)



