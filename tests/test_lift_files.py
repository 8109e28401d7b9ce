"""wildpose.lift_files: a keypoint file in, results written, the count of people lifted out."""

from __future__ import annotations

import json

import numpy as np

import wildpose
from wildpose.lift_files import lift_keypoint_file


def _standing_pixels() -> np.ndarray:
    """(1, 17, 2) pixels of a plausible upright body in H36M-17 order."""
    xy = np.array([[0, 0], [-12, 0], [-12, 45], [-12, 90], [12, 0], [12, 45], [12, 90],
                   [0, -25], [0, -50], [0, -58], [0, -70], [18, -48], [30, -25], [35, -2],
                   [-18, -48], [-30, -25], [-35, -2]], float)
    return (xy * 2 + [320, 240])[None]


def test_counts_the_people_lifted_and_writes_what_it_says(tmp_path):
    src = tmp_path / "one.npy"
    np.save(src, _standing_pixels())
    lifter = wildpose.load_lifter(backend="numpy")
    assert lift_keypoint_file(lifter, src, tmp_path / "out", max_png=0) == 1
    (person,) = json.loads((tmp_path / "out" / "one.json").read_text())["people"]
    assert len(person["keypoints_3d"]) == 17 and person["keypoints_3d"][0] == [0, 0, 0]
    assert person["keypoints_3d_confidence"] == [1.0] * 17   # every joint was given


def test_a_pose_without_hips_is_not_lifted_and_counts_zero(tmp_path, capsys):
    kp = _standing_pixels()
    kp[0, [0, 1, 2, 3, 4, 5, 6]] = np.nan                      # no hips, no legs
    src = tmp_path / "arms.npy"
    np.save(src, kp)
    lifter = wildpose.load_lifter(backend="numpy")
    assert lift_keypoint_file(lifter, src, tmp_path / "out", max_png=0) == 0
    assert "arms.npy" in capsys.readouterr().err
    (person,) = json.loads((tmp_path / "out" / "arms.json").read_text())["people"]
    assert person["keypoints_3d"] is None and person["plausibility"] is None
