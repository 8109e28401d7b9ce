"""2D-only readers (MPII, LSP), the LSP layout, Bandai Namco BVH and the wild mocap split:
checked on tiny hand-made files and, when present, on the real data's stated counts."""

import os
import zlib
from pathlib import Path

import numpy as np
import pytest

from wildpose.datasets.keypoint_files import KeypointSet
from wildpose.datasets.lsp import load_lsp_2d
from wildpose.datasets.mpii import load_mpii_2d
from wildpose.mocap.bvh import (BANDAI_APPROXIMATE_JOINTS, BANDAI_TO_H36M17, BVHError,
                                bvh_to_h36m17, detect_skeleton, parse_bvh, read_bvh)
from wildpose.mocap.sources import load_bvh_mocap, wild_mocap_split
from wildpose.skeleton import (H36M17, LSP14, MPII16, convert_layout, has_torso,
                               joint_confidence, layout_conversion)

DATA = Path(os.environ.get("WILDPOSE_DATA") or
            Path(__file__).resolve().parents[1].parent / "shared" / "data")

_MPII_JOINTS = ("r ankle", "r knee", "r hip", "l hip", "l knee", "l ankle", "pelvis", "thorax",
                "upper neck", "head top", "r wrist", "r elbow", "r shoulder", "l shoulder",
                "l elbow", "l wrist")


def _mpii_csv(path: Path, rows: list[tuple[str, list[float], str]]) -> Path:
    head = ["ID", "NAME"] + [f"{j}_{a}" for j in _MPII_JOINTS for a in "XY"] + \
        ["Scale", "Activity", "Category"]
    lines = [",".join(head)]
    for k, (name, xy, act) in enumerate(rows):
        lines.append(",".join([str(k + 1), name, *map(str, xy), "3.0", act, "sports"]))
    path.write_text("\n".join(lines) + "\n")
    return path


# ----------------------------------------------------------------------------- MPII
def test_mpii_reader_marks_minus_one_pairs_missing_and_keeps_labels(tmp_path):
    a = [float(10 * i) for i in range(32)]          # joint j at (20j, 20j + 10)
    b = list(a)
    b[0:2] = [-1, -1]                                # r ankle missing
    b[18:20] = [-1, 40]                              # upper neck: x = -1 alone is a position
    path = _mpii_csv(tmp_path / "m.csv", [("img1.jpg", a, "curling"),
                                          ("img2.jpg", b, "rock climbing")])
    ks = load_mpii_2d(path, split="all")
    assert isinstance(ks, KeypointSet) and ks.layout is MPII16 and len(ks) == 2
    assert ks.valid[0].all()
    assert not ks.valid[1, 0] and ks.valid[1, 1:].all()
    np.testing.assert_array_equal(ks.keypoints[1, 0], [0, 0])
    np.testing.assert_array_equal(ks.keypoints[1, 9], [-1, 40])
    np.testing.assert_array_equal(ks.keypoints[0, 3], [60, 70])       # l hip = joint 3
    assert ks.meta["activity"] == ["curling", "rock climbing"]
    assert ks.image_files == ["img1.jpg", "img2.jpg"]
    assert ks.confidence[1, 0] == 0 and ks.confidence[0, 0] == 1


def test_mpii_split_is_by_image_crc32(tmp_path):
    names = [f"{i:09d}.jpg" for i in range(60)]
    xy = [1.0] * 32
    path = _mpii_csv(tmp_path / "m.csv", [(n, xy, "x") for n in names])
    val = {n for n in names if zlib.crc32(n.encode()) % 10 == 0}
    assert 0 < len(val) < len(names)
    got_val = load_mpii_2d(path, "val").image_files
    got_train = load_mpii_2d(path, "train").image_files
    assert set(got_val) == val and set(got_train) == set(names) - val
    with pytest.raises(ValueError, match="unknown MPII split"):
        load_mpii_2d(path, "test")


def test_mpii_bad_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,NAME,foo\n1,a.jpg,2\n")
    with pytest.raises(ValueError, match=r"bad\.csv: not an MPII CSV") as e:
        load_mpii_2d(bad, "all")
    assert "\n" not in str(e.value)
    with pytest.raises(FileNotFoundError, match="nothere.csv"):
        load_mpii_2d(tmp_path / "nothere.csv")


def test_real_mpii_counts():
    path = DATA / "mpii-2d" / "mpii_human_pose.csv"
    if not path.is_file():
        pytest.skip(f"MPII annotations not found at {path}")
    ks = load_mpii_2d(path, "all")
    assert len(ks) == 17372                          # the data README's counts
    assert int(ks.valid.all(1).sum()) == 11232
    assert len(load_mpii_2d(path, "train")) + len(load_mpii_2d(path, "val")) == 17372
    assert len(set(ks.meta["activity"])) == 397


# ----------------------------------------------------------------------------- LSP
def test_lsp_reader_on_a_tiny_npz(tmp_path):
    part = np.zeros((2, 24, 3))
    part[:, :14, :2] = np.arange(2 * 14 * 2).reshape(2, 14, 2)
    part[:, :14, 2] = 1
    names = np.array(["images/im0001.jpg", "images/im0002.jpg"])
    np.savez(tmp_path / "lsp_dataset_original_train.npz", part=part, imgname=names)
    np.savez(tmp_path / "lsp_dataset_test.npz", part=part[:1] * 0.5,
             imgname=names[:1])
    ks = load_lsp_2d(tmp_path, "train")
    assert ks.layout is LSP14 and len(ks) == 2 and ks.valid.all()
    np.testing.assert_array_equal(ks.keypoints[1, 13], part[1, 13, :2])   # head top
    assert ks.ids == list(names)
    assert len(load_lsp_2d(tmp_path, "all")) == 3
    (tmp_path / "lsp_dataset_test.npz").unlink()
    with pytest.raises(FileNotFoundError, match="lsp_dataset_test.npz"):
        load_lsp_2d(tmp_path, "test")


def test_real_lsp_counts():
    folder = DATA / "lsp-2d"
    if not (folder / "lsp_dataset_test.npz").is_file():
        pytest.skip(f"LSP not found in {folder}")
    ks = load_lsp_2d(folder, "all")
    assert len(ks) == 2000 and ks.valid.all()


# ----------------------------------------------------------------------------- layouts
def test_lsp14_to_h36m17_hip_is_the_hips_midpoint():
    kp = np.random.default_rng(0).normal(size=(3, 14, 2)) * 100
    out, valid = convert_layout(kp, "lsp14", "h36m17")
    assert valid.all()
    mid = 0.5 * (kp[:, LSP14.index("LHip")] + kp[:, LSP14.index("RHip")])
    np.testing.assert_allclose(out[:, H36M17.index("Hip")], mid, rtol=1e-6)
    np.testing.assert_allclose(out[:, H36M17.index("RFoot")], kp[:, LSP14.index("RAnkle")])
    conv = layout_conversion("lsp14", "h36m17")
    assert set(conv.synthesized) == {"Hip", "Spine", "Thorax"} and not conv.missing
    # a mirror swaps the left and right joints of LSP as of H36M
    perm = LSP14.flip_permutation()
    assert LSP14.joints[perm[LSP14.index("LWrist")]] == "RWrist"


def test_joint_confidence_copies_takes_min_and_zeroes_missing():
    conf = np.linspace(0.2, 0.9, 17)[None].repeat(2, 0)
    out = joint_confidence(conf, "coco17")
    assert out.shape == (2, 17)
    lh, rh = conf[0, 11], conf[0, 12]                      # COCO left/right hip
    assert out[0, H36M17.index("Hip")] == pytest.approx(min(lh, rh))
    assert out[0, H36M17.index("LHip")] == pytest.approx(lh)
    out_mpii = joint_confidence(np.ones((1, 17)), "coco17", "mpii16")
    assert out_mpii[0, MPII16.index("Head")] == 1          # through h36m17's ears' midpoint
    missing = joint_confidence(np.ones((1, 17)), "h36m17", "coco17")
    assert missing[0, 1] == 0                              # COCO left eye: not in H36M


def test_torso_rule():
    valid = np.ones((3, 14), bool)
    valid[1, LSP14.index("LShoulder")] = False
    valid[2, LSP14.index("RAnkle")] = False
    np.testing.assert_array_equal(has_torso(valid, "lsp14"), [True, False, True])


# ----------------------------------------------------------------------------- Bandai BVH
# Six channels on every joint; Hips' OFFSET is deliberately not its position channels: the
# channels are its translation.
BANDAI_STYLE = """HIERARCHY
ROOT joint_Root
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Hips
  {
    OFFSET 9 9 9
    CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 0 4
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0333333
1 2 3 0 0 0   0 5 0 0 0 0
0 0 0 90 0 0  0 5 0 0 90 0
"""


def test_bandai_style_bvh_translation_comes_from_position_channels():
    bvh = parse_bvh(BANDAI_STYLE, "b.bvh")
    pos = bvh.forward_kinematics()
    # Frame 1: root at (1,2,3); Hips 5 above it; the end site 4 along +z from Hips.
    # Frame 2: root Rz(90) takes Hips' (0,5,0) to (-5,0,0); Hips Rx(90) takes (0,0,4) to
    # (0,-4,0), which Rz(90) takes to (4,0,0): end site at (-1,0,0).
    expected = [[[1, 2, 3], [1, 7, 3], [1, 7, 7]],
                [[0, 0, 0], [-5, 0, 0], [-1, 0, 0]]]
    np.testing.assert_allclose(pos, expected, atol=1e-9)
    assert bvh.frame_rate == pytest.approx(30.0, rel=1e-4)


def _bandai_dir() -> Path:
    d = DATA / "bandai-mocap"
    if not d.is_dir():
        pytest.skip(f"Bandai Namco mocap not found in {d}")
    return d


def test_real_bandai_clips_parse_and_map():
    d = _bandai_dir()
    files = sorted(d.glob("*.bvh"))
    assert len(files) == 174
    bvh = read_bvh(d / "dataset-1_kick_normal_001.bvh")
    assert detect_skeleton(bvh).name == "bandai"
    assert bvh.frame_rate == pytest.approx(30.0, rel=1e-4)
    pose = bvh_to_h36m17(bvh)                                   # mm, y up
    femur = np.linalg.norm(pose[:, H36M17.index("LKnee")] - pose[:, H36M17.index("LHip")],
                           axis=-1)
    assert femur.std() < 1e-6 and 300 < femur.mean() < 500    # a rigid thigh, in mm
    standing = pose[0]
    assert standing[H36M17.index("Head"), 1] - standing[H36M17.index("LFoot"), 1] > 1300
    assert set(BANDAI_TO_H36M17) == set(H36M17.joints)
    m = load_bvh_mocap(d / "dataset-1_kick_normal_001.bvh")
    approx = {j for j, s in zip(H36M17.joints, m.shared_joints) if not s}
    assert approx == set(BANDAI_APPROXIMATE_JOINTS)


def test_unparsable_clip_is_skipped_with_its_name(tmp_path):
    (tmp_path / "good.bvh").write_text(BANDAI_STYLE)
    (tmp_path / "bad.bvh").write_text(BANDAI_STYLE.replace("Frames: 2", "Frames: 3"))
    with pytest.raises(BVHError, match=r"no BVH file could be read \(2 tried\).*bad\.bvh"):
        load_bvh_mocap(tmp_path)          # the good one has no H36M17 mapping either


def test_wild_mocap_split_rule():
    d = _bandai_dir()
    if not (DATA / "cmu-mocap").is_dir():
        pytest.skip("CMU mocap not found")
    sp = wild_mocap_split(DATA)
    assert set(sp) == {"train_bandai", "test_bandai", "train_cmu", "test_cmu"}
    contents = {p.name.split("_")[1] for p in sp["test_bandai"]}
    assert contents == {"dance-short", "kick", "slash"}
    assert not {p.name.split("_")[1] for p in sp["train_bandai"]} & contents
    assert len(sp["train_bandai"]) + len(sp["test_bandai"]) == len(list(d.glob("*.bvh")))
    subj = lambda ps: {p.name.split("_")[0] for p in ps}          # noqa: E731
    assert not subj(sp["train_cmu"]) & subj(sp["test_cmu"])      # whole subjects held out
    ids = sorted(int(s) for s in subj(sp["train_cmu"]) | subj(sp["test_cmu"]))
    assert sorted(int(s) for s in subj(sp["test_cmu"])) == ids[3::4]
