"""wildpose.lift_files: a keypoint file in, results written, the count of people lifted out."""

from __future__ import annotations

import json

import numpy as np
import pytest

import wildpose
from wildpose.detectors import Detection, Detector
from wildpose.estimator import Estimator
from wildpose.lift_files import lift_keypoint_file
from wildpose.outputs import write_json
from wildpose.skeleton import H36M17


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


class _OnePersonDetector(Detector):
    """Finds the person of :func:`_standing_pixels` in any image."""

    name = "fixed"

    def detect(self, image):
        kp = _standing_pixels()[0]
        return [Detection(kp, np.full(17, 0.9), H36M17, (kp[:, 0].min(), kp[:, 1].min(),
                                                         kp[:, 0].max(), kp[:, 1].max()), 0.9)]


def test_lift_and_predict_write_the_same_fields_for_the_same_pose(tmp_path):
    lifter = wildpose.load_lifter(backend="numpy")
    xyc = np.concatenate([_standing_pixels(), np.full((1, 17, 1), 0.9)], -1)
    np.save(tmp_path / "p.npy", xyc)
    assert lift_keypoint_file(lifter, tmp_path / "p.npy", tmp_path / "lift", max_png=0) == 1
    (lifted,) = json.loads((tmp_path / "lift" / "p.json").read_text())["people"]
    result = Estimator(detector=_OnePersonDetector(), lifter=lifter, focal_length=500.0
                       ).predict(np.full((480, 640, 3), 90, np.uint8), "p.jpg")
    (predicted,) = json.loads(write_json(tmp_path / "predict.json", result).read_text())[
        "people"]
    shared = {"keypoints_2d", "keypoints_3d", "keypoints_3d_confidence", "plausibility"}
    assert shared <= set(lifted) and shared <= set(predicted)
    # The same numbers up to each writer's rounding (3D 0.01 / 0.1 mm, confidence 1e-3 / 1e-4).
    np.testing.assert_allclose(lifted["keypoints_2d"], predicted["keypoints_2d"], atol=0.01)
    np.testing.assert_allclose(lifted["keypoints_3d"], predicted["keypoints_3d"], atol=0.06)
    np.testing.assert_allclose(lifted["keypoints_3d_confidence"],
                               predicted["keypoints_3d_confidence"], atol=1e-3)
    assert lifted["plausibility"] == pytest.approx(predicted["plausibility"], abs=1e-4)
