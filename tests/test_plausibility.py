"""Per-person plausibility and its Human3.6M reference proportions."""

import os
from pathlib import Path

import numpy as np
import pytest

from wildpose.metrics import (H36M_BONE_LENGTHS_MM, bone_ratio_error, plausibility,
                              symmetry_log_error)
from wildpose.skeleton import H36M17, set_bone_lengths

H36M = Path(os.environ.get("WILDPOSE_DATA") or
            Path(__file__).resolve().parents[1].parent / "shared" / "data") / "h36m"


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


def test_human36m_training_poses_are_plausible_and_the_reference_is_their_mean():
    if not (H36M / "cameras.h5").is_file():
        pytest.skip(f"Human3.6M not found in {H36M}")
    from wildpose.datasets.h36m import load_h36m

    data = load_h36m(H36M, subjects=(1, 5, 6, 7, 8), cameras=(1,), stride=5, load_sh=False)
    lengths = H36M17.bone_lengths(data.pose_3d.astype(np.float64))
    np.testing.assert_allclose(lengths.mean(0), H36M_BONE_LENGTHS_MM, atol=0.06)
    assert np.median(plausibility(data.pose_3d[::20])) > 0.9
