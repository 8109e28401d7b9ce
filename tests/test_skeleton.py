"""Tests of wildpose.skeleton against anatomy and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wildpose.skeleton import (COCO17, H36M17, MPII16, SYMMETRIC_BONES, ZHOU_BONE_GROUPS, Skeleton,
                               convert_layout, flip_pose, get_layout, layout_conversion,
                               set_bone_lengths)

ALL_LAYOUTS = (H36M17, MPII16, COCO17)
TREE_LAYOUTS = (H36M17, MPII16)


def _side(joint: str) -> str:
    """'L', 'R' or 'C' (centre) from a joint name, for both naming styles."""
    if joint.startswith("left_") or (joint[0] == "L" and joint[1].isupper()):
        return "L"
    if joint.startswith("right_") or (joint[0] == "R" and joint[1].isupper()):
        return "R"
    return "C"


def _mirror_name(joint: str) -> str:
    """The name of the mirror-image joint (LWrist <-> RWrist, left_eye <-> right_eye)."""
    side = _side(joint)
    if side == "C":
        return joint
    if "_" in joint:
        return ("right_" if side == "L" else "left_") + joint.split("_", 1)[1]
    return ("R" if side == "L" else "L") + joint[1:]


# ----------------------------------------------------------------------------- structure

def test_h36m17_counts_and_joint_names():
    assert H36M17.num_joints == 17
    assert len(H36M17.joints) == len(set(H36M17.joints)) == 17
    assert len(H36M17.edges) == 16
    assert len(H36M17.bone_names) == len(set(H36M17.bone_names)) == 16
    assert len(H36M17.parents) == 17


def test_mpii16_and_coco17_counts():
    assert MPII16.num_joints == 16 and len(MPII16.edges) == 15
    assert COCO17.num_joints == 17
    assert COCO17.parents == () and COCO17.root is None
    assert len(COCO17.edges) == len(COCO17.bone_names)


@pytest.mark.parametrize("skel", TREE_LAYOUTS, ids=lambda s: s.name)
def test_parents_form_a_tree_rooted_at_hip(skel: Skeleton):
    parents = skel.parents
    assert parents.count(-1) == 1
    assert skel.root == skel.index("Hip")
    for j in range(skel.num_joints):
        # Following parents from any joint reaches the root in fewer than J steps (no cycle).
        node, steps = j, 0
        while parents[node] != -1:
            assert 0 <= parents[node] < skel.num_joints
            node = parents[node]
            steps += 1
            assert steps < skel.num_joints, f"cycle through joint {skel.joints[j]}"
        assert node == skel.root
    # Edges are exactly the (parent, child) pairs.
    assert sorted(skel.edges) == sorted((p, c) for c, p in enumerate(parents) if p >= 0)


@pytest.mark.parametrize("skel", TREE_LAYOUTS, ids=lambda s: s.name)
def test_kinematic_chains_follow_anatomy(skel: Skeleton):
    # child -> parent facts from human anatomy, by name.
    facts = {"RKnee": "RHip", "RFoot": "RKnee", "LKnee": "LHip", "LFoot": "LKnee",
             "RHip": "Hip", "LHip": "Hip", "Spine": "Hip", "Thorax": "Spine",
             "LElbow": "LShoulder", "LWrist": "LElbow", "RElbow": "RShoulder",
             "RWrist": "RElbow", "LShoulder": "Thorax", "RShoulder": "Thorax"}
    for child, parent in facts.items():
        assert skel.parents[skel.index(child)] == skel.index(parent), child
    if skel is H36M17:
        assert H36M17.parents[H36M17.index("Neck/Nose")] == H36M17.index("Thorax")
        assert H36M17.parents[H36M17.index("Head")] == H36M17.index("Neck/Nose")


def test_index_and_bone_lookup():
    assert H36M17.joints[H36M17.index("LWrist")] == "LWrist"
    a, b = H36M17.bone("left lower arm")
    assert (H36M17.joints[a], H36M17.joints[b]) == ("LElbow", "LWrist")
    a, b = H36M17.bone("right upper leg")
    assert (H36M17.joints[a], H36M17.joints[b]) == ("RHip", "RKnee")
    with pytest.raises(ValueError, match="h36m17"):
        H36M17.index("left_wrist")
    with pytest.raises(ValueError, match="tail"):
        H36M17.bone("tail")


# ----------------------------------------------------------------------------- left / right

@pytest.mark.parametrize("skel", ALL_LAYOUTS, ids=lambda s: s.name)
def test_flip_permutation_is_an_involution_swapping_mirror_joints(skel: Skeleton):
    perm = skel.flip_permutation()
    assert sorted(perm.tolist()) == list(range(skel.num_joints))  # a permutation
    np.testing.assert_array_equal(perm[perm], np.arange(skel.num_joints))
    for j, name in enumerate(skel.joints):
        assert skel.joints[perm[j]] == _mirror_name(name), name


def test_flip_permutation_maps_wrists():
    perm = H36M17.flip_permutation()
    assert perm[H36M17.index("LWrist")] == H36M17.index("RWrist")
    assert perm[H36M17.index("RWrist")] == H36M17.index("LWrist")
    for centre in ("Hip", "Spine", "Thorax", "Neck/Nose", "Head"):
        assert perm[H36M17.index(centre)] == H36M17.index(centre)


def test_mirroring_a_pose_swaps_left_and_right_positions():
    rng = np.random.default_rng(0)
    pose = rng.normal(size=(17, 3))
    mirrored = pose[H36M17.flip_permutation()] * np.array([-1.0, 1.0, 1.0])
    # The mirror image's left wrist is where the original right wrist was, x negated.
    np.testing.assert_allclose(mirrored[H36M17.index("LWrist")],
                               pose[H36M17.index("RWrist")] * [-1, 1, 1])
    # Bone lengths of a mirrored pose: left and right swap.
    bl, blm = H36M17.bone_lengths(pose), H36M17.bone_lengths(mirrored)
    for left, right in SYMMETRIC_BONES.values():
        i, k = H36M17.bone_names.index(left), H36M17.bone_names.index(right)
        assert blm[i] == pytest.approx(bl[k]) and blm[k] == pytest.approx(bl[i])


@pytest.mark.parametrize("skel", ALL_LAYOUTS, ids=lambda s: s.name)
def test_left_right_bones_connect_left_right_joints(skel: Skeleton):
    for name, (a, b) in zip(skel.bone_names, skel.edges):
        sides = {_side(skel.joints[a]), _side(skel.joints[b])}
        if name.startswith("left"):
            assert "L" in sides and "R" not in sides, name
        elif name.startswith("right"):
            assert "R" in sides and "L" not in sides, name
        else:
            # A centre bone either joins centre joints or spans both sides (hips, eyes).
            assert sides <= {"C"} or sides == {"L", "R"}, name


def test_zhou_bone_groups_are_h36m17_bones():
    names = [n for group in ZHOU_BONE_GROUPS.values() for n in group]
    assert len(names) == len(set(names)) == 12
    for n in names:
        H36M17.bone(n)  # raises if unknown
    assert set(ZHOU_BONE_GROUPS) == {"legs", "arms", "hips", "shoulders"}
    for n in ZHOU_BONE_GROUPS["legs"]:
        a, b = H36M17.bone(n)
        assert {H36M17.joints[a][1:], H36M17.joints[b][1:]} <= {"Hip", "Knee", "Foot"}
    for n in ZHOU_BONE_GROUPS["arms"]:
        a, b = H36M17.bone(n)
        assert {H36M17.joints[a][1:], H36M17.joints[b][1:]} <= {"Shoulder", "Elbow", "Wrist"}


def test_symmetric_bones_pair_mirror_limb_segments():
    perm = H36M17.flip_permutation()
    for label, (left, right) in SYMMETRIC_BONES.items():
        la, lb = H36M17.bone(left)
        ra, rb = H36M17.bone(right)
        # Limb segments: both ends lateral, on the named side.
        assert _side(H36M17.joints[la]) == _side(H36M17.joints[lb]) == "L", left
        assert _side(H36M17.joints[ra]) == _side(H36M17.joints[rb]) == "R", right
        # Mirroring the left bone's joints gives the right bone.
        assert (perm[la], perm[lb]) == (ra, rb), label


# ----------------------------------------------------------------------------- layouts

def test_get_layout_by_name_alias_and_object():
    assert get_layout("h36m17") is H36M17
    assert get_layout("H36M") is H36M17
    assert get_layout("coco") is COCO17
    assert get_layout("sh") is MPII16
    assert get_layout("MPII") is MPII16
    assert get_layout(MPII16) is MPII16


def test_get_layout_unknown_raises():
    with pytest.raises(ValueError, match="smpl24"):
        get_layout("smpl24")


# ----------------------------------------------------------------------------- conversions

def test_mpii16_to_h36m17_copies_16_and_marks_neck_missing():
    conv = layout_conversion("mpii16", "h36m17")
    assert len(conv.copied) == 16 and conv.synthesized == () and conv.missing == ("Neck/Nose",)
    rng = np.random.default_rng(1)
    sh = rng.uniform(0, 1000, size=(5, 16, 2)).astype(np.float32)
    out, valid = convert_layout(sh, "mpii16", "h36m17")
    assert out.shape == (5, 17, 2) and valid.shape == (5, 17)
    assert out.dtype == np.float32
    for j, name in enumerate(H36M17.joints):
        if name == "Neck/Nose":
            assert not valid[:, j].any()
            np.testing.assert_array_equal(out[:, j], 0)
        else:
            assert valid[:, j].all()
            np.testing.assert_array_equal(out[:, j], sh[:, MPII16.index(name)])
    assert "missing 1 (Neck/Nose)" in conv.describe()


def _coco_example() -> np.ndarray:
    kp = np.full((17, 2), np.nan)
    kp[COCO17.index("nose")] = (118, 60)
    kp[COCO17.index("left_ear")] = (130, 62)
    kp[COCO17.index("right_ear")] = (104, 66)
    kp[COCO17.index("left_shoulder")] = (90, 100)
    kp[COCO17.index("right_shoulder")] = (150, 110)
    kp[COCO17.index("left_hip")] = (100, 200)
    kp[COCO17.index("right_hip")] = (140, 210)
    for name in ("left_eye", "right_eye", "left_elbow", "right_elbow", "left_wrist",
                 "right_wrist", "left_knee", "right_knee", "left_ankle", "right_ankle"):
        kp[COCO17.index(name)] = (0, 0)
    return kp


def test_coco17_to_h36m17_hand_computed():
    out, valid = convert_layout(_coco_example(), "coco", "h36m17")
    assert valid.all()
    # Hip = ((100 + 140) / 2, (200 + 210) / 2)
    np.testing.assert_allclose(out[H36M17.index("Hip")], (120, 205))
    # Thorax = mid-shoulders = ((90 + 150) / 2, (100 + 110) / 2)
    np.testing.assert_allclose(out[H36M17.index("Thorax")], (120, 105))
    # Spine = mean of hips and shoulders = (480 / 4, 620 / 4)
    np.testing.assert_allclose(out[H36M17.index("Spine")], (120, 155))
    # Head = mid-ears = (234 / 2, 128 / 2)
    np.testing.assert_allclose(out[H36M17.index("Head")], (117, 64))
    np.testing.assert_allclose(out[H36M17.index("Neck/Nose")], (118, 60))
    np.testing.assert_allclose(out[H36M17.index("LHip")], (100, 200))
    np.testing.assert_allclose(out[H36M17.index("RHip")], (140, 210))


def test_coco17_missing_left_hip_invalidates_exactly_the_joints_using_it():
    kp = _coco_example()
    kp[COCO17.index("left_hip")] = np.nan
    out, valid = convert_layout(kp, "coco17", "h36m17")
    invalid = {H36M17.joints[j] for j in np.flatnonzero(~valid)}
    assert invalid == {"Hip", "Spine", "LHip"}
    assert valid[H36M17.index("RHip")]
    np.testing.assert_allclose(out[H36M17.index("RHip")], (140, 210))
    assert np.isfinite(out).all()  # invalid joints are zeros, not NaN
    np.testing.assert_array_equal(out[~valid], 0)
    # The same through an explicit mask on finite keypoints.
    kp2 = _coco_example()
    mask = np.ones(17, bool)
    mask[COCO17.index("left_hip")] = False
    _, valid2 = convert_layout(kp2, "coco17", "h36m17", mask=mask)
    np.testing.assert_array_equal(valid2, valid)


def test_h36m17_mpii16_round_trip_preserves_all_but_neck():
    rng = np.random.default_rng(2)
    pose = rng.normal(size=(4, 17, 3))
    sh, v1 = convert_layout(pose, "h36m17", "mpii16")
    assert v1.all()
    back, v2 = convert_layout(sh, "mpii16", "h36m17")
    neck = H36M17.index("Neck/Nose")
    keep = np.arange(17) != neck
    np.testing.assert_array_equal(v2[:, keep], True)
    np.testing.assert_array_equal(v2[:, neck], False)
    np.testing.assert_allclose(back[:, keep], pose[:, keep])
    assert back.dtype == np.float64


def test_coco_to_mpii_composes_through_h36m17():
    out, valid = convert_layout(_coco_example(), "coco", "sh")
    assert out.shape == (16, 2) and valid.all()
    np.testing.assert_allclose(out[MPII16.index("Hip")], (120, 205))
    np.testing.assert_allclose(out[MPII16.index("LHip")], (100, 200))


@pytest.mark.parametrize("pair", [("coco17", "h36m17"), ("mpii16", "h36m17"),
                                  ("h36m17", "coco17"), ("h36m17", "h36m17")])
def test_conversion_weights_rows_average(pair):
    w = layout_conversion(*pair).weights
    sums = w.sum(1)
    assert np.all(np.isclose(sums, 1) | np.isclose(sums, 0))
    assert (w >= 0).all()


def test_numpy_and_torch_agree():
    rng = np.random.default_rng(3)
    kp = rng.normal(size=(2, 3, 17, 2))
    kp[0, 1, COCO17.index("right_shoulder")] = np.nan
    out_np, val_np = convert_layout(kp, "coco17", "h36m17")
    out_t, val_t = convert_layout(torch.from_numpy(kp), "coco17", "h36m17")
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float64
    assert val_t.dtype == torch.bool
    np.testing.assert_allclose(out_t.numpy(), out_np, atol=1e-12)
    np.testing.assert_array_equal(val_t.numpy(), val_np)
    assert not val_np[0, 1, H36M17.index("Thorax")] and val_np[0, 0, H36M17.index("Thorax")]


def test_torch_conversion_is_differentiable():
    kp = torch.randn(17, 2, dtype=torch.float64, requires_grad=True)
    out, _ = convert_layout(kp, "coco17", "h36m17")
    out[H36M17.index("Hip")].sum().backward()
    g = kp.grad
    assert g[COCO17.index("left_hip")].tolist() == [0.5, 0.5]
    assert g[COCO17.index("right_hip")].tolist() == [0.5, 0.5]
    assert g.abs().sum().item() == pytest.approx(2.0)


@pytest.mark.parametrize("n", [16, 18])
def test_wrong_joint_count_raises(n):
    with pytest.raises(ValueError, match="joints"):
        convert_layout(np.zeros((n, 2)), "coco17", "h36m17")
    with pytest.raises(ValueError):
        convert_layout(torch.zeros(n, 2), "h36m17", "mpii16")


def test_unknown_conversion_raises():
    with pytest.raises(ValueError):
        layout_conversion("h36m17", "smpl24")


# ----------------------------------------------------------------------------- bone lengths

def _hand_pose() -> np.ndarray:
    """A pose whose bones are Pythagorean offsets with known lengths."""
    p = np.zeros((17, 3))
    j = H36M17.index
    p[j("RHip")] = (-3, 0, 4)          # right hip: 5
    p[j("RKnee")] = p[j("RHip")] + (0, 5, 12)    # right upper leg: 13
    p[j("RFoot")] = p[j("RKnee")] + (8, 15, 0)   # right lower leg: 17
    p[j("LHip")] = (3, 0, -4)          # left hip: 5
    p[j("LKnee")] = p[j("LHip")] + (0, 400, 0)   # 400
    p[j("LFoot")] = p[j("LKnee")] + (2, 3, 6)    # 7
    p[j("Spine")] = (0, -200, 0)       # 200
    p[j("Thorax")] = p[j("Spine")] + (1, 2, 2)   # 3
    p[j("Neck/Nose")] = p[j("Thorax")] + (0, 0, 0)  # 0
    p[j("Head")] = p[j("Neck/Nose")] + (20, 21, 0)  # 29
    p[j("LShoulder")] = p[j("Thorax")] + (9, 12, 0)  # 15
    p[j("LElbow")] = p[j("LShoulder")] + (0, 0, -250)  # 250
    p[j("LWrist")] = p[j("LElbow")] + (12, 16, 21)  # 29
    p[j("RShoulder")] = p[j("Thorax")] + (-7, 24, 0)  # 25
    p[j("RElbow")] = p[j("RShoulder")] + (0, 0, 1)  # 1
    p[j("RWrist")] = p[j("RElbow")] + (-4, 4, 7)  # 9
    return p


HAND_LENGTHS = {"right hip": 5, "right upper leg": 13, "right lower leg": 17, "left hip": 5,
                "left upper leg": 400, "left lower leg": 7, "lower spine": 200,
                "upper spine": 3, "neck": 0, "head": 29, "left shoulder": 15,
                "left upper arm": 250, "left lower arm": 29, "right shoulder": 25,
                "right upper arm": 1, "right lower arm": 9}


def test_bone_lengths_hand_built_pose():
    lengths = H36M17.bone_lengths(_hand_pose())
    assert lengths.shape == (16,)
    expected = [HAND_LENGTHS[n] for n in H36M17.bone_names]
    np.testing.assert_allclose(lengths, expected, atol=1e-12)


def test_bone_lengths_batched_torch_and_rigid_motion_invariant():
    pose = _hand_pose()
    # A rigid motion (rotation about z by 30 degrees + translation) keeps bone lengths.
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    moved = pose @ rot.T + (100, -20, 3000)
    batch = np.stack([pose, moved])
    bl = H36M17.bone_lengths(torch.from_numpy(batch))
    assert isinstance(bl, torch.Tensor) and bl.shape == (2, 16)
    expected = [HAND_LENGTHS[n] for n in H36M17.bone_names]
    np.testing.assert_allclose(bl.numpy(), [expected, expected], atol=1e-9)


def test_bone_lengths_2d_mpii():
    sh = np.zeros((16, 2))
    sh[MPII16.index("RKnee")] = (0, 30)
    sh[MPII16.index("RFoot")] = (40, 0)  # right lower leg: 3-4-5 triangle scaled by 10
    bl = MPII16.bone_lengths(sh)
    assert bl[MPII16.bone_names.index("right lower leg")] == pytest.approx(50)


def test_bones_from_root_place_every_parent_first():
    for layout in ("h36m17", "mpii16"):
        sk = get_layout(layout)
        placed = {sk.root}
        order = sk.bones_from_root()
        assert sorted(k for k, _, _ in order) == list(range(len(sk.edges)))
        for k, parent, child in order:
            assert (parent, child) == sk.edges[k] and parent in placed
            placed.add(child)


def random_tree(rng) -> np.ndarray:
    """A random H36M17 pose: each joint ~100 mm from its parent in a random direction."""
    pose = np.zeros((17, 3))
    for c, p in enumerate(H36M17.parents):
        if p >= 0:  # H36M17 numbers parents before children
            pose[c] = pose[p] + rng.normal(size=3) * 100
    return pose


def test_a_bone_set_to_a_new_length_keeps_its_direction_and_carries_its_subtree():
    pose = np.zeros((17, 3))
    for c, p in enumerate(H36M17.parents):
        if p >= 0:
            pose[c] = pose[p] + [0.0, 10.0, 0.0]
    knee = H36M17.joints.index("RKnee")
    pose[knee] = pose[H36M17.parents[knee]] + [3.0, 4.0, 0.0]     # thigh: length 5
    lengths = H36M17.bone_lengths(pose).copy()
    thigh = [c for _, c in H36M17.edges].index(knee)
    lengths[thigh] = 10.0
    out = set_bone_lengths(pose, lengths)
    assert np.allclose(out[knee] - out[H36M17.parents[knee]], [6.0, 8.0, 0.0])
    ankle = H36M17.parents.index(knee)
    assert np.allclose(out[ankle] - out[knee], pose[ankle] - pose[knee])  # shin moved along
    others = [j for j in range(17) if j not in (knee, ankle)]
    assert np.allclose(out[others], pose[others])


def test_own_lengths_are_a_round_trip_and_doubled_lengths_double_the_pose():
    pose = random_tree(np.random.default_rng(0))
    own = H36M17.bone_lengths(pose)
    assert np.allclose(set_bone_lengths(pose, own), pose)
    assert np.allclose(set_bone_lengths(pose, 2 * own), 2 * pose)  # root at the origin


def test_mirror_bones_of_h36m17_by_name():
    names = H36M17.bone_names
    mirror = {names[k]: names[m] for k, m in enumerate(H36M17.mirror_bones())}
    assert mirror["left upper arm"] == "right upper arm"
    assert mirror["right lower leg"] == "left lower leg"
    assert mirror["left hip"] == "right hip" and mirror["right shoulder"] == "left shoulder"
    for midline in ("lower spine", "upper spine", "neck", "head"):
        assert mirror[midline] == midline
    assert sorted(H36M17.mirror_bones().tolist()) == list(range(len(names)))


LW, RW = H36M17.index("LWrist"), H36M17.index("RWrist")


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
