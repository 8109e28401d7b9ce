"""The Python API (wildpose.Lifter) with a small random model written to a temporary file.

Checks are properties lifting must have whatever the weights: shapes and errors, missing-joint
handling, layout conversion done by hand, backend agreement, invariance to where the person is
in the image and how large, and mirror equivariance of flip-test averaging.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from wildpose.api import Lifter
from wildpose.models.lifter import LifterConfig, ResidualMLPLifter
from wildpose.skeleton import COCO17, H36M17, MPII16
from wildpose.zoo import save_model

PERM = H36M17.flip_permutation()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = ResidualMLPLifter(LifterConfig(width=64, blocks=1))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
        model.out_mean.copy_(torch.randn(48, generator=g) * 100)
        model.out_std.copy_(torch.rand(48, generator=g) * 100 + 50)
    return save_model(tmp_path_factory.mktemp("model") / "tiny.safetensors", model.eval(),
                      {"name": "tiny-test"})


@pytest.fixture(scope="module")
def lifter(model_file) -> Lifter:
    return Lifter(model_file, device="cpu", backend="torch")


@pytest.fixture(scope="module")
def np_lifter(model_file) -> Lifter:
    return Lifter(model_file, backend="numpy")


def pixel_poses(n: int, j: int = 17, seed: int = 0) -> np.ndarray:
    """(n, j, 2) float32 pixel keypoints of a ~200 px person around (640, 360)."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, j, 2)) * 80 + np.array([640.0, 360.0])).astype(np.float32)


def test_single_pose_gives_17x3(lifter):
    out = lifter.lift(pixel_poses(1)[0])
    assert out.shape == (17, 3) and out.dtype == np.float32
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[0], 0.0)  # root-relative
    assert lifter.info["name"] == "tiny-test"


def test_batch_gives_nx17x3(lifter):
    out = lifter.lift(pixel_poses(5))
    assert out.shape == (5, 17, 3)
    # Each row is lifted on its own (eval mode: no batch statistics).
    np.testing.assert_allclose(out[3], lifter.lift(pixel_poses(5)[3]), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("shape, layout", [((17, 3), "h36m17"), ((16, 2), "h36m17"),
                                           ((2, 17, 2), "mpii16"), ((4, 34), "h36m17"),
                                           ((2, 2, 17, 2), "h36m17")])
def test_wrong_shape_raises_naming_expected_shape(lifter, shape, layout):
    n_joints = 16 if layout == "mpii16" else 17
    with pytest.raises(ValueError) as exc:
        lifter.lift(np.zeros(shape, np.float32), layout=layout)
    assert f"(N, {n_joints}, 2)" in str(exc.value)
    assert str(tuple(shape)) in str(exc.value)


def test_nan_joints_count_as_missing(lifter):
    kp = pixel_poses(3, seed=1)
    missing = np.zeros((3, 17), bool)
    missing[0, [2, 13]] = True
    missing[1, 0] = True  # even the root
    missing[2, [5, 6, 16]] = True
    with_nan = kp.copy()
    with_nan[missing] = np.nan
    junk = kp.copy()
    junk[missing] = 1e5  # should be ignored when marked invalid
    a = lifter.lift(with_nan)
    b = lifter.lift(junk, valid=~missing)
    assert np.isfinite(a).all()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-3)
    # Marking a joint missing changes the answer (the model sees the validity flags).
    assert np.abs(a[0] - lifter.lift(kp[0])).max() > 1e-3
    # Low confidence is missing too.
    conf = np.where(missing, 0.1, 0.9)
    np.testing.assert_allclose(lifter.lift(junk, confidence=conf, min_confidence=0.5), a,
                               rtol=1e-5, atol=1e-3)


def test_rows_with_every_joint_at_one_point_are_nan_with_a_warning(lifter):
    """Zeros (or any one point) for every joint have no size or shape: not lifted."""
    kp = pixel_poses(3, seed=4)
    kp[1] = 0.0
    kp[2] = [120.0, 80.0]
    kp[2, :3] = np.nan     # the missing joints do not count
    with pytest.warns(UserWarning, match=r"all their joints at one point.*rows \[1, 2\]"):
        out = lifter.lift(kp)
    assert np.isnan(out[1:]).all() and np.isfinite(out[0]).all()


def test_rows_with_too_few_joints_are_nan_with_a_warning(lifter):
    kp = pixel_poses(4, seed=2)
    kp[1, 4:] = np.nan   # 4 valid joints < 6
    kp[3, :] = np.nan    # nothing at all
    with pytest.warns(UserWarning, match=r"fewer than 6 valid joints.*rows \[1, 3\]"):
        out = lifter.lift(kp)
    assert np.isnan(out[1]).all() and np.isnan(out[3]).all()
    for i in (0, 2):
        np.testing.assert_allclose(out[i], lifter.lift(kp[i]), rtol=1e-5, atol=1e-3)
    # Exactly six valid joints, a torso among them, is enough.
    six = pixel_poses(1, seed=3)[0]
    six[[2, 3, 5, 6, 8, 9, 10, 12, 13, 15, 16]] = np.nan   # keeps Hip, hips, Spine, shoulders
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(lifter.lift(six)).all()


def test_rows_without_a_torso_are_nan_with_a_warning(lifter):
    """Head and arms only (the issue's case), or one shoulder missing: no torso, refused."""
    kp = pixel_poses(3, seed=5)
    kp[0, [0, 1, 2, 3, 4, 5, 6, 7]] = np.nan        # no hips or legs: 9 joints left
    kp[2, H36M17.index("LShoulder")] = np.nan        # 16 joints, no left shoulder
    with pytest.warns(UserWarning, match=r"2 pose\(s\) have no torso \(needs LHip, RHip, "
                                         r"LShoulder, RShoulder\).*rows \[0, 2\]"):
        out = lifter.lift(kp)
    assert np.isnan(out[[0, 2]]).all() and np.isfinite(out[1]).all()
    # COCO's torso is its own hips and shoulders.
    coco = np.random.default_rng(1).uniform(100, 400, (2, 17, 2))
    coco[1, 11] = np.nan                              # COCO left hip
    with pytest.warns(UserWarning, match=r"no torso \(needs left_hip.*rows \[1\]"):
        out = lifter.lift(coco, layout="coco17")
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()
    # A lifter told not to require one lifts them.
    keep = Lifter(lifter.model, require_torso=False, flip_test=False)
    assert np.isfinite(keep.lift(kp)).all()


def test_empty_batch(lifter):
    out = lifter.lift(np.zeros((0, 17, 2), np.float32))
    assert out.shape == (0, 17, 3)


def _coco_to_h36m_by_hand(coco: np.ndarray) -> np.ndarray:
    """Hand-written COCO17 -> H36M17 (pelvis, spine, thorax and head synthesized)."""
    c = {name: coco[:, i] for i, name in enumerate(COCO17.joints)}
    mid = lambda a, b: 0.5 * (c[a] + c[b])  # noqa: E731
    h = {
        "Hip": mid("left_hip", "right_hip"), "RHip": c["right_hip"], "RKnee": c["right_knee"],
        "RFoot": c["right_ankle"], "LHip": c["left_hip"], "LKnee": c["left_knee"],
        "LFoot": c["left_ankle"],
        "Spine": 0.25 * (c["left_hip"] + c["right_hip"] + c["left_shoulder"]
                         + c["right_shoulder"]),
        "Thorax": mid("left_shoulder", "right_shoulder"), "Neck/Nose": c["nose"],
        "Head": mid("left_ear", "right_ear"),
        "LShoulder": c["left_shoulder"], "LElbow": c["left_elbow"], "LWrist": c["left_wrist"],
        "RShoulder": c["right_shoulder"], "RElbow": c["right_elbow"],
        "RWrist": c["right_wrist"],
    }
    return np.stack([h[j] for j in H36M17.joints], 1)


def test_coco17_input(lifter):
    coco = pixel_poses(3, seed=4)
    out = lifter.lift(coco, layout="coco17")
    assert out.shape == (3, 17, 3) and np.isfinite(out).all()
    np.testing.assert_allclose(out, lifter.lift(_coco_to_h36m_by_hand(coco)), rtol=1e-4,
                               atol=1e-2)
    # Alias accepted too.
    np.testing.assert_allclose(lifter.lift(coco, layout="coco"), out, rtol=1e-5, atol=1e-3)


def test_mpii16_input(lifter):
    mpii = pixel_poses(3, j=16, seed=5)
    out = lifter.lift(mpii, layout="mpii16")
    assert out.shape == (3, 17, 3) and np.isfinite(out).all()
    # By joint name; MPII has no Neck/Nose, which is then missing.
    h36m = np.full((3, 17, 2), np.nan, np.float32)
    for i, name in enumerate(MPII16.joints):
        h36m[:, H36M17.index(name)] = mpii[:, i]
    assert np.isnan(h36m[:, H36M17.index("Neck/Nose")]).all()
    np.testing.assert_allclose(out, lifter.lift(h36m), rtol=1e-5, atol=1e-3)


def test_numpy_and_torch_backends_agree(lifter, np_lifter, model_file):
    kp = pixel_poses(20, seed=6)
    kp[::4, 3] = np.nan
    a, b = lifter.lift(kp), np_lifter.lift(kp)
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-3)
    assert np_lifter.backend == "numpy" and np_lifter.info["name"] == "tiny-test"
    # Without flip-test averaging too.
    la = Lifter(model_file, device="cpu", flip_test=False)
    lb = Lifter(model_file, backend="numpy", flip_test=False)
    np.testing.assert_allclose(lb.lift(kp), la.lift(kp), rtol=1e-4, atol=1e-3)


def test_bad_backend_and_device(model_file):
    with pytest.raises(ValueError, match="backend"):
        Lifter(model_file, backend="jax")
    with pytest.raises(ValueError, match="CPU"):
        Lifter(model_file, backend="numpy", device="cuda")


def test_bf16_stays_within_bfloat16_rounding_of_fp32(model_file):
    kp = pixel_poses(64, seed=10)
    kp[::5, 5] = np.nan     # a missing knee (not the torso)
    exact = Lifter(model_file, device="cpu").lift(kp)
    fast = Lifter(model_file, device="cpu", precision="bf16")
    out = fast.lift(kp)
    assert fast.backend == "torch" and out.dtype == np.float32 and out.shape == exact.shape
    # bfloat16 keeps 8 significant bits (relative rounding 2^-9 per value); through three
    # layers the output may drift by a few of those, far less than 2 % of its size.  It
    # must drift somewhat, or the products were not computed in bfloat16 at all.
    drift = np.abs(out - exact).mean() / np.abs(exact).mean()
    assert 1e-5 < drift < 0.02


def test_bad_precision(model_file):
    with pytest.raises(ValueError, match="precision 'fp8'"):
        Lifter(model_file, precision="fp8")
    with pytest.raises(ValueError, match="numpy backend computes in float32"):
        Lifter(model_file, backend="numpy", precision="bf16")
    # "auto" picks the backend that can compute in bfloat16.
    assert Lifter(model_file, backend="auto", precision="bf16").backend == "torch"
    assert Lifter(model_file, backend="auto").backend == "numpy"


@pytest.mark.parametrize("backend", ["torch", "numpy"])
@pytest.mark.parametrize("scale, shift", [(3.0, (250.0, -90.0)), (0.25, (-1000.0, 4000.0))])
def test_output_invariant_to_2d_translation_and_scale(lifter, np_lifter, backend, scale, shift):
    lf = lifter if backend == "torch" else np_lifter
    kp = pixel_poses(6, seed=7)
    kp[2, 0] = np.nan  # also without a root: centred on the centroid instead
    a = lf.lift(kp)
    b = lf.lift(kp * scale + np.array(shift, np.float32))
    np.testing.assert_allclose(b, a, rtol=1e-3, atol=2e-2)


def mirror_pixels(kp: np.ndarray, width: float = 1280.0) -> np.ndarray:
    """Mirror an image horizontally: x -> width - x, and left/right joints swap names."""
    out = kp[..., PERM, :].copy()
    out[..., 0] = width - out[..., 0]
    return out


def mirror_3d(pose: np.ndarray) -> np.ndarray:
    out = pose[..., PERM, :].copy()
    out[..., 0] = -out[..., 0]
    return out


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_flip_test_is_mirror_equivariant(model_file, backend):
    lf = Lifter(model_file, device="cpu", backend=backend, flip_test=True)
    kp = pixel_poses(5, seed=8)
    kp[1, [12, 13]] = np.nan  # asymmetric missing joints
    out = lf.lift(kp)
    out_m = lf.lift(mirror_pixels(kp))
    np.testing.assert_allclose(out_m, mirror_3d(out), rtol=1e-4, atol=1e-2)
    # Without flip-test a random network is not equivariant: the property above is not vacuous.
    plain = Lifter(model_file, device="cpu", backend=backend, flip_test=False)
    assert np.abs(plain.lift(mirror_pixels(kp)) - mirror_3d(plain.lift(kp))).max() > 1.0


def test_flip_test_averages_the_two_passes(model_file):
    on = Lifter(model_file, device="cpu", flip_test=True)
    off = Lifter(model_file, device="cpu", flip_test=False)
    kp = pixel_poses(4, seed=9)
    expected = 0.5 * (off.lift(kp) + mirror_3d(off.lift(mirror_pixels(kp))))
    np.testing.assert_allclose(on.lift(kp), expected, rtol=1e-4, atol=1e-2)


def test_accepts_a_loaded_module(model_file):
    from wildpose.zoo import load_model

    module = load_model(model_file)
    a = Lifter(module, device="cpu").lift(pixel_poses(2))
    b = Lifter(model_file, device="cpu").lift(pixel_poses(2))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
