"""Offline temporal smoothing of keypoint sequences (wildpose.temporal)."""

from __future__ import annotations

import numpy as np
import pytest

from wildpose.temporal import gaussian_kernel, smooth_sequences


def test_kernel_is_a_normalized_symmetric_gaussian():
    k = gaussian_kernel(2.0)
    assert len(k) == 13                       # r = ceil(3 * 2) = 6
    assert k.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(k, k[::-1])
    assert k[6] / k[8] == pytest.approx(np.exp(0.5))   # exp(-(2/2)^2 / 2) one sigma away
    with pytest.raises(ValueError, match="sigma"):
        gaussian_kernel(0.0)


def test_constant_and_straight_line_motion_pass_unchanged_even_at_the_ends():
    t = np.arange(40, dtype=np.float64)
    # One joint moving at constant speed, another standing still: (T, 2 joints, 2).
    x = np.stack([np.stack([3 * t + 1, -2 * t], -1), np.full((40, 2), 7.0)], 1)
    out = smooth_sequences(x, np.zeros(40), t, sigma=3.0)
    np.testing.assert_allclose(out, x, atol=1e-9)


def test_frame_to_frame_jitter_is_damped_by_the_known_factor():
    # An alternating +-1 signal: a Gaussian of sigma s scales it by sum_k w_k (-1)^k.
    t = np.arange(200)
    x = np.where(t % 2 == 0, 1.0, -1.0)[:, None]
    sigma = 1.5
    k = gaussian_kernel(sigma)
    r = len(k) // 2
    gain = abs(sum(w * (-1) ** (i - r) for i, w in enumerate(k)))
    out = smooth_sequences(x, np.zeros(200), t, sigma)
    np.testing.assert_allclose(np.abs(out[r:-r, 0]), gain, rtol=1e-9)
    assert gain < 0.01


def test_sequences_are_smoothed_apart_and_row_order_does_not_matter():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 3)), rng.normal(size=(20, 3)) + 100
    x = np.concatenate([a, b])
    seq = np.array(["a"] * 30 + ["b"] * 20)
    frame = np.concatenate([np.arange(30), np.arange(20)])
    ref = smooth_sequences(x, seq, frame, 2.0)
    np.testing.assert_allclose(ref[:30], smooth_sequences(a, np.zeros(30), np.arange(30), 2.0))
    np.testing.assert_allclose(ref[30:], smooth_sequences(b, np.zeros(20), np.arange(20), 2.0))
    perm = rng.permutation(50)
    np.testing.assert_allclose(smooth_sequences(x[perm], seq[perm], frame[perm], 2.0),
                               ref[perm])


def test_missing_values_stay_missing_and_do_not_spread():
    t = np.arange(15, dtype=np.float64)
    x = np.stack([t, t], 1)                 # two "joints" following a line
    x[7, 0] = np.nan
    out = smooth_sequences(x, np.zeros(15), t, 1.0)
    assert np.isnan(out[7, 0])
    assert np.isfinite(out[:, 1]).all() and np.isfinite(np.delete(out[:, 0], 7)).all()
    # Frame 6 averages frames 3..9 without frame 7: the weights of what exists, renormalized.
    w = {k: np.exp(-0.5 * k * k) for k in range(-3, 4) if k != 1}
    expected = sum(wk * (6 + k) for k, wk in w.items()) / sum(w.values())
    np.testing.assert_allclose(out[6, 0], expected, rtol=1e-9)


def test_zero_sigma_is_a_copy_and_mismatched_lengths_are_refused():
    x = np.ones((4, 2))
    out = smooth_sequences(x, np.zeros(4), np.arange(4), 0)
    assert out is not x and (out == x).all()
    with pytest.raises(ValueError, match="rows"):
        smooth_sequences(x, np.zeros(3), np.arange(4), 1.0)


def test_h36m_inputs_are_smoothed_per_camera_sequence():
    """Two cameras of one take, rows interleaved: each camera's track is smoothed alone."""
    from wildpose.datasets.h36m import H36MData

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


# ------------------------------------------------------------- constant bone lengths
def _random_pose(rng):
    from wildpose.skeleton import H36M17

    pose = np.zeros((17, 3))
    for c, p in enumerate(H36M17.parents):
        if p >= 0:  # H36M17 numbers parents before children
            pose[c] = pose[p] + rng.normal(size=3) * 100
    return pose


def test_a_bone_set_to_a_new_length_keeps_its_direction_and_carries_its_subtree():
    from wildpose.skeleton import H36M17, set_bone_lengths

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
    from wildpose.skeleton import H36M17, set_bone_lengths

    pose = _random_pose(np.random.default_rng(0))
    own = H36M17.bone_lengths(pose)
    assert np.allclose(set_bone_lengths(pose, own), pose)
    assert np.allclose(set_bone_lengths(pose, 2 * own), 2 * pose)  # root at the origin


def test_each_sequence_gets_its_median_bones_whatever_the_row_order():
    from wildpose.temporal import constant_bone_lengths

    rng = np.random.default_rng(1)
    a, b = _random_pose(rng), _random_pose(rng)
    # One person per sequence, each frame seen at a wrong size; the median size is 1.
    frames = [a * 0.9, a * 1.0, a * 1.3, b * 0.8, b * 1.0, b * 1.1, b * 2.0 * np.nan]
    seq = np.array(["a", "a", "a", "b", "b", "b", "b"])
    order = rng.permutation(len(frames))
    out = constant_bone_lengths(np.stack(frames)[order], seq[order])
    back = np.empty_like(out)
    back[order] = out
    assert np.allclose(back[:3], a) and np.allclose(back[3:6], b)
    assert np.isnan(back[6]).all()  # a missing frame stays missing and counts for nothing


def test_mirror_bones_of_h36m17_by_name():
    from wildpose.skeleton import H36M17

    names = H36M17.bone_names
    mirror = {names[k]: names[m] for k, m in enumerate(H36M17.mirror_bones())}
    assert mirror["left upper arm"] == "right upper arm"
    assert mirror["right lower leg"] == "left lower leg"
    assert mirror["left hip"] == "right hip" and mirror["right shoulder"] == "left shoulder"
    for midline in ("lower spine", "upper spine", "neck", "head"):
        assert mirror[midline] == midline
    assert sorted(H36M17.mirror_bones().tolist()) == list(range(len(names)))


def test_symmetric_bones_give_both_sides_the_mean_of_their_medians():
    from wildpose.skeleton import H36M17
    from wildpose.temporal import constant_bone_lengths

    rng = np.random.default_rng(2)
    pose = _random_pose(rng)
    names = list(H36M17.bone_names)
    own = H36M17.bone_lengths(pose)
    # Every frame the same pose, so the medians are the pose's own lengths: then each
    # pair's new length is the mean of its two sides, and midline bones keep theirs.
    out = constant_bone_lengths(np.stack([pose] * 5), np.zeros(5), symmetric=True)
    got = H36M17.bone_lengths(out[0])
    for left, right in (("left upper arm", "right upper arm"), ("left hip", "right hip"),
                        ("left lower leg", "right lower leg")):
        mean = (own[names.index(left)] + own[names.index(right)]) / 2
        assert got[names.index(left)] == pytest.approx(mean)
        assert got[names.index(right)] == pytest.approx(mean)
    for midline in ("lower spine", "neck", "head"):
        assert got[names.index(midline)] == pytest.approx(own[names.index(midline)])
    # Directions are kept: each bone's unit vector is unchanged.
    child = [c for _, c in H36M17.edges]
    parent = [p for p, _ in H36M17.edges]
    d_in, d_out = pose[child] - pose[parent], out[0][child] - out[0][parent]
    np.testing.assert_allclose(d_out / np.linalg.norm(d_out, axis=-1, keepdims=True),
                               d_in / np.linalg.norm(d_in, axis=-1, keepdims=True), atol=1e-9)
    # A pose that is symmetric already is left as it is.
    assert np.allclose(constant_bone_lengths(np.stack([out[0]] * 3), np.zeros(3),
                                             symmetric=True), out[0])


def test_a_side_never_seen_takes_the_other_sides_length():
    from wildpose.skeleton import H36M17
    from wildpose.temporal import constant_bone_lengths

    pose = _random_pose(np.random.default_rng(3))
    names = list(H36M17.bone_names)
    wrist = H36M17.edges[names.index("left lower arm")][1]
    frames = np.stack([pose] * 4)
    frames[:, wrist] = np.nan                     # the left wrist is missing in every frame
    out = constant_bone_lengths(frames, np.zeros(4), symmetric=True)
    got = H36M17.bone_lengths(out[0])
    right = H36M17.bone_lengths(pose)[names.index("right lower arm")]
    assert got[names.index("right lower arm")] == pytest.approx(right)
    assert np.isnan(out[:, wrist]).all()          # still missing, not invented
