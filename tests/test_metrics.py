"""Metrics checked against hand-computed values and known invariances, and per-person
plausibility against its Human3.6M reference proportions."""

import numpy as np
import pytest

from wildpose.datasets.h36m import ACTIONS, load_h36m, normalize_action
from wildpose.metrics import (H36M_BONE_LENGTHS_MM, auc3d, bone_ratio_error, bone_symmetry_error,
                              evaluate_poses, format_table, mpjpe, n_mpjpe, p_mpjpe, pck3d,
                              per_action_table, plausibility, root_relative, symmetry_log_error)
from wildpose.skeleton import H36M17, set_bone_lengths


def random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 2] *= -1
    return q


def rot_z(theta):
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def hand_skeleton():
    """An H36M17 pose (mm) whose left upper arm is 290 mm and right upper arm 280 mm; every
    other left/right pair is equal (upper/lower legs 400 mm, lower arms 250 mm)."""
    return np.array([
        [0, 0, 0],          # Hip
        [-100, 0, 0],       # RHip
        [-100, 400, 0],     # RKnee
        [-100, 800, 0],     # RFoot
        [100, 0, 0],        # LHip
        [100, 400, 0],      # LKnee
        [100, 800, 0],      # LFoot
        [0, -200, 0],       # Spine
        [0, -450, 0],       # Thorax
        [0, -500, 0],       # Neck/Nose
        [0, -600, 0],       # Head
        [150, -450, 0],     # LShoulder
        [440, -450, 0],     # LElbow   (290 from the shoulder)
        [690, -450, 0],     # LWrist   (250 from the elbow)
        [-150, -450, 0],    # RShoulder
        [-430, -450, 0],    # RElbow   (280 from the shoulder)
        [-680, -450, 0],    # RWrist   (250 from the elbow)
    ], dtype=float)


def random_poses(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return root_relative(rng.normal(size=(n, 17, 3)) * 200)


# ------------------------------------------------------------------------ MPJPE
def test_root_relative():
    pose = np.array([[[1.0, 2.0, 3.0], [4.0, 6.0, 3.0], [0.0, 0.0, 0.0]]])
    np.testing.assert_allclose(root_relative(pose), [[[0, 0, 0], [3, 4, 0], [-1, -2, -3]]])
    np.testing.assert_allclose(root_relative(pose, root=2), pose)


def test_mpjpe_of_offset_pose_is_offset_norm_and_not_recentred():
    target = random_poses(5)
    pred = target + np.array([3.0, 4.0, 12.0])  # |(3, 4, 12)| = 13
    np.testing.assert_allclose(mpjpe(pred, target), np.full(5, 13.0))


def test_mpjpe_two_joint_hand_example_and_mask():
    target = np.zeros((1, 2, 3))
    pred = np.array([[[3.0, 0.0, 0.0], [0.0, 3.0, 4.0]]])  # errors 3 and 5
    np.testing.assert_allclose(mpjpe(pred, target), [4.0])
    np.testing.assert_allclose(mpjpe(pred, target, mask=[False, True]), [5.0])
    np.testing.assert_allclose(mpjpe(pred, target, mask=[[True, False]]), [3.0])


def test_mpjpe_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        mpjpe(np.zeros((2, 17, 3)), np.zeros((2, 16, 3)))


# ------------------------------------------------------------------------ P-MPJPE, N-MPJPE
def test_p_mpjpe_invariant_to_similarity_transforms():
    rng = np.random.default_rng(1)
    target = random_poses(3, seed=1)
    pred = np.stack([0.7 * t @ random_rotation(rng).T + rng.normal(size=3) * 500
                     for t in target])
    assert mpjpe(pred, target).min() > 50  # the unaligned copies are far off
    np.testing.assert_allclose(p_mpjpe(pred, target), 0.0, atol=1e-8)


def test_p_mpjpe_two_joint_hand_example():
    # Any two distinct points can be mapped exactly onto any other two by a similarity.
    pred = np.array([[[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]]])
    target = np.array([[[1.0, 1.0, 1.0], [1.0, 1.0, 31.0]]])
    assert mpjpe(pred, target)[0] == pytest.approx((np.sqrt(3) + np.sqrt(81 + 1 + 961)) / 2)
    np.testing.assert_allclose(p_mpjpe(pred, target), [0.0], atol=1e-10)


def test_n_mpjpe_scaled_copy_is_zero_rotated_copy_is_not():
    target = random_poses(3, seed=2)
    np.testing.assert_allclose(n_mpjpe(0.6 * target, target), 0.0, atol=1e-10)
    # Scaling by 0.5 alone leaves half of each joint's distance from the root as P1 error.
    np.testing.assert_allclose(mpjpe(0.5 * target, target),
                               0.5 * np.linalg.norm(target, axis=-1).mean(-1))
    # Points in the x-y plane rotated by theta about z: the best scale is cos(theta) and each
    # joint keeps an error of |p| sin(theta).  Joint distances 0, 100, 200 -> mean 100 mm.
    plane = np.array([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0], [0.0, 200.0, 0.0]])
    for theta, expected in ((np.pi / 2, 100.0), (np.pi / 3, 100.0 * np.sin(np.pi / 3))):
        pred = (plane @ rot_z(theta).T)[None]
        np.testing.assert_allclose(n_mpjpe(pred, plane[None]), [expected], rtol=1e-10)
        np.testing.assert_allclose(p_mpjpe(pred, plane[None]), [0.0], atol=1e-10)


# ------------------------------------------------------------------------ PCK, AUC
def test_pck3d_constructed_counts():
    target = np.zeros((3, 17, 3))
    err = np.zeros((3, 17))
    err[0, :12], err[0, 12:] = 10.0, 200.0      # 12 of 17 within 150 mm
    err[1] = 149.9                               # all within
    err[2] = 150.1                               # none within
    pred = target.copy()
    pred[..., 1] = err                           # error along y only
    np.testing.assert_allclose(pck3d(pred, target), [12 / 17, 1.0, 0.0])
    np.testing.assert_allclose(pck3d(pred, target, threshold=5.0), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(pck3d(pred, target, threshold=150.0)[1:], [1.0, 0.0])
    # Exactly at the threshold counts as correct.
    at = np.zeros((1, 2, 3))
    at[0, :, 2] = 150.0
    np.testing.assert_allclose(pck3d(at, np.zeros_like(at)), [1.0])


def test_auc3d_hand_computed():
    target = np.zeros((2, 2, 3))
    pred = target.copy()
    pred[0, :, 0] = 42.0          # both joints 42 mm off: correct at 45, 50, ..., 150 = 22/31
    pred[1, 1, 0] = 100.0         # errors 0 and 100: PCK 0.5 below 100 mm, 1 from 100 on
    np.testing.assert_allclose(auc3d(pred, target), [22 / 31, (20 * 0.5 + 11 * 1.0) / 31])
    # Thresholds 0, 5, 10 with a 5 mm error: correct at 5 and 10.
    five = np.zeros((1, 1, 3))
    five[0, 0, 0] = 5.0
    np.testing.assert_allclose(auc3d(five, np.zeros_like(five), max_threshold=10.0, steps=3),
                               [2 / 3])
    np.testing.assert_allclose(auc3d(target, target), [1.0, 1.0])


def test_auc3d_mask():
    target = np.zeros((1, 2, 3))
    pred = target.copy()
    pred[0, 1, 0] = 1000.0        # the masked-out joint would score zero everywhere
    np.testing.assert_allclose(auc3d(pred, target, mask=[True, False]), [1.0])


# ------------------------------------------------------------------------ bone symmetry
def test_bone_symmetry_hand_built_skeleton():
    pose = hand_skeleton()
    rotated = (pose - pose[0]) @ random_rotation(np.random.default_rng(3)).T
    mirrored = pose.copy()
    # Make the right upper arm the longer one by 10 mm (elbow and wrist moved out 20 mm).
    mirrored[15:17, 0] -= 20.0
    out = bone_symmetry_error(np.stack([pose, rotated, mirrored]))
    np.testing.assert_allclose(out["upper arm"], [10.0, 10.0, 10.0], atol=1e-9)
    for group in ("lower arm", "upper leg", "lower leg"):
        np.testing.assert_allclose(out[group], 0.0, atol=1e-9)
    np.testing.assert_allclose(out["mean"], 2.5, atol=1e-9)


def test_bone_symmetry_wrong_layout():
    with pytest.raises(ValueError, match="17"):
        bone_symmetry_error(np.zeros((2, 16, 3)))


# ------------------------------------------------------------------------ per-action table
def test_per_action_average_is_mean_of_action_means():
    actions = np.array(["Directions 1", "Directions", "Directions_1", "Eating 2",
                        "TakingPhoto_1"])
    errors = {"MPJPE": np.array([10.0, 20.0, 30.0, 100.0, 60.0]),
              "P-MPJPE": np.array([1.0, 2.0, 3.0, 4.0, 5.0])}
    table = per_action_table(errors, [normalize_action(a) for a in actions], ACTIONS)
    assert table["actions"] == ("Directions", "Eating", "Photo")
    assert table["counts"] == {"Directions": 3, "Eating": 1, "Photo": 1, "Average": 5}
    mp = table["metrics"]["MPJPE"]
    assert mp["Directions"] == pytest.approx(20.0)
    assert mp["Eating"] == pytest.approx(100.0)
    assert mp["Photo"] == pytest.approx(60.0)
    # (20 + 100 + 60) / 3 = 60, not the row mean (10 + 20 + 30 + 100 + 60) / 5 = 44.
    assert mp["Average"] == pytest.approx(60.0)
    assert table["metrics"]["P-MPJPE"]["Average"] == pytest.approx((2.0 + 4.0 + 5.0) / 3)

    text = format_table(table)
    lines = text.splitlines()
    assert lines[0] == "| Action | MPJPE | P-MPJPE | N |"
    assert "| Directions | 20.0 | 2.0 | 3 |" in lines
    assert lines[-1] == "| Average | 60.0 | 3.7 | 5 |"
    assert len(lines) == 2 + 3 + 1


def test_per_action_table_errors():
    with pytest.raises(ValueError, match="unknown action"):
        per_action_table({"MPJPE": np.zeros(1)}, np.array(["Dancing"]), ACTIONS)
    with pytest.raises(ValueError, match="action labels"):
        per_action_table({"MPJPE": np.zeros(3)}, np.array(["Eating", "Eating"]))


# ------------------------------------------------------------------------ evaluate_poses
def test_evaluate_poses_values():
    target = np.stack([hand_skeleton()] * 4) - hand_skeleton()[0]
    pred = target + np.array([3.0, 4.0, 12.0])
    res = evaluate_poses(pred, target, actions=["Walking", "Walking", "Sitting", "Sitting"],
                         action_order=ACTIONS)
    assert res["mean"]["MPJPE"] == pytest.approx(13.0)
    assert res["mean"]["P-MPJPE"] == pytest.approx(0.0, abs=1e-8)
    assert res["mean"]["PCK@150"] == pytest.approx(100.0)
    assert res["bone_symmetry"]["upper arm"] == pytest.approx(10.0)
    assert res["mean"]["bone symmetry"] == pytest.approx(2.5)
    assert res["per_sample"]["MPJPE"].shape == (4,)
    assert res["per_action"]["actions"] == ("Sitting", "Walking")
    assert res["per_action"]["metrics"]["MPJPE"]["Average"] == pytest.approx(13.0)
    assert evaluate_poses(pred, target)["per_action"] is None


@pytest.mark.parametrize("pred_shape,target_shape,msg", [
    ((2, 16, 3), (2, 16, 3), r"shape \(N, 17, 3\)"),
    ((2, 17, 3), (3, 17, 3), "shapes differ"),
    ((17, 3), (17, 3), r"shape \(N, 17, 3\)"),
])
def test_evaluate_poses_rejects_bad_shapes(pred_shape, target_shape, msg):
    with pytest.raises(ValueError, match=msg):
        evaluate_poses(np.zeros(pred_shape), np.zeros(target_shape))


def test_evaluate_poses_rejects_nan_and_bad_actions():
    pred = np.zeros((2, 17, 3))
    pred[1, 4, 2] = np.nan
    with pytest.raises(ValueError, match="pred contains 1 non-finite") as err:
        evaluate_poses(pred, np.zeros((2, 17, 3)))
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="action labels"):
        evaluate_poses(np.zeros((2, 17, 3)), np.zeros((2, 17, 3)), actions=["Eating"])


# ------------------------------------------------------------------------ plausibility
def _reference_pose() -> np.ndarray:
    """A standing H36M17 pose (mm, y down) given the reference bone lengths."""
    rough = np.array([[0, 0, 0], [-1, 0, 0], [-1, 1, 0], [-1, 2, 0], [1, 0, 0], [1, 1, 0],
                      [1, 2, 0], [0, -1, 0], [0, -2, 0], [0, -2.3, -0.2], [0, -2.6, 0],
                      [1, -2, 0], [1.2, -1, 0], [1.3, 0, 0], [-1, -2, 0], [-1.2, -1, 0],
                      [-1.3, 0, 0]], float)
    return set_bone_lengths(rough, np.array(H36M_BONE_LENGTHS_MM))


def test_reference_proportions_score_one_at_any_size():
    pose = _reference_pose()
    np.testing.assert_allclose(bone_ratio_error(pose[None]), [0], atol=1e-12)
    np.testing.assert_allclose(symmetry_log_error(pose[None]), [0], atol=1e-12)
    np.testing.assert_allclose(plausibility(np.stack([pose, 0.5 * pose, 3 * pose])), 1.0)


def test_one_leg_doubled_scores_lower_and_nan_stays_nan():
    pose = _reference_pose()
    lengths = np.array(H36M_BONE_LENGTHS_MM)
    for bone in ("right upper leg", "right lower leg"):
        lengths[H36M17.bone_names.index(bone)] *= 2
    long_leg = set_bone_lengths(pose, lengths)
    # Two of six pairs differ by a factor 2: symmetry error (2 log 2) / 6, hand-computed.
    assert symmetry_log_error(long_leg[None])[0] == pytest.approx(2 * np.log(2) / 6)
    score = plausibility(np.stack([pose, long_leg, np.full((17, 3), np.nan)]))
    assert score[0] == pytest.approx(1.0) and score[1] < 0.6 and np.isnan(score[2])


@pytest.mark.slow
def test_human36m_training_poses_are_plausible_and_the_reference_is_their_mean(h36m_dir):
    data = load_h36m(h36m_dir, subjects=(1, 5, 6, 7, 8), cameras=(1,), stride=5, load_sh=False)
    lengths = H36M17.bone_lengths(data.pose_3d.astype(np.float64))
    np.testing.assert_allclose(lengths.mean(0), H36M_BONE_LENGTHS_MM, atol=0.06)
    assert np.median(plausibility(data.pose_3d[::20])) > 0.9
