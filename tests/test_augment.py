"""Training-time augmentation (wildpose.augment): mirrors, noise, dropped joints and limbs,
detector-error transplant and new body proportions, on hand-made batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wildpose.augment import (AugmentConfig, augment_batch, mirror_samples, random_bone_factors,
                              rescale_bones, transplant_errors)
from wildpose.skeleton import H36M17, flip_pose

J = H36M17.num_joints
LW, RW = H36M17.index("LWrist"), H36M17.index("RWrist")


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


def test_mirror_samples_mirrors_whole_windows_of_the_chosen_samples_only():
    kp, valid, pose = _batch(6)
    # (B, W, J, D) windows: sample i's three frames are its pose shifted by 0, 1, 2 in y.
    win = torch.stack([kp + torch.tensor([0.0, f]) for f in range(3)], 1)
    wvalid = valid[:, None].expand(6, 3, J)
    wpose = pose[:, None].expand(6, 3, J, 3)
    flip = torch.tensor([True, False, True, False, False, True])
    k2, v2, p2 = mirror_samples(flip, win, wvalid, wpose)
    for i in range(6):
        if flip[i]:   # every frame: the left wrist is the right wrist with x negated
            torch.testing.assert_close(k2[i, :, LW], win[i, :, RW] * torch.tensor([-1.0, 1.0]))
            torch.testing.assert_close(p2[i, :, RW, 0], -wpose[i, :, LW, 0])
            assert torch.equal(v2[i, :, LW], wvalid[i, :, RW])
        else:
            assert torch.equal(k2[i], win[i]) and torch.equal(v2[i], wvalid[i])
            assert torch.equal(p2[i], wpose[i])


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


def _random_windows(frames: int, seed: int, n: int = 6):
    """n random windows of normalized 2D (n, frames, J, 2), their validity (about 80 %
    of joints) and one (n, J, 3) pose each, as torch tensors for augment_batch."""
    rng = np.random.default_rng(seed)
    kp = torch.from_numpy(rng.normal(size=(n, frames, J, 2)).astype(np.float32))
    valid = torch.from_numpy(rng.random((n, frames, J)) > 0.2)
    pose = torch.from_numpy(rng.normal(size=(n, J, 3)).astype(np.float32))
    return kp, valid, pose


def test_a_window_is_mirrored_as_one_sample():
    kp, valid, pose = _random_windows(frames=4, seed=0)
    gen = torch.Generator().manual_seed(0)
    k2, v2, p2 = augment_batch(kp, valid, pose, AugmentConfig(flip_prob=1.0), gen)
    perm = H36M17.flip_permutation()
    np.testing.assert_array_equal(v2.numpy(), valid.numpy()[..., perm])
    expected = flip_pose(kp.numpy()) * valid.numpy()[..., perm, None]
    np.testing.assert_allclose(k2.numpy(), expected)
    np.testing.assert_allclose(p2.numpy(), flip_pose(pose.numpy()))


def test_a_dropped_limb_stays_dropped_through_the_window():
    kp = torch.ones(64, 5, J, 2)
    valid = torch.ones(64, 5, J, dtype=torch.bool)
    gen = torch.Generator().manual_seed(1)
    _, v2, _ = augment_batch(kp, valid, None, AugmentConfig(0.0, 0.0, 0.0, 1.0), gen)
    assert (v2 == v2[:, :1]).all()                   # the same joints in every frame
    assert ((~v2[:, 0]).sum(-1) == 2).all()          # each sample lost one pair of joints
    assert v2[..., H36M17.root].all()


def test_transplanted_error_is_the_donors_detection_minus_its_truth():
    truth = torch.zeros(2, 17, 2)
    truth[:, 1] = torch.tensor([1.0, 2.0])
    det = truth + 5.0  # kept where not hit
    donor_truth = torch.full((2, 17, 2), 0.5)
    donor = donor_truth.clone()
    donor[:, 1] += torch.tensor([0.1, -0.2])   # the donor's detector error on joint 1
    ok = torch.ones(2, 17, dtype=torch.bool)
    donor_ok = ok.clone()
    donor_ok[:, 3] = False                       # the donor's detector lost joint 3
    kp, valid = transplant_errors(det, ok, (truth, ok), (donor, donor_ok),
                                  (donor_truth, ok), torch.tensor([True, False]))
    assert torch.allclose(kp[0, 1], torch.tensor([1.1, 1.8]))
    assert torch.allclose(kp[0, 0], torch.zeros(2))          # error 0 where none was made
    assert not valid[0, 3] and kp[0, 3].abs().sum() == 0     # a lost joint stays lost
    assert torch.equal(kp[1], det[1]) and valid[1].all()     # not hit: unchanged


def test_bone_factors_are_in_range_and_shared_by_mirror_bones():
    f = random_bone_factors(500, 0.2, torch.Generator().manual_seed(0)).numpy()
    names = list(H36M17.bone_names)
    assert f.shape == (500, len(names)) and f.min() >= 0.8 and f.max() <= 1.2
    for left in [n for n in names if n.startswith("left ")]:
        right = "right " + left[len("left "):]
        np.testing.assert_array_equal(f[:, names.index(left)], f[:, names.index(right)])
    # Different bones are drawn independently; no change at max_change 0.
    assert np.corrcoef(f[:, names.index("left upper arm")],
                       f[:, names.index("left lower arm")])[0, 1] < 0.2
    assert (random_bone_factors(3, 0.0, torch.Generator()).numpy() == 1).all()
    with pytest.raises(ValueError, match="max_change"):
        random_bone_factors(3, 1.5, torch.Generator())


def test_rescaled_bones_keep_direction_and_root_and_take_the_factors():
    rng = np.random.default_rng(0)
    pose = rng.normal(size=(2, 3, J, 3)) * 300 + np.array([0.0, 0.0, 4000.0])
    factors = rng.uniform(0.8, 1.2, size=(2, 1, len(H36M17.edges)))  # one body per window
    new = rescale_bones(pose, factors)
    np.testing.assert_allclose(H36M17.bone_lengths(new), H36M17.bone_lengths(pose) * factors)
    np.testing.assert_array_equal(new[..., 0, :], pose[..., 0, :])
    for a, b in H36M17.edges:
        d0, d1 = pose[..., b, :] - pose[..., a, :], new[..., b, :] - new[..., a, :]
        np.testing.assert_allclose(d1 / np.linalg.norm(d1, axis=-1, keepdims=True),
                                   d0 / np.linalg.norm(d0, axis=-1, keepdims=True), atol=1e-9)


def test_rescaled_bones_in_float32_torch_take_the_factors():
    # The trainer makes its new bodies as float32 tensors: the same facts must hold there,
    # to float32's precision, and the dtype must stay.

    rng = np.random.default_rng(1)
    pose = rng.normal(size=(4, 3, J, 3)) * 300 + np.array([0.0, 0.0, 4000.0])
    factors = rng.uniform(0.8, 1.2, size=(4, 1, len(H36M17.edges)))
    new = rescale_bones(torch.tensor(pose, dtype=torch.float32),
                        torch.tensor(factors, dtype=torch.float32))
    assert new.dtype == torch.float32
    new = new.double().numpy()
    np.testing.assert_allclose(H36M17.bone_lengths(new), H36M17.bone_lengths(pose) * factors,
                               rtol=1e-5)
    np.testing.assert_allclose(new[..., 0, :], pose[..., 0, :], rtol=1e-6)
