"""BVH parsing and forward kinematics, checked against positions worked out by hand."""

from pathlib import Path

import numpy as np
import pytest
from conftest import find_data_root

from wildpose.mocap.bvh import (CMU_APPROXIMATE_JOINTS, CMU_TO_H36M17, CMU_UNIT_MM, BVHError,
                                bvh_to_h36m17, parse_bvh, read_bvh)
from wildpose.skeleton import H36M17

# Root with its six channels in a scrambled order (rotations listed Z, Y, X; positions X, Y,
# Z in between), a knee 2 units below it with rotations Z, X, Y, and an end site 3 below.
TINY = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Zrotation Xposition Yrotation Yposition Xrotation Zposition
  JOINT Knee
  {
    OFFSET 0 -2 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 -3 0
    }
  }
}
MOTION
Frames: 4
Frame Time: 0.0083333
0 1 0 2 0 3   0 0 0
90 0 0 0 0 0   0 90 0
90 0 90 0 0 0   0 90 0
0 0 0 0 0 0   90 90 0
"""

# Worked out by hand with Rx(90): (x, y, z) -> (x, -z, y), Ry(90): (x, y, z) -> (z, y, -x),
# Rz(90): (x, y, z) -> (-y, x, z); a joint's rotation channels compose in listed order.
EXPECTED = np.array([
    # frame 1: translation (1, 2, 3) only
    [[1, 2, 3], [1, 0, 3], [1, -3, 3]],
    # frame 2: root Rz(90) takes the knee offset (0,-2,0) to (2,0,0); knee Rx(90) takes the
    # end offset (0,-3,0) to (0,0,-3), which Rz(90) leaves alone.
    [[0, 0, 0], [2, 0, 0], [2, 0, -3]],
    # frame 3: root Rz(90) Ry(90): end offset -> Rx: (0,0,-3) -> Ry: (-3,0,0) -> Rz: (0,-3,0)
    [[0, 0, 0], [2, 0, 0], [2, -3, 0]],
    # frame 4: knee Rz(90) Rx(90): (0,-3,0) -> Rx: (0,0,-3) -> Rz: (0,0,-3)
    [[0, 0, 0], [0, -2, 0], [0, -2, -3]],
], float)


def test_tiny_bvh_structure():
    bvh = parse_bvh(TINY, "tiny.bvh")
    assert bvh.names == ["Hips", "Knee", "Knee_End"]
    assert bvh.parents == [-1, 0, 1]
    assert bvh.num_frames == 4
    assert bvh.frame_time == pytest.approx(0.0083333)
    assert bvh.frame_rate == pytest.approx(120.0, rel=1e-3)
    np.testing.assert_allclose(bvh.offsets, [[0, 0, 0], [0, -2, 0], [0, -3, 0]])


def test_tiny_bvh_forward_kinematics_matches_hand_computation():
    pos = parse_bvh(TINY, "tiny.bvh").forward_kinematics()
    np.testing.assert_allclose(pos, EXPECTED, atol=1e-9)


def test_frame_selection():
    pos = parse_bvh(TINY).forward_kinematics(np.array([3, 0]))
    np.testing.assert_allclose(pos, EXPECTED[[3, 0]], atol=1e-9)


def test_read_bvh_from_file(tmp_path):
    path = tmp_path / "tiny.bvh"
    path.write_text(TINY)
    np.testing.assert_allclose(read_bvh(path).forward_kinematics(), EXPECTED, atol=1e-9)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize("old, new, needle", [
    ("CHANNELS 3 Zrotation Xrotation Yrotation", "CHANNELS 3 Zrotation Wrotation Yrotation",
     "Wrotation"),                                           # unknown channel
    ("OFFSET 0 -2 0", "OFFSET 0 -2 zero", "zero"),           # a non-number
    ("    OFFSET 0 -2 0\n", "    OFSET 0 -2 0\n", "OFSET"),  # a misspelt keyword
    ("90 0 90 0 0 0   0 90 0", "90 0 90 0 0 0   0 90", "90 0 90 0 0 0   0 90"),  # 8 values
    ("0 0 0 0 0 0   90 90 0", "0 0 0 0 0 0   90 x 0", "90 x 0"),   # a non-number frame
])
def test_malformed_bvh_names_file_and_line(old, new, needle):
    bad = TINY.replace(old, new)
    assert bad != TINY
    with pytest.raises(BVHError) as err:
        parse_bvh(bad, "bad.bvh")
    assert f"bad.bvh:{_line_of(bad, needle)}:" in str(err.value)


def test_truncated_motion_and_missing_brace(tmp_path):
    short = TINY.replace("Frames: 4", "Frames: 5")
    with pytest.raises(BVHError, match=r"bad\.bvh:\d+: .*4 of the 5 frames"):
        parse_bvh(short, "bad.bvh")
    path = tmp_path / "broken.bvh"
    # Drop the brace closing the root: MOTION then arrives inside the hierarchy.
    lines = TINY.splitlines()
    root_close = max(i for i, line in enumerate(lines) if line.strip() == "}"
                     and i < _line_of(TINY, "MOTION") - 1)
    path.write_text("\n".join(lines[:root_close] + lines[root_close + 1:]) + "\n")
    with pytest.raises(BVHError, match=r"broken\.bvh:\d+: joint 'Hips' is not closed"):
        read_bvh(path)


def test_skeleton_without_mapping_is_a_clear_error():
    with pytest.raises(BVHError, match=r"tiny\.bvh: this skeleton has no mapping to H36M17.*"
                                       r"LeftHip"):
        bvh_to_h36m17(parse_bvh(TINY, "tiny.bvh"))


def test_mapping_covers_every_h36m_joint_and_documents_approximations():
    assert set(CMU_TO_H36M17) == set(H36M17.joints)
    assert set(CMU_APPROXIMATE_JOINTS) <= set(H36M17.joints)
    assert CMU_TO_H36M17["Head"] == ("Head_End",)       # no head top in CMU: the end site
    assert CMU_UNIT_MM == pytest.approx(56.444, abs=1e-3)


CMU_DIR = find_data_root() / "cmu-mocap"


def _cmu_file() -> Path:
    files = sorted(CMU_DIR.glob("*.bvh")) if CMU_DIR.is_dir() else []
    if not files:
        pytest.skip(f"CMU BVH data not found in {CMU_DIR}")
    return files[0]


def test_real_cmu_file_femur_is_about_430_mm():
    bvh = read_bvh(_cmu_file())
    assert bvh.num_joints == 38          # 31 joints + 7 end sites
    assert bvh.frame_rate == pytest.approx(120.0, rel=1e-3)
    pose = bvh_to_h36m17(bvh)
    for hip, knee in (("LHip", "LKnee"), ("RHip", "RKnee")):
        femur = np.linalg.norm(pose[:, H36M17.index(knee)] - pose[:, H36M17.index(hip)], axis=-1)
        assert femur.mean() == pytest.approx(430.0, abs=25.0)
        assert femur.std() < 1e-6           # a rigid bone
    # CMU is y up: the head top is well above the ankles in every frame.
    assert (pose[:, H36M17.index("Head"), 1] - pose[:, H36M17.index("LFoot"), 1] > 1200).all()
