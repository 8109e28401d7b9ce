"""wildpose.mocap.sources: mocap poses brought to one canonical frame and size, thinned, and
read from arrays, BVH folders and Human3.6M (the files' tests skip when the data is absent)."""

import numpy as np
import pytest
from test_bvh import TINY, _cmu_file

from wildpose.mocap.bvh import BVHError
from wildpose.mocap.sources import (REFERENCE_BONE_SUM_MM, load_array_mocap, load_bvh_mocap,
                                    load_h36m_mocap, remove_near_duplicates)
from wildpose.skeleton import H36M17

J = H36M17.index

# A person standing, H36M17 order, mm, canonical axes: left = +x, down = +y, facing -z
# (the nose is in front of the head, at smaller z).
STAND = np.array([
    [0, 0, 0],                                  # Hip
    [-130, 0, 0], [-130, 440, 0], [-130, 880, 0],   # RHip, RKnee, RFoot
    [130, 0, 0], [130, 440, 0], [130, 880, 0],      # LHip, LKnee, LFoot
    [0, -230, 0], [0, -480, 0],                 # Spine, Thorax
    [0, -580, -70], [0, -690, -10],             # Neck/Nose, Head
    [150, -450, 0], [150, -170, 0], [150, 80, 0],   # LShoulder, LElbow, LWrist
    [-150, -450, 0], [-150, -170, 0], [-150, 80, 0],  # RShoulder, RElbow, RWrist
], float)


def test_near_duplicates_greedy_over_time():
    # One joint moves 85 mm per frame: 85 / 17 = 5 mm mean per-joint distance per frame.
    seq = np.repeat(STAND[None], 6, 0)
    seq[:, J("LWrist"), 0] += 85.0 * np.arange(6)
    # tolerance 12 mm: keep frame 0, then frame 3 (15 mm from frame 0), drop 4 and 5
    # (5 and 10 mm from frame 3).
    assert remove_near_duplicates(seq, 12.0).tolist() == [0, 3]
    # Moving the whole pose does not count (root-centred), and a new sequence restarts.
    shifted = seq + np.arange(6)[:, None, None] * 1000.0
    assert remove_near_duplicates(shifted, 12.0).tolist() == [0, 3]
    assert remove_near_duplicates(seq, 12.0, np.array([0, 0, 1, 1, 1, 1])).tolist() == [0, 2, 5]


def test_array_source_in_z_up_world_gets_canonical_axes_and_scale():
    # The standing pose in a Human3.6M-like world (z up), turned to face some direction and
    # placed at a pelvis height of 900 mm, at 1.1 times the size.
    to_world = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])   # canonical -> z-up world
    heading = np.array([[np.cos(1.0), -np.sin(1.0), 0], [np.sin(1.0), np.cos(1.0), 0],
                        [0, 0, 1]])
    world = 1.1 * STAND @ to_world.T @ heading.T + [300.0, -200.0, 900.0]
    m = load_array_mocap(world[None], up="+z")
    p = m.poses[0].astype(float)
    np.testing.assert_allclose(p[0], 0, atol=1e-3)                        # root-centred
    assert H36M17.bone_lengths(p).sum() == pytest.approx(REFERENCE_BONE_SUM_MM, rel=1e-5)
    # Same shape as the standing pose, brought back to its scale: up is -y, left is +x,
    # the subject faces -z.
    scale = REFERENCE_BONE_SUM_MM / H36M17.bone_lengths(STAND).sum()
    np.testing.assert_allclose(p, STAND * scale, atol=1e-2)


def test_cmu_bvh_source_is_upright_and_faces_minus_z():
    m = load_bvh_mocap(_cmu_file(), tolerance_mm=20.0)
    p = m.poses.astype(float)
    assert 10 < len(m) < 400                     # a few hundred 120 Hz frames, thinned
    assert (p[:, J("Head"), 1] < -400).all()     # head above the pelvis (y down)
    assert (p[:, J("LHip"), 0] > 50).all()       # left hip on +x
    assert np.median(p[:, J("LFoot"), 1]) > 600  # feet below
    assert not m.shared_joints[J("Head")] and m.shared_joints[J("LKnee")]


def test_h36m_source(h36m_dir):
    m = load_h36m_mocap(h36m_dir, subjects=(1,), actions=("Directions",), stride=10)
    p = m.poses.astype(float)
    assert p.shape[1:] == (17, 3) and len(m) > 50
    assert (p[:, J("Head"), 1] < -400).all() and (p[:, J("LHip"), 0] > 50).all()
    # Facing -z: the nose is in front of the thorax.
    assert np.median(p[:, J("Neck/Nose"), 2] - p[:, J("Thorax"), 2]) < -30


def test_bad_bvh_files_in_a_folder_are_skipped_and_named(tmp_path):
    """A mocap folder keeps its good clips; each unreadable one is named, not fatal."""
    good = _cmu_file()
    (tmp_path / "a_good.bvh").symlink_to(good)
    (tmp_path / "b_truncated.bvh").write_text(TINY.replace("Frames: 4", "Frames: 5"))
    (tmp_path / "c_unmapped.bvh").write_text(TINY)   # parses, but has no H36M17 mapping
    with pytest.warns(UserWarning) as caught:
        m = load_bvh_mocap(tmp_path, tolerance_mm=20.0)
    said = " | ".join(str(w.message) for w in caught)
    assert "b_truncated.bvh" in said and "c_unmapped.bvh" in said
    assert m.sequence_names == [str(tmp_path / "a_good.bvh")]
    assert len(m) == len(load_bvh_mocap(good, tolerance_mm=20.0))
    assert sum(n.startswith("skipped") for n in m.notes) == 2

    (tmp_path / "a_good.bvh").unlink()
    with pytest.raises(BVHError, match=r"no BVH file could be read \(2 tried\).*"
                                       r"b_truncated\.bvh.*c_unmapped\.bvh") as exc:
        load_bvh_mocap(tmp_path)
    assert "\n" not in str(exc.value)
