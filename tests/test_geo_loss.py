"""Zhou et al.'s geometric loss and canonical bone lengths, against hand-computed values and
the loss's invariances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wildpose.losses import canonical_bone_lengths, geo_loss
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
