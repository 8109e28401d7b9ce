"""wildpose.temporal: temporal windows, offline smoothing of keypoint sequences and constant
bone lengths per sequence."""

from __future__ import annotations

import numpy as np
import pytest
from test_skeleton import random_tree

from wildpose.skeleton import H36M17
from wildpose.temporal import (OneEuroFilter, constant_bone_lengths, gaussian_kernel,
                               smooth_sequences, window_indices)


# --------------------------------------------------------------------------- windows
def test_window_indices_by_hand():
    # Two interleaved, shuffled sequences. "a" in time order is rows 2, 4, 1;
    # "b" is rows 3, 0, 6, 5.
    seq = np.array(["b", "a", "a", "b", "a", "b", "b"])
    frame = np.array([1, 2, 0, 0, 1, 3, 2])
    np.testing.assert_array_equal(window_indices(seq, frame, 3, 1), [
        [3, 0, 6], [4, 1, 1], [2, 2, 4], [3, 3, 0], [2, 4, 1], [6, 5, 5], [0, 6, 5]])
    # Offsets -4, -2, 0, 2, 4 rows, clamped at each sequence's first and last frame.
    np.testing.assert_array_equal(window_indices(seq, frame, 5, 2)[0], [3, 3, 0, 5, 5])
    np.testing.assert_array_equal(window_indices(seq, frame, 1)[:, 0], np.arange(7))


def test_window_never_leaves_its_sequence_and_centres_on_the_row():
    rng = np.random.default_rng(0)
    seq = rng.integers(0, 5, 300)
    frame = rng.permutation(300)
    idx = window_indices(seq, frame, 9, 3)
    assert idx.shape == (300, 9)
    np.testing.assert_array_equal(idx[:, 4], np.arange(300))
    assert (seq[idx] == seq[:, None]).all()
    assert (np.diff(frame[idx], axis=1) >= 0).all()    # time order within each window


@pytest.mark.parametrize("window, step", [(2, 1), (0, 1), (3, 0)])
def test_bad_windows_are_refused(window, step):
    with pytest.raises(ValueError, match="window"):
        window_indices(np.zeros(4), np.arange(4), window, step)


# --------------------------------------------------------------------------- smoothing
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


def test_one_euro_filter():
    f = OneEuroFilter(fps=30, min_cutoff=1.0, beta=0.0)
    const = np.array([[5.0, 7.0]])
    for _ in range(5):
        np.testing.assert_allclose(f(const), const)
    rng = np.random.default_rng(0)
    f.reset()
    noisy = 100 + rng.normal(0, 1, (300, 2))
    smoothed = np.array([f(x) for x in noisy])
    assert smoothed[50:].std() < 0.5 * noisy[50:].std()
    with pytest.raises(ValueError):
        OneEuroFilter(fps=0)


# ------------------------------------------------------------- constant bone lengths
def test_each_sequence_gets_its_median_bones_whatever_the_row_order():
    rng = np.random.default_rng(1)
    a, b = random_tree(rng), random_tree(rng)
    # One person per sequence, each frame seen at a wrong size; the median size is 1.
    frames = [a * 0.9, a * 1.0, a * 1.3, b * 0.8, b * 1.0, b * 1.1, b * 2.0 * np.nan]
    seq = np.array(["a", "a", "a", "b", "b", "b", "b"])
    order = rng.permutation(len(frames))
    out = constant_bone_lengths(np.stack(frames)[order], seq[order])
    back = np.empty_like(out)
    back[order] = out
    assert np.allclose(back[:3], a) and np.allclose(back[3:6], b)
    assert np.isnan(back[6]).all()  # a missing frame stays missing and counts for nothing


def test_symmetric_bones_give_both_sides_the_mean_of_their_medians():
    rng = np.random.default_rng(2)
    pose = random_tree(rng)
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
    pose = random_tree(np.random.default_rng(3))
    names = list(H36M17.bone_names)
    wrist = H36M17.edges[names.index("left lower arm")][1]
    frames = np.stack([pose] * 4)
    frames[:, wrist] = np.nan                     # the left wrist is missing in every frame
    out = constant_bone_lengths(frames, np.zeros(4), symmetric=True)
    got = H36M17.bone_lengths(out[0])
    right = H36M17.bone_lengths(pose)[names.index("right lower arm")]
    assert got[names.index("right lower arm")] == pytest.approx(right)
    assert np.isnan(out[:, wrist]).all()          # still missing, not invented
