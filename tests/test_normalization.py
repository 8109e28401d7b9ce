"""Per-pose 2D normalization (wildpose.normalization); the mirror is tested in test_skeleton,
training augmentation in test_augment.

Expected values are computed by hand (small poses) or follow from properties the operations
must have (invariance to translation / uniform scale, involution, rigid-body facts), never from
the code's own output.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wildpose.normalization import denormalize_2d, normalize_2d

RNG = np.random.default_rng(1234)


def random_poses(n: int, j: int = 17, rng=RNG) -> np.ndarray:
    """(n, j, 2) pixel poses around (500, 400), ~100 px tall."""
    return (rng.normal(size=(n, j, 2)) * 60 + np.array([500.0, 400.0])).astype(np.float64)


# --------------------------------------------------------------------------- normalize_2d
def test_hand_computed_three_joints():
    kp = np.array([[10.0, 20.0], [13.0, 24.0], [10.0, 8.0]])  # offsets (3,4) and (0,-12)
    valid = np.ones(3, bool)
    norm, center, scale = normalize_2d(kp, valid, root=0)
    # RMS distance from the root over the three joints (root contributes 0): (0+25+144)/3
    expected_scale = np.sqrt((0 + 25 + 144) / 3)
    np.testing.assert_allclose(center, [10.0, 20.0])
    np.testing.assert_allclose(scale, expected_scale)
    np.testing.assert_allclose(norm, np.array([[0, 0], [3, 4], [0, -12]]) / expected_scale)
    # The normalized pose has unit RMS distance from the root.
    np.testing.assert_allclose(np.sqrt((norm ** 2).sum(-1).mean()), 1.0)


def test_integer_pixels_are_not_truncated():
    kp = np.array([[10, 20], [13, 24], [10, 8]])  # int64, as from a detector's int output
    norm, center, scale = normalize_2d(kp, np.ones(3, bool))
    assert np.issubdtype(norm.dtype, np.floating)
    np.testing.assert_allclose(norm, np.array([[0, 0], [3, 4], [0, -12]]) / np.sqrt(169 / 3))
    norm_t, _, _ = normalize_2d(torch.from_numpy(kp), torch.ones(3, dtype=torch.bool))
    np.testing.assert_allclose(norm_t.numpy(), norm, rtol=1e-6)


def test_root_other_than_index_zero():
    kp = np.array([[13.0, 24.0], [10.0, 20.0], [10.0, 8.0]])
    norm, center, scale = normalize_2d(kp, np.ones(3, bool), root=1)
    np.testing.assert_allclose(center, [10.0, 20.0])
    np.testing.assert_allclose(norm[1], [0.0, 0.0])
    np.testing.assert_allclose(scale, np.sqrt(169 / 3))


@pytest.mark.parametrize("s, t", [(2.5, (100.0, -40.0)), (0.1, (-1e3, 3e3)), (1.0, (7.0, 0.0))])
def test_invariant_to_translation_and_uniform_scale(s, t):
    kp = random_poses(8)
    valid = RNG.random((8, 17)) > 0.2
    valid[:, 0] = RNG.random(8) > 0.5  # some poses with and some without their root
    n1, c1, s1 = normalize_2d(kp, valid)
    n2, c2, s2 = normalize_2d(kp * s + np.array(t), valid)
    np.testing.assert_allclose(n2, n1, atol=1e-9)
    np.testing.assert_allclose(s2, s1 * s, rtol=1e-9)
    np.testing.assert_allclose(c2, c1 * s + np.array(t), rtol=1e-9, atol=1e-6)


def test_denormalize_round_trip_on_valid_joints():
    kp = random_poses(5)
    valid = RNG.random((5, 17)) > 0.3
    norm, center, scale = normalize_2d(kp, valid)
    back = denormalize_2d(norm, center, scale)
    np.testing.assert_allclose(back[valid], kp[valid], rtol=1e-12, atol=1e-9)


def test_invalid_root_falls_back_to_centroid_of_valid_joints():
    kp = np.array([[1e6, -1e6],      # root, invalid: its value must not matter
                   [0.0, 0.0], [4.0, 0.0], [4.0, 6.0], [0.0, 6.0]])
    valid = np.array([False, True, True, True, True])
    norm, center, scale = normalize_2d(kp, valid, root=0)
    np.testing.assert_allclose(center, [2.0, 3.0])  # the rectangle's centre
    # Every valid corner is sqrt(2^2+3^2) from the centre; mean over the 4 valid joints.
    np.testing.assert_allclose(scale, np.sqrt(13.0))
    np.testing.assert_allclose(norm[0], [0.0, 0.0])


def test_invalid_joints_are_zero_and_do_not_affect_scale():
    kp = random_poses(1)[0]
    valid = np.ones(17, bool)
    valid[[3, 10, 16]] = False
    garbage = kp.copy()
    garbage[[3, 10, 16]] = [[1e7, 1e7], [np.nan, np.nan], [-np.inf, 5.0]]
    norm, center, scale = normalize_2d(garbage, valid)
    assert np.isfinite(norm).all()
    np.testing.assert_array_equal(norm[~valid], 0.0)
    # Scale by hand from the valid joints only.
    d = kp[valid] - kp[0]
    np.testing.assert_allclose(scale, np.sqrt((d ** 2).sum(-1).mean()))
    np.testing.assert_allclose(norm[valid], d / scale)


def test_nothing_valid_gives_zeros_not_nan():
    norm, center, scale = normalize_2d(random_poses(1)[0], np.zeros(17, bool))
    assert np.isfinite(norm).all() and np.isfinite(scale).all() and np.isfinite(center).all()
    np.testing.assert_array_equal(norm, 0.0)


def test_numpy_and_torch_agree():
    kp = random_poses(16).astype(np.float32)
    valid = RNG.random((16, 17)) > 0.25
    valid[::3, 0] = False
    valid[5] = False  # a pose with no valid joint at all
    n_np, c_np, s_np = normalize_2d(kp, valid)
    n_t, c_t, s_t = normalize_2d(torch.from_numpy(kp), torch.from_numpy(valid))
    assert isinstance(n_t, torch.Tensor)
    np.testing.assert_allclose(n_t.numpy(), n_np, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c_t.numpy(), c_np, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(s_t.numpy(), s_np, rtol=1e-5)
    assert n_np.dtype == np.float32

