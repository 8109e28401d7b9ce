"""wildpose.export: BVH files checked against known geometry and read back with the
package's own BVH reader (wildpose.mocap.bvh)."""

from __future__ import annotations

import numpy as np
import pytest

from wildpose.export import BVH_JOINTS, bvh_text, euler_zxy, poses_to_bvh, \
    write_bvh
from wildpose.geometry import rotation_matrix
from wildpose.mocap.bvh import read_bvh
from wildpose.skeleton import H36M17

#: A T-pose in camera mm (x right, y down, z away), pelvis at the origin, facing the camera:
#: the person's left is +x.  Legs 400 + 400 mm, arms 250 + 250 mm out sideways.
T_POSE = np.array([
    [0, 0, 0],                                             # Hip
    [-100, 0, 0], [-100, 400, 0], [-100, 800, 0],          # RHip, RKnee, RFoot
    [100, 0, 0], [100, 400, 0], [100, 800, 0],             # LHip, LKnee, LFoot
    [0, -250, 0], [0, -500, 0], [0, -600, 0], [0, -700, 0],  # Spine, Thorax, Neck/Nose, Head
    [150, -500, 0], [400, -500, 0], [650, -500, 0],        # LShoulder, LElbow, LWrist
    [-150, -500, 0], [-400, -500, 0], [-650, -500, 0]], np.float64)   # RShoulder, ...

#: Camera axes -> BVH axes (y up, z towards the camera): a half turn about x.
TO_BVH = np.diag([1.0, -1.0, -1.0])

NAMES = [n.replace("/", "") for n in H36M17.joints]


def _positions(bvh) -> np.ndarray:
    """(F, 17, 3) forward-kinematics positions of the H36M17 joints, file units."""
    return bvh.forward_kinematics()[:, [bvh.names.index(n) for n in NAMES]]


def test_the_rest_pose_needs_no_rotation_and_sets_the_offsets():
    motion = poses_to_bvh(T_POSE)
    np.testing.assert_allclose(motion.rotations[0], np.broadcast_to(np.eye(3), (23, 3, 3)),
                               atol=1e-12)
    offset = dict(zip(BVH_JOINTS, motion.offsets))
    np.testing.assert_allclose(offset["RKnee"], [0, -400, 0])           # thigh, downwards
    np.testing.assert_allclose(offset["LElbow"], [250, 0, 0])           # upper arm, to the left
    np.testing.assert_allclose(offset["Thorax"], [0, 250, 0])           # spine, upwards
    np.testing.assert_allclose(offset["RHip"], [-100, 0, 0])
    # the first frame stands on the ground: the root is raised by the leg length
    np.testing.assert_allclose(motion.root_position[0], [0, 800, 0])


@pytest.mark.parametrize("axis", [(0, 1, 0), (1, 0, 0), (0.3, -0.5, 0.8)])
def test_a_rotated_pose_recovers_the_rotation_at_the_root(axis):
    R = rotation_matrix(np.radians(35.0) * np.asarray(axis) / np.linalg.norm(axis))
    motion = poses_to_bvh(np.stack([T_POSE, T_POSE @ R.T]))
    # The whole body turned rigidly: the root carries the rotation (in BVH axes), every
    # other joint none.
    np.testing.assert_allclose(motion.rotations[1, 0], TO_BVH @ R @ TO_BVH.T, atol=1e-9)
    np.testing.assert_allclose(motion.rotations[1, 1:],
                               np.broadcast_to(np.eye(3), (22, 3, 3)), atol=1e-9)


def test_a_turn_about_the_vertical_is_the_y_channel():
    # 30 degrees about the camera's y axis (down) is -30 degrees about BVH's Y (up).
    R = rotation_matrix(np.radians([0.0, 30.0, 0.0]))
    motion = poses_to_bvh(T_POSE @ R.T)
    np.testing.assert_allclose(motion.euler_zxy[0, 0], [0, 0, -30], atol=1e-9)


def test_exported_then_read_back_gives_the_joint_positions(tmp_path):
    R = rotation_matrix(np.array([0.2, 0.9, -0.3]))
    bent = T_POSE.copy()
    bent[[12, 13]] = bent[11] + (bent[[12, 13]] - bent[11]) @ rotation_matrix(
        np.array([0, 0, 1.0])).T                                      # left arm lowered
    poses = np.stack([T_POSE, bent, bent @ R.T])
    for units, mm_per_unit in (("cm", 10.0), ("m", 1000.0), ("mm", 1.0)):
        bvh = read_bvh(write_bvh(tmp_path / f"p_{units}.bvh", poses, units=units))
        got = _positions(bvh) * mm_per_unit
        expected = poses @ TO_BVH.T + [0, 800, 0]               # standing on the ground
        np.testing.assert_allclose(got, expected, atol=0.01)    # mm


# Sequences with per-frame changes and root motion.
def _sequence(frames: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    poses = np.stack([T_POSE @ rotation_matrix(rng.normal(0, 0.6, 3)).T
                      for _ in range(frames)])
    # bend the elbows and knees differently per frame (bone lengths stay fixed)
    for f in range(frames):
        for a, b in ((12, 13), (15, 16), (2, 3), (5, 6)):
            R = rotation_matrix(rng.normal(0, 0.5, 3))
            poses[f, b] = poses[f, a] + R @ (poses[f, b] - poses[f, a])
    roots = np.stack([np.linspace(0, 600, frames), np.zeros(frames), np.full(frames, 4000.0)], 1)
    return poses, roots


def _rotation_zxy(ang: np.ndarray) -> np.ndarray:
    """(N, 3) (z, x, y) degrees -> (N, 3, 3) Rz Rx Ry, from axis-angle rotations."""
    z, x, y = np.radians(ang).T
    o = np.zeros_like(z)
    return (rotation_matrix(np.stack([o, o, z], 1)) @ rotation_matrix(np.stack([x, o, o], 1))
            @ rotation_matrix(np.stack([o, y, o], 1)))


def test_euler_zxy_round_trip():
    rng = np.random.default_rng(0)
    ang = np.stack([rng.uniform(-180, 180, 50), rng.uniform(-89, 89, 50),
                    rng.uniform(-180, 180, 50)], 1)
    np.testing.assert_allclose(euler_zxy(_rotation_zxy(ang)), ang, atol=1e-9)


def test_bvh_forward_kinematics_reproduces_the_poses(tmp_path):
    poses, roots = _sequence()
    path = write_bvh(tmp_path / "seq.bvh", poses, fps=25, root_translation=roots, units="mm")
    bvh = read_bvh(path)
    assert bvh.num_frames == len(poses) and bvh.frame_rate == pytest.approx(25)
    pos = _positions(bvh)
    expected = (poses - poses[:, :1]) @ TO_BVH.T
    np.testing.assert_allclose(pos - pos[:, :1], expected, atol=0.01)
    # the root follows the translation, relative to the first frame
    np.testing.assert_allclose(pos[:, 0] - pos[0, 0], (roots - roots[0]) @ TO_BVH.T, atol=0.01)


def test_bvh_fixed_skeleton_keeps_bone_directions(tmp_path):
    poses, _ = _sequence(6)
    poses = poses * np.linspace(0.9, 1.1, 6)[:, None, None]     # lengths vary per frame
    poses[2] = np.nan                                            # a frame with nobody
    bvh = read_bvh(write_bvh(tmp_path / "s.bvh", poses, units="cm"))
    pos = _positions(bvh) * 10                                   # cm -> mm
    ref = poses.copy()
    ref[2] = ref[1]                                              # repeated frame
    for a, b in H36M17.edges:
        d_bvh = pos[:, b] - pos[:, a]
        d_ref = (ref[:, b] - ref[:, a]) @ TO_BVH.T
        cos = (d_bvh * d_ref).sum(-1) / np.linalg.norm(d_bvh, axis=-1) \
            / np.linalg.norm(d_ref, axis=-1)
        assert cos.min() > 1 - 1e-6
    lengths = np.linalg.norm(pos[:, 3] - pos[:, 2], axis=-1)    # fixed skeleton
    np.testing.assert_allclose(lengths, lengths[0], rtol=1e-5)


def test_bvh_text_is_what_blender_reads():
    motion = poses_to_bvh(T_POSE)
    text = bvh_text(motion, fps=30)
    lines = [ln.split() for ln in text.splitlines()]
    assert lines[0] == ["HIERARCHY"] and lines[1] == ["ROOT", "Hip"]
    # Blender's importer expects "{", then OFFSET, then CHANNELS after each ROOT/JOINT line
    for i, ln in enumerate(lines):
        if ln[0] in ("ROOT", "JOINT"):
            assert lines[i + 1] == ["{"] and lines[i + 2][0] == "OFFSET"
            assert lines[i + 3][0] == "CHANNELS"
            assert len(ln) == 2                           # no spaces in names
        if ln[0] == "End":
            assert ln == ["End", "Site"] and lines[i + 2][0] == "OFFSET"
    m = lines.index(["MOTION"])
    assert lines[m + 1] == ["Frames:", "1"] and lines[m + 2][:2] == ["Frame", "Time:"]
    n_channels = sum(int(ln[1]) for ln in lines[:m] if ln[0] == "CHANNELS")
    assert len(lines[m + 3]) == n_channels and len(lines) == m + 4
    with pytest.raises(ValueError, match="no frame"):
        poses_to_bvh(np.full((3, 17, 3), np.nan))
    with pytest.raises(ValueError, match="units"):
        bvh_text(motion, units="inch")
