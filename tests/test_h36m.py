"""Tests of the Human3.6M reader on the real data (skipped when it is absent).

Checks are physical facts independent of the reader's code: the ground-truth projection lands
on the stacked-hourglass detections (the camera convention is right), people stand 2-8 m in
front of the cameras, and a mocap skeleton is rigid (constant bone lengths).  Small subsets
(one subject, a stride of 50 frames = 1 s) keep the module to a few seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from wildpose.datasets.h36m import (
    ACTIONS,
    H36MData,
    load_cameras,
    load_h36m,
    normalize_action,
)
from wildpose.skeleton import H36M17, MPII16, convert_layout
from wildpose.temporal import smooth_sequences

# Tests that need the data request h36m_dir (directly or through s9), which skips them with its
# reason when the data is absent.

STRIDE = 50


@pytest.fixture(scope="module")
def s9_timed(h36m_dir: Path) -> tuple[H36MData, float]:
    """Subject 9, all actions and cameras, one frame per second; and the load time in s."""
    start = time.perf_counter()
    data = load_h36m(h36m_dir, subjects=[9], stride=STRIDE)
    return data, time.perf_counter() - start


@pytest.fixture(scope="module")
def s9(s9_timed: tuple[H36MData, float]) -> H36MData:
    return s9_timed[0]


# ----------------------------------------------------------------------------- action names

@pytest.mark.parametrize("name, expected", [
    ("Directions 1", "Directions"),
    ("Directions_1", "Directions"),
    ("Directions", "Directions"),
    ("directions", "Directions"),
    ("TakingPhoto", "Photo"),
    ("TakingPhoto_1", "Photo"),
    ("Photo 1", "Photo"),
    ("WalkingDog 1", "WalkDog"),
    ("WalkDog", "WalkDog"),
    ("WalkTogether 1", "WalkTogether"),
    ("SittingDown 2", "SittingDown"),
    ("Sitting 1", "Sitting"),
])
def test_normalize_action(name, expected):
    assert normalize_action(name) == expected


@pytest.mark.parametrize("name", ["Dancing", "Directions 1 2", "", "Walk"])
def test_normalize_action_unknown_raises(name):
    with pytest.raises(ValueError, match="not a Human3.6M action"):
        normalize_action(name)


def test_every_sequence_on_disk_has_a_known_action(h36m_dir: Path):
    names = {p.stem for p in h36m_dir.glob("S*/MyPoses/3D_positions/*.h5")}
    assert names, "no 3D sequences found"
    assert {normalize_action(n) for n in names} == set(ACTIONS)


# ----------------------------------------------------------------------------- cameras

def test_cameras(h36m_dir: Path):
    cams = load_cameras(h36m_dir)
    assert {s for s, _ in cams} == {1, 5, 6, 7, 8, 9, 11}
    assert {c for _, c in cams} == {1, 2, 3, 4}
    assert [cams[(9, c)].name for c in (1, 2, 3, 4)] == \
        ["54138969", "55011271", "58860488", "60457274"]
    for cam in cams.values():
        np.testing.assert_allclose(cam.R @ cam.R.T, np.eye(3), atol=1e-6)
        assert np.linalg.det(cam.R) == pytest.approx(1, abs=1e-6)
        assert cam.f.shape == (2,) and (cam.f > 1000).all()
        assert cam.c.shape == (2,) and (np.abs(cam.c - 500) < 50).all()
        # The cameras hang 1-3 m high and a few metres from the centre of the room.
        assert 1000 < cam.T[2] < 3000 and 2000 < np.linalg.norm(cam.T[:2]) < 8000


# ----------------------------------------------------------------------------- loading

def test_load_one_subject_with_stride(s9_timed: tuple[H36MData, float]):
    # Loading speed is measured by benchmarks, not asserted here (a loaded machine would fail).
    data, _ = s9_timed
    assert len(data) > 1000


def test_shapes_and_dtypes(s9: H36MData):
    n = len(s9)
    assert s9.pose_3d.shape == (n, 17, 3) and s9.pose_3d.dtype == np.float32
    assert s9.pose_2d.shape == (n, 17, 2) and s9.pose_2d.dtype == np.float32
    assert s9.pose_2d_sh.shape == (n, 16, 2) and s9.pose_2d_sh.dtype == np.float32
    for a in (s9.subject, s9.action, s9.camera, s9.frame):
        assert a.shape == (n,)
    assert set(s9.subject.tolist()) == {9}
    assert set(s9.camera.tolist()) == {1, 2, 3, 4}
    assert set(s9.action_name.tolist()) == set(ACTIONS)
    assert np.isfinite(s9.pose_3d).all() and np.isfinite(s9.pose_2d).all()
    # The int16 files on disk hold whole pixels.
    sh = s9.pose_2d_sh[np.isfinite(s9.pose_2d_sh)]
    assert sh.size and np.array_equal(sh, np.round(sh))


def test_gt_projection_agrees_with_stacked_hourglass(s9: H36MData):
    """Projected ground truth vs an independent detector: the camera convention is right."""
    sh, valid = convert_layout(s9.pose_2d_sh, "mpii16", "h36m17")
    err = np.linalg.norm(sh - s9.pose_2d, axis=-1)
    for joint in ("RHip", "LHip", "RKnee", "LKnee", "RFoot", "LFoot", "LWrist", "RWrist"):
        j = H36M17.index(joint)
        ok = valid[:, j]
        assert ok.mean() > 0.95
        median = np.median(err[ok, j])
        assert median < 20, f"{joint}: median GT-vs-detection distance {median:.1f} px"
    # Per camera too (a wrong camera would spoil a quarter of the rows).
    hips = [H36M17.index(j) for j in ("RHip", "LHip")]
    for c in (1, 2, 3, 4):
        rows = s9.camera == c
        assert np.median(err[rows][:, hips]) < 20, f"camera {c}"


def test_projection_inside_image(s9: H36MData):
    inside = ((s9.pose_2d > 0) & (s9.pose_2d < 1000)).all(-1)
    assert inside.mean() > 0.99


def test_camera_frame_depths_are_plausible(s9: H36MData):
    z = s9.pose_3d[..., 2]
    assert z.min() > 2000 and z.max() < 8000, (z.min(), z.max())


def test_bone_lengths_are_constant_over_frames(s9: H36MData):
    """Mocap joints sit on a rigid skeleton: each bone has one length per subject."""
    bl = H36M17.bone_lengths(s9.pose_3d.astype(np.float64))
    std = bl.std(0)
    assert std.max() < 1.0, dict(zip(H36M17.bone_names, std.round(3)))
    mean = dict(zip(H36M17.bone_names, bl.mean(0)))
    # Human-sized (mm): thigh and shin 350-550, upper arm 200-400.
    for leg in ("left upper leg", "right upper leg", "left lower leg", "right lower leg"):
        assert 350 < mean[leg] < 550, leg
    for arm in ("left upper arm", "right upper arm"):
        assert 200 < mean[arm] < 400, arm
    # Left and right limbs of a mocap skeleton are equally long.
    for a, b in (("left upper leg", "right upper leg"), ("left lower arm", "right lower arm")):
        assert mean[a] == pytest.approx(mean[b], abs=5)


def test_cameras_agree_on_the_world_pose(s9: H36MData):
    """The four cameras' views of one frame map back to the same world pose."""
    act = s9.action[0]
    frame = s9.frame[s9.action == act][3]
    worlds = []
    for c in (1, 2, 3, 4):
        row = np.flatnonzero((s9.action == act) & (s9.frame == frame) & (s9.camera == c))
        assert len(row) == 1
        cam = s9.cameras[(9, c)]
        worlds.append(s9.pose_3d[row[0]].astype(np.float64) @ cam.R + cam.T)
    for w in worlds[1:]:
        np.testing.assert_allclose(w, worlds[0], atol=0.05)


def test_rows_match_the_raw_file(s9: H36MData, h36m_dir: Path):
    act = "Walking 1"
    with h5py.File(h36m_dir / "S9" / "MyPoses" / "3D_positions" / f"{act}.h5", "r") as f:
        raw = f["3D_positions"][()]
    world = raw.T.reshape(-1, 32, 3)
    rows = np.flatnonzero((s9.action == act) & (s9.camera == 2))
    cam = s9.cameras[(9, 2)]
    n = world.shape[0]
    assert len(rows) == len(range(0, n, STRIDE))
    for r in rows[[0, len(rows) // 2, -1]]:
        back = s9.pose_3d[r].astype(np.float64) @ cam.R + cam.T
        # Hip is mocap joint 0, LWrist joint 19, RFoot joint 3.
        np.testing.assert_allclose(back[H36M17.index("Hip")], world[s9.frame[r], 0], atol=0.05)
        np.testing.assert_allclose(back[H36M17.index("LWrist")], world[s9.frame[r], 19],
                                   atol=0.05)
        np.testing.assert_allclose(back[H36M17.index("RFoot")], world[s9.frame[r], 3],
                                   atol=0.05)
    with h5py.File(h36m_dir / "S9" / "StackedHourglass" / "Walking_1.55011271.h5", "r") as f:
        det = f["poses"][()]
    assert det.shape[0] == n
    np.testing.assert_array_equal(s9.pose_2d_sh[rows], det[::STRIDE].astype(np.float32))


def test_frames_obey_the_stride(s9: H36MData):
    assert (s9.frame % STRIDE == 0).all()
    for act in np.unique(s9.action)[:5]:
        for c in (1, 3):
            frames = s9.frame[(s9.action == act) & (s9.camera == c)]
            assert frames[0] == 0
            np.testing.assert_array_equal(np.diff(frames), STRIDE)


def test_stride_one_and_stride_subset_agree(h36m_dir: Path):
    full = load_h36m(h36m_dir, subjects=[9], actions=["Posing"], cameras=[3], load_sh=False)
    sub = load_h36m(h36m_dir, subjects=[9], actions=["Posing"], cameras=[3], stride=7,
                    load_sh=False)
    assert full.pose_2d_sh is None
    for act in np.unique(full.action):
        f_rows, s_rows = full.action == act, sub.action == act
        np.testing.assert_array_equal(full.frame[f_rows][::7], sub.frame[s_rows])
        np.testing.assert_array_equal(full.pose_3d[f_rows][::7], sub.pose_3d[s_rows])


def test_action_and_camera_filters(h36m_dir: Path):
    d = load_h36m(h36m_dir, subjects=[9], actions=["WalkingDog 1"], cameras=[2, 4],
                  stride=STRIDE)
    assert set(d.action_name.tolist()) == {"WalkDog"}
    assert set(d.action.tolist()) == {"WalkDog", "WalkDog 1"}
    assert set(d.camera.tolist()) == {2, 4}


def test_select_and_inputs(s9: H36MData):
    mask = s9.camera == 1
    sub = s9.select(mask)
    assert len(sub) == mask.sum() and set(sub.camera.tolist()) == {1}
    x, layout = sub.inputs("gt")
    assert layout == "h36m17" and x.shape == (len(sub), 17, 2)
    x, layout = sub.inputs("sh")
    assert layout == "mpii16" and x.shape == (len(sub), MPII16.num_joints, 2)
    with pytest.raises(ValueError):
        sub.inputs("openpose")


def test_h36m_inputs_are_smoothed_per_camera_sequence():
    """Two cameras of one take, rows interleaved: each camera's track is smoothed alone."""
    n = 20
    frame = np.repeat(np.arange(n), 2)
    camera = np.tile([1, 2], n)
    rng = np.random.default_rng(1)
    pose_2d = rng.normal(size=(2 * n, 17, 2)).astype(np.float32) + camera[:, None, None] * 500
    data = H36MData(pose_3d=np.zeros((2 * n, 17, 3), np.float32), pose_2d=pose_2d,
                    pose_2d_sh=None, subject=np.full(2 * n, 9), action=np.full(2 * n, "Walk"),
                    camera=camera, frame=frame, cameras={})
    kp, layout = data.inputs("gt", smooth_2d=2.0)
    assert layout == "h36m17"
    for c in (1, 2):
        rows = camera == c
        np.testing.assert_allclose(kp[rows], smooth_sequences(pose_2d[rows], np.zeros(n),
                                                              np.arange(n), 2.0), rtol=1e-5)
    assert data.inputs("gt")[0] is pose_2d              # no smoothing: the array itself


# ----------------------------------------------------------------------------- absent data

def test_s11_directions_camera1_has_no_detections(h36m_dir: Path):
    d = load_h36m(h36m_dir, subjects=[11], actions=["Directions"], cameras=[1, 2],
                  stride=STRIDE)
    broken = (d.action == "Directions") & (d.camera == 1)
    assert broken.any()
    assert np.isnan(d.pose_2d_sh[broken]).all()
    # Its ground truth is still there, and the other sequence / camera have detections.
    assert np.isfinite(d.pose_2d[broken]).all()
    assert np.isfinite(d.pose_2d_sh[~broken]).all()
    assert any("Directions.54138969" in note for note in d.skipped), d.skipped
    assert len(d.skipped) == 1


def test_missing_data_dir_raises_with_path(tmp_path: Path):
    missing = tmp_path / "no_such_h36m"
    with pytest.raises(FileNotFoundError, match="no_such_h36m"):
        load_h36m(missing, subjects=[9])
    with pytest.raises(FileNotFoundError, match="no_such_h36m"):
        load_cameras(missing)


def test_dir_without_cameras_raises(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="cameras.h5"):
        load_h36m(tmp_path, subjects=[9])


def test_absent_subject_raises(h36m_dir: Path):
    with pytest.raises(FileNotFoundError, match="S2"):
        load_h36m(h36m_dir, subjects=[2])


def test_bad_stride_raises(h36m_dir: Path):
    with pytest.raises(ValueError, match="stride"):
        load_h36m(h36m_dir, subjects=[9], stride=0)


def test_parent_data_dir_is_accepted(h36m_dir: Path):
    d = load_h36m(h36m_dir.parent, subjects=[9], actions=["Eating"], cameras=[1],
                  stride=500, load_sh=False)
    assert len(d) > 0 and set(d.action_name.tolist()) == {"Eating"}
