"""Human3.6M evaluation protocol on a small slice of the real data (skipped without it), and
the simulated occlusion of robustness checks (wildpose.evaluation.occlude_limbs).

Row counts come from the 3D files' frame counts, averages are recomputed by hand from the
saved predictions, and a "perfect" stub lifter (returning the ground truth) must score ~0 mm.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from wildpose.api import Lifter
from wildpose.datasets.h36m import ACTIONS, load_h36m
from wildpose.evaluation import evaluate_h36m, lift_h36m, load_predictions, occlude_limbs
from wildpose.metrics import evaluate_poses
from wildpose.models.lifter import LifterConfig, ResidualMLPLifter
from wildpose.skeleton import get_layout
from wildpose.zoo import save_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # data tests request h36m_dir
STRIDE = 200



@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = ResidualMLPLifter(LifterConfig(width=64, blocks=1)).eval()
    with torch.no_grad():
        model.out_std.fill_(100.0)
    return save_model(tmp_path_factory.mktemp("model") / "tiny.safetensors", model,
                      {"name": "tiny-eval"})


def frames_per_sequence(h36m_dir: Path, subject: int) -> dict[str, int]:
    """{3D file base name: number of frames}, read straight from the files."""
    out = {}
    for f in sorted((h36m_dir / f"S{subject}" / "MyPoses" / "3D_positions").glob("*.h5")):
        with h5py.File(f, "r") as h:
            out[f.stem] = h["3D_positions"].shape[1]
    return out


def base_action(name: str) -> str:
    return re.sub(r" \d+$", "", name)


@pytest.fixture(scope="module")
def s9_result(h36m_dir, tiny_model, tmp_path_factory):
    npz = tmp_path_factory.mktemp("eval") / "preds" / "s9.npz"
    res = evaluate_h36m(Lifter(tiny_model, device="cpu"), h36m_dir, inputs="gt",
                        subjects=(9,), stride=STRIDE, save_predictions_to=npz)
    return res, npz


def test_saved_predictions_layout(s9_result, h36m_dir):
    res, npz = s9_result
    assert res["predictions_file"] == str(npz)
    p = load_predictions(npz)
    assert set(p) == {"subject", "action", "camera", "frame", "pred"}
    n = len(p["pred"])
    assert p["pred"].shape == (n, 17, 3) and p["pred"].dtype == np.float32
    for k in ("subject", "action", "camera", "frame"):
        assert p[k].shape == (n,), k
    seqs = frames_per_sequence(h36m_dir, 9)
    # One row per (sequence, camera, every 200th frame).
    assert n == 4 * sum(math.ceil(f / STRIDE) for f in seqs.values())
    assert res["num_samples"] == n and res["num_skipped_samples"] == 0
    assert set(p["subject"].tolist()) == {9}
    assert set(p["action"].tolist()) == set(seqs)  # 3D file base names, e.g. "Directions 1"
    assert "Directions 1" in set(p["action"].tolist())
    assert set(p["camera"].tolist()) == {1, 2, 3, 4}
    assert (p["frame"] % STRIDE == 0).all()
    for seq, nf in seqs.items():
        rows = (p["action"] == seq) & (p["camera"] == 2)
        np.testing.assert_array_equal(np.sort(p["frame"][rows]), np.arange(0, nf, STRIDE))
    assert np.isfinite(p["pred"]).all()
    np.testing.assert_array_equal(p["pred"][:, 0], 0.0)


def test_result_averages_recomputed_by_hand(s9_result, h36m_dir):
    res, npz = s9_result
    p = load_predictions(npz)
    data = load_h36m(h36m_dir, subjects=(9,), stride=STRIDE, load_sh=False)
    # Rows align with the loader's order (same subject/action/camera/frame).
    np.testing.assert_array_equal(p["frame"], data.frame)
    np.testing.assert_array_equal(p["action"], data.action)
    target = data.pose_3d - data.pose_3d[:, :1]
    err = np.linalg.norm(p["pred"].astype(np.float64) - target, axis=-1).mean(-1)
    actions = np.array([base_action(a) for a in p["action"]])
    per_action = {a: err[actions == a].mean() for a in np.unique(actions)}
    assert set(per_action) <= set(ACTIONS)
    # The protocol averages the per-action means (each action weighs the same).
    assert res["P1"] == pytest.approx(np.mean(list(per_action.values())), rel=1e-6)
    for a, v in per_action.items():
        assert res["per_action"]["metrics"]["P1"][a] == pytest.approx(v, rel=1e-6)
        assert res["per_action"]["counts"][a] == int((actions == a).sum())
    assert 0 < res["P2"] < res["P1"]  # Procrustes alignment can only reduce the error
    assert res["subjects"] == [9] and res["stride"] == STRIDE and res["inputs"] == "gt"
    assert res["model"] == "tiny-eval"
    assert "| Average |" in res["table"]


def test_sh_inputs_skip_rows_without_detections(h36m_dir, tiny_model, tmp_path):
    """S11 has no stacked-hourglass file for "Directions" seen by camera 54138969."""
    npz = tmp_path / "s11_sh.npz"
    res = evaluate_h36m(Lifter(tiny_model, device="cpu"), h36m_dir, inputs="sh",
                        subjects=(11,), stride=STRIDE, save_predictions_to=npz)
    p = load_predictions(npz)
    with h5py.File(h36m_dir / "cameras.h5", "r") as f:
        names = {c: "".join(chr(int(v)) for v in np.asarray(f[f"subject11/camera{c}/Name"][()])
                                                   .ravel()) for c in range(1, 5)}
    cam = next(c for c, name in names.items() if name == "54138969")
    seqs = frames_per_sequence(h36m_dir, 11)
    missing_rows = (p["action"] == "Directions") & (p["camera"] == cam)
    assert missing_rows.sum() == math.ceil(seqs["Directions"] / STRIDE)
    lifted = np.isfinite(p["pred"]).all((1, 2))
    np.testing.assert_array_equal(lifted, ~missing_rows)
    assert res["num_skipped_samples"] == missing_rows.sum()
    assert res["num_samples"] == len(p["pred"]) - missing_rows.sum()
    assert any("Directions.54138969" in s for s in res["skipped"])
    assert np.isfinite(res["P1"]) and res["inputs"] == "sh"


class PerfectStub:
    """Not a Lifter: returns the ground truth of the rows it is asked to lift (it checks that it
    was given exactly those rows' 2D inputs)."""

    info: dict = {}

    def __init__(self, data, offset_mm: float = 0.0):
        self.kp2d = data.pose_2d
        self.truth = (data.pose_3d - data.pose_3d[:, :1]).astype(np.float64)
        self.truth[:, 1:, 0] += offset_mm

    def lift(self, keypoints, layout="h36m17"):
        assert layout == "h36m17"
        np.testing.assert_array_equal(keypoints, self.kp2d)
        return self.truth.astype(np.float32)


@pytest.fixture(scope="module")
def s9_data(h36m_dir):
    return load_h36m(h36m_dir, subjects=(9,), stride=STRIDE, load_sh=False)


def test_perfect_stub_scores_zero_through_lift_h36m(s9_data):
    pred, have = lift_h36m(PerfectStub(s9_data), s9_data, "gt")
    assert have.all()
    target = s9_data.pose_3d - s9_data.pose_3d[:, :1]
    res = evaluate_poses(pred[have], target[have], s9_data.action[have])
    m = res["per_action"]["metrics"]
    assert m["MPJPE"]["Average"] < 1e-3
    assert m["P-MPJPE"]["Average"] < 1e-2
    assert m["PCK@150"]["Average"] == pytest.approx(100.0)


def test_known_offset_stub_scores_the_offset(s9_data):
    """Every non-root joint 10 mm off in x: MPJPE is 10 * 16/17 mm on every row."""
    pred, have = lift_h36m(PerfectStub(s9_data, offset_mm=10.0), s9_data, "gt")
    target = s9_data.pose_3d - s9_data.pose_3d[:, :1]
    res = evaluate_poses(pred, target, s9_data.action)
    assert res["per_action"]["metrics"]["MPJPE"]["Average"] == pytest.approx(160 / 17, rel=1e-4)
    assert res["per_action"]["metrics"]["P-MPJPE"]["Average"] < 160 / 17


class PerfectLifter(Lifter):
    """The same perfect stub as a Lifter subclass, which evaluate_h36m accepts as a model."""

    def __init__(self, data):
        self._stub = PerfectStub(data)

    @property
    def info(self):
        return {"name": "perfect"}

    def lift(self, keypoints, layout="h36m17", **kwargs):
        return self._stub.lift(keypoints, layout)


def test_perfect_lifter_scores_zero_through_evaluate_h36m(s9_data):
    res = evaluate_h36m(PerfectLifter(s9_data), data=s9_data)
    assert res["P1"] < 1e-3 and res["P2"] < 1e-2 and res["N-MPJPE"] < 1e-3
    assert res["PCK@150"] == pytest.approx(100.0) and res["model"] == "perfect"
    assert res["num_samples"] == len(s9_data)


def test_consistent_bones_undo_a_per_frame_size_error(h36m_dir):
    """A lifter that gets each pose right but at a wrong size in one frame of three: the
    sequences' median bones are the true ones, so setting them restores every frame."""
    data = load_h36m(h36m_dir, subjects=(9,), stride=200)
    truth = data.pose_3d - data.pose_3d[:, :1]
    size = np.where(np.arange(len(truth)) % 3 == 0, 1.3, 1.0)  # median 1 in every sequence

    class SizeErrors:
        def lift(self, keypoints, layout="h36m17"):
            assert len(keypoints) == len(truth)
            return truth * size[:, None, None]

    plain = evaluate_h36m(SizeErrors(), inputs="gt", data=data)
    fixed = evaluate_h36m(SizeErrors(), inputs="gt", data=data, consistent_bones=True)
    assert plain["P1"] > 10
    assert fixed["P1"] < 0.01 and fixed["consistent_bones"] is True


def test_occluded_rows_reach_the_lifter_as_missing_joints_and_are_still_scored(s9_data):
    """evaluate_h36m(occlude=1): every row is lifted with one lower limb (2 joints) missing,
    and scored, so the check measures the lifter on missing joints, not fewer samples."""
    seen = []

    class Recorder:
        def lift(self, keypoints, layout="h36m17"):
            seen.append(keypoints)
            return np.zeros((len(keypoints), 17, 3), np.float32)

    res = evaluate_h36m(Recorder(), data=s9_data, occlude=1.0)
    (kp,) = seen
    assert (np.isnan(kp).any(2).sum(1) == 2).all()
    assert res["num_samples"] == len(s9_data) and res["occlude"] == 1.0
    _, have = lift_h36m(Recorder(), s9_data, "gt")
    assert not np.isnan(seen[-1]).any() and have.all()


def test_predictions_file_named_without_npz_is_the_file_written(h36m_dir, tiny_model, tmp_path):
    """numpy appends .npz to a name without it; the result names the file really written."""
    res = evaluate_h36m(Lifter(tiny_model, device="cpu"), h36m_dir, inputs="gt",
                        subjects=(9,), stride=STRIDE, save_predictions_to=tmp_path / "preds")
    assert res["predictions_file"] == str(tmp_path / "preds.npz")
    assert load_predictions(tmp_path / "preds.npz")["pred"].shape[1:] == (17, 3)


def test_evaluate_refuses_a_folder_as_an_output_file_before_running(tmp_path, capsys):
    from wildpose.cli import main

    folder = tmp_path / "results"
    folder.mkdir()
    for flag in ("--json", "--save-predictions"):
        # a data folder that does not exist: the output check must come first
        assert main(["evaluate", "--data-dir", str(tmp_path / "none"), flag, str(folder)]) == 2
        err = capsys.readouterr().err
        assert f"{flag} {folder}: is a folder" in err and err.count("\n") == 1


def test_score_h36m_scores_given_predictions_with_and_without_bone_fixing(s9_data):
    """Ground truth with every non-root joint 10 mm off in x scores 160/17 mm as lifted.
    Human3.6M's true bones are constant within a sequence, so consistent bones change the
    perfect predictions by nothing, and symmetric bones make the symmetry error 0 mm."""
    from wildpose.evaluation import score_h36m

    target = s9_data.pose_3d - s9_data.pose_3d[:, :1]
    have = np.ones(len(target), bool)
    off = target.copy()
    off[:, 1:, 0] += 10.0
    r = score_h36m(s9_data, off, have, about={"model": "offset"})
    assert r["model"] == "offset" and r["num_samples"] == len(target)
    assert r["P1"] == pytest.approx(160 / 17, rel=1e-4)
    assert score_h36m(s9_data, target, have, consistent_bones=True)["P1"] < 0.5
    sym = score_h36m(s9_data, target, have, symmetric_bones=True)
    assert sym["consistent_bones"] and sym["bone_symmetry"]["mean"] < 1e-3
    every_other = score_h36m(s9_data, off, have, stride=2 * STRIDE)
    assert every_other["num_samples"] == int((s9_data.frame % (2 * STRIDE) == 0).sum())


# ---------------------------------------------------------------- simulated occlusion
LIMBS = {frozenset(p) for p in (("LElbow", "LWrist"), ("RElbow", "RWrist"),
                                ("LKnee", "LFoot"), ("RKnee", "RFoot"))}


@pytest.mark.parametrize("layout", ["h36m17", "mpii16"])
def test_every_row_loses_exactly_one_lower_limb_at_fraction_one(layout):
    names = get_layout(layout).joints
    kp = np.random.default_rng(1).normal(500, 100, (400, len(names), 2))
    out = occlude_limbs(kp, layout, 1.0)
    seen = set()
    for row_in, row_out in zip(kp, out):
        lost = np.flatnonzero(np.isnan(row_out).any(1))
        limb = frozenset(names[j] for j in lost)
        assert limb in LIMBS, limb
        assert np.isnan(row_out[lost]).all()  # both coordinates
        kept = np.setdiff1d(np.arange(len(names)), lost)
        np.testing.assert_array_equal(row_out[kept], row_in[kept])
        seen.add(limb)
    assert seen == LIMBS  # all four limbs are drawn


def test_fraction_zero_changes_nothing_and_the_input_is_not_touched():
    kp = np.arange(10 * 17 * 2, dtype=np.int16).reshape(10, 17, 2)
    before = kp.copy()
    out = occlude_limbs(kp, "h36m17", 0.0)
    np.testing.assert_array_equal(out, kp)
    assert out.dtype.kind == "f"
    occlude_limbs(kp, "h36m17", 1.0)
    np.testing.assert_array_equal(kp, before)


def test_share_of_rows_and_the_same_draw_for_the_same_seed():
    kp = np.zeros((20000, 17, 2))
    out = occlude_limbs(kp, "h36m17", 0.3)
    hit = np.isnan(out).any((1, 2))
    assert abs(hit.mean() - 0.3) < 0.015  # binomial sd 0.0032
    np.testing.assert_array_equal(np.isnan(occlude_limbs(kp, "h36m17", 0.3)), np.isnan(out))
    assert not np.array_equal(np.isnan(occlude_limbs(kp, "h36m17", 0.3, seed=1)),
                              np.isnan(out))


@pytest.mark.parametrize("fraction", [-0.1, 1.5, float("nan")])
def test_bad_fraction_is_refused(fraction):
    with pytest.raises(ValueError, match="occlusion fraction"):
        occlude_limbs(np.zeros((2, 17, 2)), "h36m17", fraction)
