"""Per-pose 2D normalization, the horizontal mirror and training augmentation.

Expected values are computed by hand (small poses) or follow from properties the operations
must have (invariance to translation / uniform scale, involution, rigid-body facts), never from
the code's own output.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wildpose.augment import AugmentConfig, augment_batch
from wildpose.normalization import denormalize_2d, normalize_2d
from wildpose.skeleton import H36M17, flip_pose

RNG = np.random.default_rng(1234)
LW, RW = H36M17.index("LWrist"), H36M17.index("RWrist")


def random_poses(n: int, j: int = 17, rng=RNG) -> np.ndarray:
    """(n, j, 2) pixel poses around (500, 400), ~100 px tall."""
    return (rng.normal(size=(n, j, 2)) * 60 + np.array([500.0, 400.0])).astype(np.float64)


# --------------------------------------------------------------------------- normalize_2d
def test_hand_computed_three_joints():
    kp = np.array([[10.0, 20.0], [13.0, 24.0], [10.0, 8.0]])  # offsets (3,4) and (0,-12)
    valid = np.ones(3, bool)
    norm, center, scale = normalize_2d(kp, valid, root=0)
    # RMS distance from the root over the three joints (root contributes 0): (0+25+144)/3
    expected_scale = np.sqrt((0 + 25 + 144) / 3)
    np.testing.assert_allclose(center, [10.0, 20.0])
    np.testing.assert_allclose(scale, expected_scale)
    np.testing.assert_allclose(norm, np.array([[0, 0], [3, 4], [0, -12]]) / expected_scale)
    # The normalized pose has unit RMS distance from the root.
    np.testing.assert_allclose(np.sqrt((norm ** 2).sum(-1).mean()), 1.0)


def test_integer_pixels_are_not_truncated():
    kp = np.array([[10, 20], [13, 24], [10, 8]])  # int64, as from a detector's int output
    norm, center, scale = normalize_2d(kp, np.ones(3, bool))
    assert np.issubdtype(norm.dtype, np.floating)
    np.testing.assert_allclose(norm, np.array([[0, 0], [3, 4], [0, -12]]) / np.sqrt(169 / 3))
    norm_t, _, _ = normalize_2d(torch.from_numpy(kp), torch.ones(3, dtype=torch.bool))
    np.testing.assert_allclose(norm_t.numpy(), norm, rtol=1e-6)


def test_root_other_than_index_zero():
    kp = np.array([[13.0, 24.0], [10.0, 20.0], [10.0, 8.0]])
    norm, center, scale = normalize_2d(kp, np.ones(3, bool), root=1)
    np.testing.assert_allclose(center, [10.0, 20.0])
    np.testing.assert_allclose(norm[1], [0.0, 0.0])
    np.testing.assert_allclose(scale, np.sqrt(169 / 3))


@pytest.mark.parametrize("s, t", [(2.5, (100.0, -40.0)), (0.1, (-1e3, 3e3)), (1.0, (7.0, 0.0))])
def test_invariant_to_translation_and_uniform_scale(s, t):
    kp = random_poses(8)
    valid = RNG.random((8, 17)) > 0.2
    valid[:, 0] = RNG.random(8) > 0.5  # some poses with and some without their root
    n1, c1, s1 = normalize_2d(kp, valid)
    n2, c2, s2 = normalize_2d(kp * s + np.array(t), valid)
    np.testing.assert_allclose(n2, n1, atol=1e-9)
    np.testing.assert_allclose(s2, s1 * s, rtol=1e-9)
    np.testing.assert_allclose(c2, c1 * s + np.array(t), rtol=1e-9, atol=1e-6)


def test_denormalize_round_trip_on_valid_joints():
    kp = random_poses(5)
    valid = RNG.random((5, 17)) > 0.3
    norm, center, scale = normalize_2d(kp, valid)
    back = denormalize_2d(norm, center, scale)
    np.testing.assert_allclose(back[valid], kp[valid], rtol=1e-12, atol=1e-9)


def test_invalid_root_falls_back_to_centroid_of_valid_joints():
    kp = np.array([[1e6, -1e6],      # root, invalid: its value must not matter
                   [0.0, 0.0], [4.0, 0.0], [4.0, 6.0], [0.0, 6.0]])
    valid = np.array([False, True, True, True, True])
    norm, center, scale = normalize_2d(kp, valid, root=0)
    np.testing.assert_allclose(center, [2.0, 3.0])  # the rectangle's centre
    # Every valid corner is sqrt(2^2+3^2) from the centre; mean over the 4 valid joints.
    np.testing.assert_allclose(scale, np.sqrt(13.0))
    np.testing.assert_allclose(norm[0], [0.0, 0.0])


def test_invalid_joints_are_zero_and_do_not_affect_scale():
    kp = random_poses(1)[0]
    valid = np.ones(17, bool)
    valid[[3, 10, 16]] = False
    garbage = kp.copy()
    garbage[[3, 10, 16]] = [[1e7, 1e7], [np.nan, np.nan], [-np.inf, 5.0]]
    norm, center, scale = normalize_2d(garbage, valid)
    assert np.isfinite(norm).all()
    np.testing.assert_array_equal(norm[~valid], 0.0)
    # Scale by hand from the valid joints only.
    d = kp[valid] - kp[0]
    np.testing.assert_allclose(scale, np.sqrt((d ** 2).sum(-1).mean()))
    np.testing.assert_allclose(norm[valid], d / scale)


def test_nothing_valid_gives_zeros_not_nan():
    norm, center, scale = normalize_2d(random_poses(1)[0], np.zeros(17, bool))
    assert np.isfinite(norm).all() and np.isfinite(scale).all() and np.isfinite(center).all()
    np.testing.assert_array_equal(norm, 0.0)


def test_numpy_and_torch_agree():
    kp = random_poses(16).astype(np.float32)
    valid = RNG.random((16, 17)) > 0.25
    valid[::3, 0] = False
    valid[5] = False  # a pose with no valid joint at all
    n_np, c_np, s_np = normalize_2d(kp, valid)
    n_t, c_t, s_t = normalize_2d(torch.from_numpy(kp), torch.from_numpy(valid))
    assert isinstance(n_t, torch.Tensor)
    np.testing.assert_allclose(n_t.numpy(), n_np, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c_t.numpy(), c_np, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(s_t.numpy(), s_np, rtol=1e-5)
    assert n_np.dtype == np.float32




# ------------------------------------------------------------------------------ flip_pose
def _hand_pose_3d() -> np.ndarray:
    """An asymmetric H36M17 pose in mm, built joint by joint."""
    return np.array([
        [0, 0, 0], [-120, 10, 5], [-130, 420, 30], [-140, 830, 10],       # hip, right leg
        [125, -5, 0], [140, 400, -40], [150, 820, 0],                       # left leg
        [5, -230, 10], [10, -480, 20], [15, -580, -40], [15, -680, 0],      # spine, head
        [170, -450, 20], [420, -400, 60], [600, -200, 120],                 # left arm
        [-160, -460, 10], [-330, -250, 40], [-310, -20, -80],               # right arm
    ], dtype=np.float64)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_flip_is_an_involution(dim, kind):
    pose = _hand_pose_3d()[None, :, :dim].repeat(3, 0)
    if kind == "torch":
        pose = torch.from_numpy(pose)
        before = pose.clone()
        twice = flip_pose(flip_pose(pose))
        assert torch.equal(twice, pose) and torch.equal(pose, before)  # input untouched
    else:
        before = pose.copy()
        np.testing.assert_array_equal(flip_pose(flip_pose(pose)), pose)
        np.testing.assert_array_equal(pose, before)


def test_flip_mirrors_x_and_swaps_wrists():
    pose = _hand_pose_3d()
    out = flip_pose(pose)
    # The mirrored left wrist is where the right wrist was, with x negated; and vice versa.
    np.testing.assert_array_equal(out[LW], pose[RW] * [-1, 1, 1])
    np.testing.assert_array_equal(out[RW], pose[LW] * [-1, 1, 1])
    # Centre-line joints stay put apart from the sign of x.
    for name in ("Hip", "Spine", "Thorax", "Neck/Nose", "Head"):
        j = H36M17.index(name)
        np.testing.assert_array_equal(out[j], pose[j] * [-1, 1, 1])
    # y and z are the same multiset; x is negated.
    np.testing.assert_array_equal(np.sort(out[:, 0]), np.sort(-pose[:, 0]))
    np.testing.assert_array_equal(np.sort(out[:, 1:], 0), np.sort(pose[:, 1:], 0))


def test_flip_preserves_bone_lengths_and_swaps_sides():
    pose = _hand_pose_3d()
    out = flip_pose(pose)

    def length(p, bone):
        a, b = H36M17.bone(bone)
        return np.linalg.norm(p[b] - p[a])

    for name in H36M17.bone_names:
        other = name.replace("left", "@").replace("right", "left").replace("@", "right")
        assert length(out, name) == pytest.approx(length(pose, other), abs=1e-9), name
    # Overall, the multiset of bone lengths is unchanged.
    lens = lambda p: sorted(length(p, b) for b in H36M17.bone_names)  # noqa: E731
    np.testing.assert_allclose(lens(out), lens(pose))


# -------------------------------------------------------------------------- augment_batch
def _batch(b: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    kp = torch.from_numpy(rng.normal(size=(b, 17, 2)).astype(np.float32))
    kp[:, 0] = 0  # root-centred, as normalize_2d gives
    valid = torch.from_numpy(rng.random((b, 17)) > 0.2)
    valid[:, 0] = True
    kp = kp * valid[..., None]
    pose = torch.from_numpy(rng.normal(size=(b, 17, 3)).astype(np.float32) * 300)
    pose[:, 0] = 0
    return kp, valid, pose


def test_flip_prob_one_flips_2d_and_3d():
    kp, valid, pose = _batch()
    cfg = AugmentConfig(flip_prob=1.0)
    k2, v2, p2 = augment_batch(kp, valid, pose, cfg, torch.Generator().manual_seed(0))
    perm = H36M17.flip_permutation()
    x_neg = torch.tensor([-1.0, 1.0])
    torch.testing.assert_close(k2, kp[:, perm] * x_neg, rtol=0, atol=0)
    torch.testing.assert_close(p2, pose[:, perm] * torch.tensor([-1.0, 1.0, 1.0]), rtol=0, atol=0)
    assert torch.equal(v2, valid[:, perm])
    # Left wrist of the output is the mirrored right wrist of the input, in 2D and 3D alike.
    torch.testing.assert_close(k2[:, LW, 0], -kp[:, RW, 0], rtol=0, atol=0)
    torch.testing.assert_close(p2[:, LW, 0], -pose[:, RW, 0], rtol=0, atol=0)


def test_partial_flip_is_consistent_between_2d_3d_and_validity():
    kp, valid, pose = _batch(64, seed=3)
    k2, v2, p2 = augment_batch(kp, valid, pose, AugmentConfig(flip_prob=0.5),
                               torch.Generator().manual_seed(7))
    flipped_kp, flipped_3d = flip_pose(kp), flip_pose(pose)
    perm = H36M17.flip_permutation()
    n_flipped = 0
    for i in range(len(kp)):
        is_f2 = torch.equal(k2[i], flipped_kp[i])
        is_f3 = torch.equal(p2[i], flipped_3d[i])
        if is_f3:
            n_flipped += 1
            assert is_f2 and torch.equal(v2[i], valid[i, perm]), i
        else:
            assert torch.equal(p2[i], pose[i]) and torch.equal(k2[i], kp[i]), i
            assert torch.equal(v2[i], valid[i]), i
    assert 10 < n_flipped < 54  # ~half of 64


def test_drop_never_drops_the_root():
    kp, valid, pose = _batch()
    cfg = AugmentConfig(flip_prob=0.0, drop_prob=1.0, drop_limb_prob=1.0)
    k2, v2, p2 = augment_batch(kp, valid, pose, cfg, torch.Generator().manual_seed(0))
    assert v2[:, 0].all()
    assert not v2[:, 1:].any()  # drop_prob = 1 drops everything else
    assert torch.equal(k2[:, 1:], torch.zeros_like(k2[:, 1:]))
    assert torch.equal(p2, pose)  # 3D targets are never dropped
    # Moderate dropping, many seeds: the root survives every time.
    for seed in range(5):
        _, v3, _ = augment_batch(kp, valid, pose, AugmentConfig(0.5, 0.1, 0.5, 0.5),
                                 torch.Generator().manual_seed(seed))
        assert v3[:, 0].all()
        assert not (v3 & ~valid[:, H36M17.flip_permutation()] & ~valid).any()  # never revived


def test_group_drop_removes_whole_limb_ends_or_the_head():
    kp, valid, pose = _batch(64)
    valid[:] = True
    cfg = AugmentConfig(flip_prob=0.0, drop_limb_prob=1.0)
    _, v2, _ = augment_batch(kp, valid, pose, cfg, torch.Generator().manual_seed(1))
    ends = [("LElbow", "LWrist"), ("RElbow", "RWrist"), ("LKnee", "LFoot"), ("RKnee", "RFoot"),
            ("Neck/Nose", "Head")]
    for row in v2:
        missing = {H36M17.joints[j] for j in torch.nonzero(~row).flatten().tolist()}
        assert any(missing == set(e) for e in ends), missing


def test_noise_max_zero_leaves_keypoints_unchanged():
    kp, valid, pose = _batch()
    cfg = AugmentConfig(flip_prob=0.0, noise_max=0.0)
    k2, v2, p2 = augment_batch(kp.clone(), valid.clone(), pose.clone(), cfg,
                               torch.Generator().manual_seed(0))
    assert torch.equal(k2, kp) and torch.equal(v2, valid) and torch.equal(p2, pose)


def test_noise_changes_only_valid_joints():
    kp, valid, pose = _batch()
    k2, v2, _ = augment_batch(kp, valid, pose, AugmentConfig(flip_prob=0.0, noise_max=0.1),
                              torch.Generator().manual_seed(0))
    assert torch.equal(v2, valid)
    assert torch.equal(k2[~valid], torch.zeros_like(k2[~valid]))
    diff = (k2 - kp)[valid]
    assert 0 < diff.abs().mean() < 0.1


def test_same_seed_same_output_different_seed_different_output():
    kp, valid, pose = _batch()
    cfg = AugmentConfig(flip_prob=0.5, noise_max=0.1, drop_prob=0.2, drop_limb_prob=0.3)
    a = augment_batch(kp, valid, pose, cfg, torch.Generator().manual_seed(42))
    b = augment_batch(kp, valid, pose, cfg, torch.Generator().manual_seed(42))
    c = augment_batch(kp, valid, pose, cfg, torch.Generator().manual_seed(43))
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    assert not torch.equal(a[0], c[0])
