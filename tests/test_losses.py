"""Training losses (wildpose.losses) against hand-computed values and invariances: Zhou et
al.'s geometric loss; Ronchi et al.'s ranking, reprojection, root and limb-prior losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wildpose.losses import (canonical_bone_lengths, geo_loss, left_right_bone_pairs,
                             limb_prior_loss, ranking_loss, reprojection_loss)
from wildpose.skeleton import H36M17

torch.set_num_threads(1)

BONES = H36M17.bone_names


def build_pose(lengths, seed=0) -> torch.Tensor:
    """A (17, 3) H36M17 pose whose bones have the given lengths, in random directions.

    Parents come before children in H36M17, so each joint is placed from its parent."""
    rng = np.random.default_rng(seed)
    pose = np.zeros((17, 3))
    for e, (p, c) in enumerate(H36M17.edges):
        d = rng.normal(size=3)
        pose[c] = pose[p] + lengths[e] * d / np.linalg.norm(d)
    return torch.tensor(pose, dtype=torch.float64)


CANON = np.linspace(0.8, 2.3, 16)  # distinct canonical lengths, so ratios are not lengths


def with_ratios(**ratios: float) -> np.ndarray:
    """Bone lengths = canonical x ratio (ratio 1 for bones not named; '_' for spaces)."""
    r = np.ones(16)
    for name, v in ratios.items():
        r[BONES.index(name.replace("_", " "))] = v
    return CANON * r


def test_hand_computed_legs_1_1_1_2():
    pose = build_pose(with_ratios(left_lower_leg=2.0))[None]
    # legs: ratios (1, 1, 1, 2), mean 1.25: (3 * 0.25^2 + 0.75^2) / 4 = 0.1875; others 0.
    assert geo_loss(pose, CANON).item() == pytest.approx(0.1875, abs=1e-9)


def test_hand_computed_sum_over_groups():
    lengths = with_ratios(right_lower_arm=1, right_upper_arm=2, left_upper_arm=3,
                          left_lower_arm=4, right_hip=1, left_hip=3)
    # arms: mean 2.5, (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25; hips: mean 2, (1 + 1) / 2 = 1.
    assert geo_loss(build_pose(lengths)[None], CANON).item() == pytest.approx(2.25, abs=1e-9)


def test_batched_per_sample():
    a = build_pose(with_ratios(left_lower_leg=2.0), seed=1)
    b = build_pose(CANON, seed=2)
    out = geo_loss(torch.stack([a, b, a]), CANON)
    assert out.shape == (3,)
    assert out.tolist() == pytest.approx([0.1875, 0.0, 0.1875], abs=1e-9)


@pytest.mark.parametrize("scale", [1e-3, 0.37, 1.0, 250.0])
def test_zero_for_uniformly_scaled_canonical_skeleton(scale):
    poses = torch.stack([build_pose(scale * CANON, seed=s) for s in range(4)])
    assert geo_loss(poses, CANON).abs().max().item() < 1e-9


def test_unchanged_by_rotation_and_translation():
    rng = np.random.default_rng(5)
    poses = torch.stack([build_pose(CANON * rng.uniform(0.5, 1.5, 16), seed=s)
                         for s in range(6)])
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rot = torch.tensor(q * np.sign(np.linalg.det(q)))  # a proper rotation
    moved = poses @ rot.T + torch.tensor([3.0, -1.0, 7.0])
    before, after = geo_loss(poses, CANON), geo_loss(moved, CANON)
    assert before.min().item() > 1e-3  # the poses are not trivially zero-loss
    torch.testing.assert_close(after, before, rtol=1e-9, atol=1e-12)


def test_gradient_finite_at_zero_length_bone():
    pose = build_pose(CANON)
    pose[3] = pose[2]  # right lower leg has length 0
    pose = pose.float()[None].requires_grad_(True)
    loss = geo_loss(pose, CANON).sum()
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pose.grad).all()
    flat = torch.zeros(2, 17, 3, requires_grad=True)  # every bone of length 0
    geo_loss(flat, CANON).sum().backward()
    assert torch.isfinite(flat.grad).all()


def test_masked_bones_left_out_of_their_group():
    lengths = with_ratios(right_lower_leg=1, right_upper_leg=3, left_upper_leg=2,
                          left_lower_leg=10, left_upper_arm=5, left_shoulder=4)
    pose = build_pose(lengths)[None].clone()
    valid = torch.ones(1, 17, dtype=torch.bool)
    valid[0, H36M17.index("LFoot")] = False       # drops left lower leg (ratio 10)
    valid[0, H36M17.index("LShoulder")] = False   # drops left shoulder and left upper arm
    pose[0, H36M17.index("LFoot")] = float("nan")  # missing joints may hold anything
    pose.requires_grad_(True)
    # legs (1, 3, 2): mean 2, (1 + 1 + 0) / 3; arms: the rest are 1 -> 0; shoulders: only
    # one bone left -> 0; hips 0.
    loss = geo_loss(pose, CANON, valid=valid)
    assert loss.item() == pytest.approx(2 / 3, abs=1e-9)
    loss.sum().backward()
    assert torch.isfinite(pose.grad).all()
    # Without the mask the same pose scores far higher.
    assert geo_loss(build_pose(lengths)[None], CANON).item() > 5


def test_bfloat16_input_is_scored_in_float32():
    pose = build_pose(with_ratios(left_lower_leg=2.0))[None].to(torch.bfloat16)
    out = geo_loss(pose, CANON)
    assert out.dtype == torch.float32 and out.item() == pytest.approx(0.1875, abs=0.02)


def test_bad_canonical_lengths_rejected():
    pose = build_pose(CANON)[None]
    with pytest.raises(ValueError, match="16 positive"):
        geo_loss(pose, CANON[:15])
    with pytest.raises(ValueError, match="16 positive"):
        geo_loss(pose, np.where(np.arange(16) == 4, 0.0, CANON))


def test_canonical_bone_lengths_is_the_mean_over_poses():
    a, b = build_pose(CANON, seed=1), build_pose(3 * CANON, seed=2)
    out = canonical_bone_lengths(torch.stack([a, b]))
    np.testing.assert_allclose(out, 2 * CANON, rtol=1e-12)
    # A missing (NaN) joint is ignored for its bones only.
    c = build_pose(5 * CANON, seed=3)
    c[H36M17.index("LWrist")] = float("nan")
    out = canonical_bone_lengths(np.stack([a.numpy(), b.numpy(), c.numpy()]))
    lower_arm = BONES.index("left lower arm")
    assert out[lower_arm] == pytest.approx(2 * CANON[lower_arm])
    assert out[0] == pytest.approx(3 * CANON[0])


def test_canonical_bone_lengths_error_when_a_group_bone_is_unmeasurable():
    poses = np.stack([build_pose(CANON, seed=s).numpy() for s in range(3)])
    poses[:, H36M17.index("RElbow")] = np.nan
    with pytest.raises(ValueError, match="right upper arm, right lower arm") as e:
        canonical_bone_lengths(poses)
    assert "\n" not in str(e.value)
    # Bones outside every group (the head) need not be measurable.
    poses = np.stack([build_pose(CANON, seed=s).numpy() for s in range(3)])
    poses[:, H36M17.index("Head")] = np.nan
    assert np.isnan(canonical_bone_lengths(poses)[BONES.index("head")])


# ------------------------------------------------------------------ Ronchi et al.'s losses
def t(x, dtype=torch.float32):
    return torch.tensor(x, dtype=dtype)


def hand_batch():
    """Two samples of 3 joints.  Pairs (sample, i, j, label):
    (0, 0, 1, +1): d = z1 - z0 = 1, correct order;
    (0, 2, 0, -1): d = z0 - z2 = -3, j (joint 0) closer, correct;
    (1, 0, 1,  0): d = 0, "same".
    mean |d| = 4/3, so the normalized differences are 0.75, -2.25, 0."""
    depth = t([[0.0, 1.0, 3.0], [2.0, 2.0, 0.0]])
    i, j = t([0, 2, 0], torch.long), t([1, 0, 1], torch.long)
    label, s = t([1, -1, 0], torch.long), t([0, 0, 1], torch.long)
    return depth, i, j, label, s


def test_ranking_loss_hand_value():
    depth, i, j, label, s = hand_batch()
    expected = (math.log(1 + math.exp(-0.75)) + math.log(1 + math.exp(-2.25)) + 0.0) / 3
    assert ranking_loss(depth, i, j, label, s).item() == pytest.approx(expected, rel=1e-5)
    per = ranking_loss(depth, i, j, label, s, reduction="none")
    assert per.tolist() == pytest.approx([math.log(1 + math.exp(-0.75)),
                                          math.log(1 + math.exp(-2.25)), 0.0], rel=1e-5)
    # multiplier 2: normalized differences 1.5, -4.5, 0.
    expected2 = (math.log(1 + math.exp(-1.5)) + math.log(1 + math.exp(-4.5))) / 3
    assert ranking_loss(depth, i, j, label, s, multiplier=2.0).item() == \
        pytest.approx(expected2, rel=1e-5)


def test_ranking_loss_with_a_given_normalizer():
    # normalizer 2 (e.g. a mean bone length): differences 1, -3, 0 become 0.5, -1.5, 0.
    depth, i, j, label, s = hand_batch()
    expected = (math.log(1 + math.exp(-0.5)) + math.log(1 + math.exp(-1.5))) / 3
    assert ranking_loss(depth, i, j, label, s, normalizer=2.0).item() == \
        pytest.approx(expected, rel=1e-5)
    # Scaling depths and normalizer together (a change of units) changes nothing.
    assert ranking_loss(depth * 7, i, j, label, s, normalizer=t(14.0)).item() == \
        pytest.approx(expected, rel=1e-5)


def test_ranking_loss_with_one_normalizer_per_sample():
    # Sample 0 normalized by 2 (differences 1, -3 -> 0.5, -1.5), sample 1 by 5 (0 -> 0).
    depth, i, j, label, s = hand_batch()
    expected = (math.log(1 + math.exp(-0.5)) + math.log(1 + math.exp(-1.5))) / 3
    got = ranking_loss(depth, i, j, label, s, normalizer=t([2.0, 5.0]))
    assert got.item() == pytest.approx(expected, rel=1e-5)
    # Scaling one sample's depths and its normalizer together changes nothing.
    scaled = depth * t([[1.0], [9.0]])
    assert ranking_loss(scaled, i, j, label, s, normalizer=t([2.0, 45.0])).item() == \
        pytest.approx(expected, rel=1e-5)


def test_ranking_loss_same_term_is_squared():
    # One "same" pair with d = 2 and one ordered pair with d = 2: mean |d| = 2, both
    # normalized to 1: (1^2 + log(1 + e^-1)) / 2.
    depth = t([[0.0, 2.0]]).repeat(2, 1)
    loss = ranking_loss(depth, t([0, 0], torch.long), t([1, 1], torch.long),
                        t([0, 1], torch.long), t([0, 1], torch.long))
    assert loss.item() == pytest.approx((1.0 + math.log(1 + math.exp(-1.0))) / 2, rel=1e-6)


def test_ranking_loss_wrong_order_costs_more_than_right_order():
    depth = t([[0.0, 1.0]])
    args = (t([0], torch.long), t([1], torch.long))
    right = ranking_loss(depth, *args, t([1], torch.long), t([0], torch.long))
    wrong = ranking_loss(depth, *args, t([-1], torch.long), t([0], torch.long))
    # |d| normalizes to 1: log(1 + e^-1) vs log(1 + e^1).
    assert right.item() == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-6)
    assert wrong.item() == pytest.approx(math.log(1 + math.e), rel=1e-6)


def test_ranking_loss_invariances():
    depth, i, j, label, s = hand_batch()
    ref = ranking_loss(depth, i, j, label, s).item()
    # A constant depth per sample (or for the batch) changes nothing ...
    shifted = depth + t([[5.0], [-123.0]])
    assert ranking_loss(shifted, i, j, label, s).item() == pytest.approx(ref, rel=1e-6)
    # ... nor does one positive scale for the whole batch (the per-batch normalization) ...
    assert ranking_loss(depth * 37.5, i, j, label, s).item() == pytest.approx(ref, rel=1e-6)
    # ... nor writing a pair the other way round with the opposite label.
    assert ranking_loss(depth, j, i, -label, s).item() == pytest.approx(ref, rel=1e-6)


def test_ranking_loss_gradient_pushes_toward_the_label():
    depth = t([[0.0, -0.1, 1.0]]).requires_grad_()
    # Label: joint 0 closer than joint 1, but 1 is predicted closer (d = -0.1).
    loss = ranking_loss(depth, t([0], torch.long), t([1], torch.long), t([1], torch.long),
                        t([0], torch.long))
    loss.backward()
    # Descending the gradient moves joint 0 nearer and joint 1 farther.
    assert depth.grad[0, 0] > 0 and depth.grad[0, 1] < 0 and depth.grad[0, 2] == 0


def test_ranking_loss_without_pairs_is_zero():
    empty = torch.zeros(0, dtype=torch.long)
    depth = torch.ones(2, 17, requires_grad=True)
    loss = ranking_loss(depth, empty, empty, empty, empty)
    assert loss.item() == 0.0
    loss.backward()


def test_reprojection_loss_hand_value():
    # Joint 0 at the origin, joint 1 at (1, 2, 7); scale 2 projects joint 1 to (2, 4); the
    # keypoint is at (5, 8): distance 5.  Mean over the two joints: 2.5.
    pose = t([[[0.0, 0.0, 5.0], [1.0, 2.0, 7.0]]])
    kp = t([[[0.0, 0.0], [5.0, 8.0]]])
    assert reprojection_loss(pose, t([2.0]), kp).item() == pytest.approx(2.5, rel=1e-6)
    # Depth does not enter a scaled-orthographic projection.
    pose2 = pose.clone()
    pose2[..., 2] = t([[-40.0, 300.0]])
    assert reprojection_loss(pose2, t([2.0]), kp).item() == pytest.approx(2.5, rel=1e-6)
    # A missing joint is left out: only joint 0 remains, error 0.
    valid = t([[True, False]], torch.bool)
    assert reprojection_loss(pose, t([2.0]), kp, valid).item() == pytest.approx(0.0, abs=1e-5)
    # Per sample: a second sample with scale 1 and keypoints (1, 2) fits exactly.
    pose_b = pose.repeat(2, 1, 1)
    kp_b = torch.stack([kp[0], t([[0.0, 0.0], [1.0, 2.0]])])
    per = reprojection_loss(pose_b, t([2.0, 1.0]), kp_b, reduction="none")
    assert per.tolist() == pytest.approx([2.5, 0.0], abs=1e-5)


def test_reprojection_loss_only_sees_the_projection():
    # Growing the pose by c and shrinking the scale by c projects to the same 2D.
    g = torch.Generator().manual_seed(0)
    pose, kp = torch.randn(4, 17, 3, generator=g), torch.randn(4, 17, 2, generator=g)
    scale = torch.rand(4, generator=g) + 0.5
    ref = reprojection_loss(pose, scale, kp).item()
    assert reprojection_loss(pose * 3.0, scale / 3.0, kp).item() == pytest.approx(ref, rel=1e-5)
    # A rotation about the optical axis of both pose and keypoints changes nothing either.
    c, s_ = math.cos(1.1), math.sin(1.1)
    r3 = t([[c, -s_, 0], [s_, c, 0], [0, 0, 1]])
    assert reprojection_loss(pose @ r3.T, scale, kp @ r3[:2, :2].T).item() == \
        pytest.approx(ref, rel=1e-5)


def test_left_right_bone_pairs_of_h36m17():
    names = H36M17.bone_names
    pairs = {(names[a], names[b]) for a, b in left_right_bone_pairs(H36M17)}
    assert pairs == {(f"left {p}", f"right {p}") for p in
                     ("hip", "upper leg", "lower leg", "shoulder", "upper arm", "lower arm")}


def test_limb_prior_hand_value():
    # Uniform mean ratios 1/16.  Every bone has length 1 but the left upper arm 2: total 17,
    # normalized lengths 1/17 (15 bones) and 2/17.
    # ratio term: (15 * |16/17 - 1| + |32/17 - 1|) / 16 = (15/17 + 15/17) / 16 = 30 / 272;
    # symmetry: only the upper-arm pair differs, |2/17 - 1/17| / (1/16) = 16/17, mean over
    # 6 pairs = 16 / 102.
    pose = t(pose_with_bone_lengths({"left upper arm": 2.0}))[None]
    m = np.full(16, 1 / 16)
    assert limb_prior_loss(pose, m, symmetry_weight=0.0).item() == \
        pytest.approx(30 / 272, rel=1e-5)
    assert limb_prior_loss(pose, m).item() == pytest.approx(30 / 272 + 16 / 102, rel=1e-5)
    assert limb_prior_loss(pose, m, symmetry_weight=0.5).item() == \
        pytest.approx(30 / 272 + 8 / 102, rel=1e-5)


def test_limb_prior_is_zero_at_the_mean_skeleton_and_invariant():
    ratios = np.array([0.4, 1.5, 1.4, 0.4, 1.5, 1.4, 0.9, 0.9, 0.4, 0.4, 0.5, 1.0, 0.9, 0.5,
                       1.0, 0.9])
    ratios /= ratios.sum()
    lengths = dict(zip(H36M17.bone_names, ratios * 4000))
    pose = pose_with_bone_lengths(lengths, seed=1)
    assert limb_prior_loss(t(pose)[None], ratios).item() == pytest.approx(0.0, abs=1e-5)
    f64 = torch.float64
    bent = t(pose_with_bone_lengths({**lengths, "right lower leg": 500.0}, seed=2), f64)[None]
    ref = limb_prior_loss(bent, ratios).item()
    assert ref > 0.01
    # Scale, rotation and translation change nothing.
    c, s = math.cos(0.7), math.sin(0.7)
    rot = t([[c, -s, 0], [s, c, 0], [0, 0, 1]], f64)
    moved = 0.03 * bent @ rot.T + t([100.0, -20.0, 5000.0], f64)
    assert limb_prior_loss(moved, ratios).item() == pytest.approx(ref, rel=1e-7)


def test_limb_prior_rejects_bad_ratios():
    with pytest.raises(ValueError, match="mean_ratios"):
        limb_prior_loss(torch.zeros(1, 17, 3), np.ones(15) / 15)


def pose_with_bone_lengths(lengths: dict[str, float], default: float = 1.0,
                           seed: int = 0) -> np.ndarray:
    """A (17, 3) pose whose bones have the given lengths, in random directions."""
    rng = np.random.default_rng(seed)
    pose = np.zeros((17, 3))
    for (parent, child), name in zip(H36M17.edges, H36M17.bone_names):
        d = rng.normal(size=3)
        pose[child] = pose[parent] + lengths.get(name, default) * d / np.linalg.norm(d)
    return pose
