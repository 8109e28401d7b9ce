"""Ronchi et al. 2018: the losses on hand-made cases, the network's output contract, and tiny
training runs on Human3.6M (skipped without the data).

Loss values are computed by hand in the comments (math module arithmetic in the asserts);
invariances are checked by transforming the inputs, never by re-running the code's formula.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from experiments.ronchi_table import EXPERIMENT_ROWS, run_ronchi_experiment
from wildpose.losses import (left_right_bone_pairs, limb_prior_loss, ranking_loss,
                             reprojection_loss, root_loss)
from wildpose.methods.ronchi import (RonchiConfig, RonchiNet, RonchiNetConfig, feasible_scale,
                                     limb_statistics, normalize_to_units, train_ronchi)
from wildpose.methods.ronchi.data import prepare_ronchi_data
from wildpose.relative_depth import generate_relative_labels, h36m_sample_keys
from wildpose.skeleton import H36M17

torch.set_num_threads(1)


def t(x, dtype=torch.float32):
    return torch.tensor(x, dtype=dtype)


# --------------------------------------------------------------------------- ranking loss
def hand_batch():
    """Two samples of 3 joints.  Pairs (sample, i, j, label):
    (0, 0, 1, +1): d = z1 - z0 = 1, correct order;
    (0, 2, 0, -1): d = z0 - z2 = -3, j (joint 0) closer, correct;
    (1, 0, 1,  0): d = 0, "same".
    mean |d| = 4/3, so the normalized differences are 0.75, -2.25, 0."""
    depth = t([[0.0, 1.0, 3.0], [2.0, 2.0, 0.0]])
    i, j = t([0, 2, 0], torch.long), t([1, 0, 1], torch.long)
    label, s = t([1, -1, 0], torch.long), t([0, 0, 1], torch.long)
    return depth, i, j, label, s


def test_ranking_loss_hand_value():
    depth, i, j, label, s = hand_batch()
    expected = (math.log(1 + math.exp(-0.75)) + math.log(1 + math.exp(-2.25)) + 0.0) / 3
    assert ranking_loss(depth, i, j, label, s).item() == pytest.approx(expected, rel=1e-5)
    per = ranking_loss(depth, i, j, label, s, reduction="none")
    assert per.tolist() == pytest.approx([math.log(1 + math.exp(-0.75)),
                                          math.log(1 + math.exp(-2.25)), 0.0], rel=1e-5)
    # multiplier 2: normalized differences 1.5, -4.5, 0.
    expected2 = (math.log(1 + math.exp(-1.5)) + math.log(1 + math.exp(-4.5))) / 3
    assert ranking_loss(depth, i, j, label, s, multiplier=2.0).item() == \
        pytest.approx(expected2, rel=1e-5)


def test_ranking_loss_with_a_given_normalizer():
    # normalizer 2 (e.g. a mean bone length): differences 1, -3, 0 become 0.5, -1.5, 0.
    depth, i, j, label, s = hand_batch()
    expected = (math.log(1 + math.exp(-0.5)) + math.log(1 + math.exp(-1.5))) / 3
    assert ranking_loss(depth, i, j, label, s, normalizer=2.0).item() == \
        pytest.approx(expected, rel=1e-5)
    # Scaling depths and normalizer together (a change of units) changes nothing.
    assert ranking_loss(depth * 7, i, j, label, s, normalizer=t(14.0)).item() == \
        pytest.approx(expected, rel=1e-5)


def test_ranking_loss_with_one_normalizer_per_sample():
    # Sample 0 normalized by 2 (differences 1, -3 -> 0.5, -1.5), sample 1 by 5 (0 -> 0).
    depth, i, j, label, s = hand_batch()
    expected = (math.log(1 + math.exp(-0.5)) + math.log(1 + math.exp(-1.5))) / 3
    got = ranking_loss(depth, i, j, label, s, normalizer=t([2.0, 5.0]))
    assert got.item() == pytest.approx(expected, rel=1e-5)
    # Scaling one sample's depths and its normalizer together changes nothing.
    scaled = depth * t([[1.0], [9.0]])
    assert ranking_loss(scaled, i, j, label, s, normalizer=t([2.0, 45.0])).item() == \
        pytest.approx(expected, rel=1e-5)


def test_ranking_loss_same_term_is_squared():
    # One "same" pair with d = 2 and one ordered pair with d = 2: mean |d| = 2, both
    # normalized to 1: (1^2 + log(1 + e^-1)) / 2.
    depth = t([[0.0, 2.0]]).repeat(2, 1)
    loss = ranking_loss(depth, t([0, 0], torch.long), t([1, 1], torch.long),
                        t([0, 1], torch.long), t([0, 1], torch.long))
    assert loss.item() == pytest.approx((1.0 + math.log(1 + math.exp(-1.0))) / 2, rel=1e-6)


def test_ranking_loss_wrong_order_costs_more_than_right_order():
    depth = t([[0.0, 1.0]])
    args = (t([0], torch.long), t([1], torch.long))
    right = ranking_loss(depth, *args, t([1], torch.long), t([0], torch.long))
    wrong = ranking_loss(depth, *args, t([-1], torch.long), t([0], torch.long))
    # |d| normalizes to 1: log(1 + e^-1) vs log(1 + e^1).
    assert right.item() == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-6)
    assert wrong.item() == pytest.approx(math.log(1 + math.e), rel=1e-6)


def test_ranking_loss_invariances():
    depth, i, j, label, s = hand_batch()
    ref = ranking_loss(depth, i, j, label, s).item()
    # A constant depth per sample (or for the batch) changes nothing ...
    shifted = depth + t([[5.0], [-123.0]])
    assert ranking_loss(shifted, i, j, label, s).item() == pytest.approx(ref, rel=1e-6)
    # ... nor does one positive scale for the whole batch (the per-batch normalization) ...
    assert ranking_loss(depth * 37.5, i, j, label, s).item() == pytest.approx(ref, rel=1e-6)
    # ... nor writing a pair the other way round with the opposite label.
    assert ranking_loss(depth, j, i, -label, s).item() == pytest.approx(ref, rel=1e-6)


def test_ranking_loss_gradient_pushes_toward_the_label():
    depth = t([[0.0, -0.1, 1.0]]).requires_grad_()
    # Label: joint 0 closer than joint 1, but 1 is predicted closer (d = -0.1).
    loss = ranking_loss(depth, t([0], torch.long), t([1], torch.long), t([1], torch.long),
                        t([0], torch.long))
    loss.backward()
    # Descending the gradient moves joint 0 nearer and joint 1 farther.
    assert depth.grad[0, 0] > 0 and depth.grad[0, 1] < 0 and depth.grad[0, 2] == 0


def test_ranking_loss_without_pairs_is_zero():
    empty = torch.zeros(0, dtype=torch.long)
    depth = torch.ones(2, 17, requires_grad=True)
    loss = ranking_loss(depth, empty, empty, empty, empty)
    assert loss.item() == 0.0
    loss.backward()


# ----------------------------------------------------------------------- reprojection etc.
def test_reprojection_loss_hand_value():
    # Joint 0 at the origin, joint 1 at (1, 2, 7); scale 2 projects joint 1 to (2, 4); the
    # keypoint is at (5, 8): distance 5.  Mean over the two joints: 2.5.
    pose = t([[[0.0, 0.0, 5.0], [1.0, 2.0, 7.0]]])
    kp = t([[[0.0, 0.0], [5.0, 8.0]]])
    assert reprojection_loss(pose, t([2.0]), kp).item() == pytest.approx(2.5, rel=1e-6)
    # Depth does not enter a scaled-orthographic projection.
    pose2 = pose.clone()
    pose2[..., 2] = t([[-40.0, 300.0]])
    assert reprojection_loss(pose2, t([2.0]), kp).item() == pytest.approx(2.5, rel=1e-6)
    # A missing joint is left out: only joint 0 remains, error 0.
    valid = t([[True, False]], torch.bool)
    assert reprojection_loss(pose, t([2.0]), kp, valid).item() == pytest.approx(0.0, abs=1e-5)
    # Per sample: a second sample with scale 1 and keypoints (1, 2) fits exactly.
    pose_b = pose.repeat(2, 1, 1)
    kp_b = torch.stack([kp[0], t([[0.0, 0.0], [1.0, 2.0]])])
    per = reprojection_loss(pose_b, t([2.0, 1.0]), kp_b, reduction="none")
    assert per.tolist() == pytest.approx([2.5, 0.0], abs=1e-5)


def test_reprojection_loss_only_sees_the_projection():
    # Growing the pose by c and shrinking the scale by c projects to the same 2D.
    g = torch.Generator().manual_seed(0)
    pose, kp = torch.randn(4, 17, 3, generator=g), torch.randn(4, 17, 2, generator=g)
    scale = torch.rand(4, generator=g) + 0.5
    ref = reprojection_loss(pose, scale, kp).item()
    assert reprojection_loss(pose * 3.0, scale / 3.0, kp).item() == pytest.approx(ref, rel=1e-5)
    # A rotation about the optical axis of both pose and keypoints changes nothing either.
    c, s_ = math.cos(1.1), math.sin(1.1)
    r3 = t([[c, -s_, 0], [s_, c, 0], [0, 0, 1]])
    assert reprojection_loss(pose @ r3.T, scale, kp @ r3[:2, :2].T).item() == \
        pytest.approx(ref, rel=1e-5)


def test_root_loss_hand_value():
    pose = torch.zeros(2, 17, 3)
    pose[0, 0] = t([3.0, 4.0, 0.0])
    assert root_loss(pose, reduction="none").tolist() == pytest.approx([5.0, 0.0], abs=1e-5)


def test_left_right_bone_pairs_of_h36m17():
    names = H36M17.bone_names
    pairs = {(names[a], names[b]) for a, b in left_right_bone_pairs(H36M17)}
    assert pairs == {(f"left {p}", f"right {p}") for p in
                     ("hip", "upper leg", "lower leg", "shoulder", "upper arm", "lower arm")}


def pose_with_bone_lengths(lengths: dict[str, float], default: float = 1.0,
                           seed: int = 0) -> np.ndarray:
    """A (17, 3) pose whose bones have the given lengths, in random directions."""
    rng = np.random.default_rng(seed)
    pose = np.zeros((17, 3))
    for (parent, child), name in zip(H36M17.edges, H36M17.bone_names):
        d = rng.normal(size=3)
        pose[child] = pose[parent] + lengths.get(name, default) * d / np.linalg.norm(d)
    return pose


def test_limb_prior_hand_value():
    # Uniform mean ratios 1/16.  Every bone has length 1 but the left upper arm 2: total 17,
    # normalized lengths 1/17 (15 bones) and 2/17.
    # ratio term: (15 * |16/17 - 1| + |32/17 - 1|) / 16 = (15/17 + 15/17) / 16 = 30 / 272;
    # symmetry: only the upper-arm pair differs, |2/17 - 1/17| / (1/16) = 16/17, mean over
    # 6 pairs = 16 / 102.
    pose = t(pose_with_bone_lengths({"left upper arm": 2.0}))[None]
    m = np.full(16, 1 / 16)
    assert limb_prior_loss(pose, m, symmetry_weight=0.0).item() == \
        pytest.approx(30 / 272, rel=1e-5)
    assert limb_prior_loss(pose, m).item() == pytest.approx(30 / 272 + 16 / 102, rel=1e-5)
    assert limb_prior_loss(pose, m, symmetry_weight=0.5).item() == \
        pytest.approx(30 / 272 + 8 / 102, rel=1e-5)


def test_limb_prior_is_zero_at_the_mean_skeleton_and_invariant():
    ratios = np.array([0.4, 1.5, 1.4, 0.4, 1.5, 1.4, 0.9, 0.9, 0.4, 0.4, 0.5, 1.0, 0.9, 0.5,
                       1.0, 0.9])
    ratios /= ratios.sum()
    lengths = dict(zip(H36M17.bone_names, ratios * 4000))
    pose = pose_with_bone_lengths(lengths, seed=1)
    assert limb_prior_loss(t(pose)[None], ratios).item() == pytest.approx(0.0, abs=1e-5)
    f64 = torch.float64
    bent = t(pose_with_bone_lengths({**lengths, "right lower leg": 500.0}, seed=2), f64)[None]
    ref = limb_prior_loss(bent, ratios).item()
    assert ref > 0.01
    # Scale, rotation and translation change nothing.
    c, s = math.cos(0.7), math.sin(0.7)
    rot = t([[c, -s, 0], [s, c, 0], [0, 0, 1]], f64)
    moved = 0.03 * bent @ rot.T + t([100.0, -20.0, 5000.0], f64)
    assert limb_prior_loss(moved, ratios).item() == pytest.approx(ref, rel=1e-7)


def test_limb_prior_rejects_bad_ratios():
    with pytest.raises(ValueError, match="mean_ratios"):
        limb_prior_loss(torch.zeros(1, 17, 3), np.ones(15) / 15)


def test_feasible_scale_hand_value():
    # Uniform ratios 1/16: every bone is 1 unit long.  2D: all joints at the root except the
    # right knee at (0.3, 0.4) and right foot at (0.3, 1.6): bones right hip 0 (Hip->RHip),
    # right upper leg 0.5 (RHip->RKnee), right lower leg 1.2 (RKnee->RFoot).
    # The longest 2D limb, 1.2, must fit a 1-unit bone: s >= 1.2.
    kp = torch.zeros(1, 17, 2)
    kp[0, 2] = t([0.3, 0.4])
    kp[0, 3] = t([0.3, 1.6])
    valid = torch.ones(1, 17, dtype=torch.bool)
    m = torch.full((16,), 1 / 16)
    assert feasible_scale(kp, valid, m).item() == pytest.approx(1.2, rel=1e-6)
    # Only limbs count: a spine that looks 3 units long (detectors place it differently)
    # changes nothing.
    kp[0, 7] = t([0.0, -3.0])
    assert feasible_scale(kp, valid, m).item() == pytest.approx(1.2, rel=1e-6)
    # With the foot missing, the upper leg (0.5) is the longest limb left.
    valid[0, 3] = False
    assert feasible_scale(kp, valid, m).item() == pytest.approx(0.5, rel=1e-6)
    # A true skeleton seen at scale s: feasible_scale <= s, with equality when a bone is in
    # the image plane.
    lengths = dict(zip(H36M17.bone_names, np.full(16, 1.0)))
    pose = pose_with_bone_lengths(lengths, seed=3)
    pose[H36M17.joints.index("LElbow")] = pose[H36M17.joints.index("LShoulder")] + [0, 1, 0]
    pose[H36M17.joints.index("LWrist")] = pose[H36M17.joints.index("LElbow")] + [0.6, 0, 0.8]
    kp2 = t(0.7 * pose[None, :, :2])
    got = feasible_scale(kp2, valid | True, m).item()
    assert got == pytest.approx(0.7, rel=1e-5)


def test_limb_statistics_of_a_known_skeleton():
    lengths = {n: 100.0 + 10 * k for k, n in enumerate(H36M17.bone_names)}
    poses = np.stack([pose_with_bone_lengths(lengths, seed=s) for s in range(3)])
    stats = limb_statistics(poses)
    total = sum(lengths.values())               # 16 * 100 + 10 * (0 + ... + 15) = 2800
    assert stats["mean_total_bone_mm"] == pytest.approx(2800.0)
    np.testing.assert_allclose(stats["mean_ratios"], [lengths[n] / total
                                                      for n in H36M17.bone_names])


# ------------------------------------------------------------------------------- network
def test_network_output_contract():
    torch.manual_seed(0)
    model = RonchiNet(RonchiNetConfig(width=32, blocks=1)).eval()
    kp = torch.randn(6, 17, 2)
    kp[:, 0] = 0
    valid = torch.ones(6, 17, dtype=torch.bool)
    pose, scale = model.predict(kp, valid)
    assert pose.shape == (6, 17, 3) and scale.shape == (6,)
    assert torch.equal(pose[:, 0], torch.zeros(6, 3))
    assert (scale > 0).all()
    # Normalized units: the 16 bones sum to 16.
    np.testing.assert_allclose(H36M17.bone_lengths(pose.detach().numpy()).sum(-1), 16.0,
                               rtol=1e-5)
    model.set_mm_per_unit(4000.0)
    mm = model(kp, valid).detach().numpy()
    np.testing.assert_allclose(H36M17.bone_lengths(mm).sum(-1), 4000.0, rtol=1e-5)


def test_normalize_to_units():
    pose = pose_with_bone_lengths({}, default=250.0)[None] + 0.0
    out = normalize_to_units(pose)
    np.testing.assert_allclose(H36M17.bone_lengths(out).sum(-1), 16.0)
    np.testing.assert_allclose(out, pose / 250.0)


def test_model_file_round_trip_and_lifter(tmp_path):
    from wildpose.api import Lifter
    from wildpose.zoo import load_model, read_model_info, save_model

    torch.manual_seed(0)
    model = RonchiNet(RonchiNetConfig(width=32, blocks=1))
    model.set_mm_per_unit(250.0)
    model.eval()
    path = save_model(tmp_path / "r.safetensors", model, {"name": "tiny-ronchi"}, half=False)
    assert read_model_info(path)["architecture"] == "ronchi_mlp"
    loaded = load_model(path)
    kp, valid = torch.randn(3, 17, 2), torch.ones(3, 17, dtype=torch.bool)
    kp[:, 0] = 0
    torch.testing.assert_close(loaded(kp, valid), model(kp, valid))
    lifter = Lifter(str(path), device="cpu")
    pix = np.random.default_rng(0).normal(size=(4, 17, 2)) * 80 + 500
    out = lifter.lift(pix)
    assert out.shape == (4, 17, 3) and np.isfinite(out).all()
    # Flip-test averaging keeps the root at 0 and the mm scale near 250 mm per bone.
    np.testing.assert_allclose(out[:, 0], 0, atol=1e-4)
    assert np.all(H36M17.bone_lengths(out).sum(-1) <= 4000.0 + 1e-2)


def test_config_checks():
    with pytest.raises(ValueError, match="supervision"):
        RonchiConfig(supervision="weak")
    with pytest.raises(ValueError, match="pairs_per_sample"):
        RonchiConfig(pairs_per_sample="0")
    with pytest.raises(ValueError, match="label_noise"):
        RonchiConfig(label_noise="gauss")
    with pytest.raises(ValueError, match="width must be >= 1"):
        RonchiConfig(width=0)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        RonchiConfig(epochs=0)
    with pytest.raises(ValueError, match="no_such"):
        RonchiConfig.from_dict({"no_such": 1})
    assert RonchiConfig(pairs_per_sample=5).pairs_per_sample == "5"
    assert RonchiConfig.from_dict({"subjects": [1, 5]}).subjects == (1, 5)


# ---------------------------------------------------------------- training (needs the data)
@pytest.fixture(scope="module")
def tiny_data(h36m_dir):
    from wildpose.datasets.h36m import load_h36m

    return load_h36m(h36m_dir, subjects=(1, 5), stride=200, load_sh=True)


def tiny(h36m_dir, out_dir, **kw) -> RonchiConfig:
    opts = dict(data_dir=str(h36m_dir), out_dir=str(out_dir), subjects=(1, 5), stride=400,
                width=32, blocks=1, epochs=2, batch_size=64, device="cpu", seed=0,
                label_noise="crowd", name="tiny-ronchi")
    opts.update(kw)
    return RonchiConfig(**opts)


def weights(run: Path) -> dict:
    return torch.load(run / "last.pt", map_location="cpu", weights_only=True)["model"]


def test_relative_training_uses_no_3d(h36m_dir, tiny_data, tmp_path):
    d = prepare_ronchi_data(tiny(h36m_dir, tmp_path), tiny_data)
    assert d.Y is None and not d.has3d.any()
    assert d.summary["labelled_pairs"] == d.summary["samples"] == len(d.X)
    mixed = prepare_ronchi_data(tiny(h36m_dir, tmp_path, fraction_3d=0.25), tiny_data)
    frac = mixed.has3d.float().mean().item()
    assert abs(frac - 0.25) < 0.01
    # Samples with 3D carry no relative labels; the others carry exactly one.
    per_row = (mixed.offsets[1:] - mixed.offsets[:-1])
    assert torch.equal(per_row, (~mixed.has3d).long())
    sup = prepare_ronchi_data(tiny(h36m_dir, tmp_path, supervision="3d"), tiny_data)
    assert sup.has3d.all() and sup.summary["labelled_pairs"] == 0
    # 3D targets are in normalized units: bones sum to 16.
    np.testing.assert_allclose(H36M17.bone_lengths(sup.Y.numpy()).sum(-1), 16.0, rtol=1e-4)


def test_detections_spine_is_not_a_reprojection_target(h36m_dir, tiny_data, tmp_path):
    gt = prepare_ronchi_data(tiny(h36m_dir, tmp_path), tiny_data)
    assert gt.reproj_mask.all()
    sh = prepare_ronchi_data(tiny(h36m_dir, tmp_path, inputs="sh"), tiny_data)
    off = [H36M17.joints[k] for k in np.flatnonzero(~sh.reproj_mask.numpy())]
    assert off == ["Spine"]


def test_training_is_deterministic_and_resumes_exactly(h36m_dir, tiny_data, tmp_path):
    a = train_ronchi(tiny(h36m_dir, tmp_path / "a"), progress=False, data=tiny_data)
    assert a.is_file()
    log = [json.loads(x) for x in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [1, 2]
    assert all(10 < e["val_p2_mm"] < 1000 for e in log)
    # Interrupted twice, then finished: the same weights as the uninterrupted run.
    c = tiny(h36m_dir, tmp_path / "c")
    assert train_ronchi(c, progress=False, max_steps=3, data=tiny_data) is None
    assert train_ronchi(c, progress=False, max_steps=5, data=tiny_data) is None
    train_ronchi(c, progress=False, data=tiny_data)
    wa, wc = weights(tmp_path / "a"), weights(tmp_path / "c")
    assert all(torch.equal(wa[k], wc[k]) for k in wa)
    # Another seed trains other weights.
    train_ronchi(tiny(h36m_dir, tmp_path / "s1", seed=1, epochs=1), progress=False,
                 data=tiny_data)
    assert not torch.equal(weights(tmp_path / "s1")["out.weight"], wa["out.weight"])
    # Another config refuses to resume.
    with pytest.raises(ValueError, match="tau_mm"):
        train_ronchi(tiny(h36m_dir, tmp_path / "c", tau_mm=50.0), progress=False,
                     data=tiny_data)


def test_mixed_and_supervised_training_run(h36m_dir, tiny_data, tmp_path):
    for kw in (dict(fraction_3d=0.2, inputs="sh"), dict(supervision="3d", w_limb=0.0)):
        path = train_ronchi(tiny(h36m_dir, tmp_path / kw.get("supervision", "mixed"), epochs=1,
                                 **kw), progress=False, data=tiny_data)
        assert path.is_file()


def test_training_from_a_labels_file(h36m_dir, tiny_data, tmp_path):
    from wildpose.datasets.h36m import load_h36m

    data = load_h36m(h36m_dir, subjects=(1,), stride=400, load_sh=False)
    keep = np.arange(len(data)) % 2 == 0          # label every other sample only
    sub = data.select(keep)
    lab = generate_relative_labels(sub.pose_3d, 2, keys=h36m_sample_keys(sub), seed=0)
    f = lab.save(tmp_path / "labels.json")
    d = prepare_ronchi_data(tiny(h36m_dir, tmp_path, subjects=(1,), labels_file=str(f), val_fraction=0.0),
                 data)
    assert d.summary["samples"] == keep.sum()
    assert d.summary["labelled_pairs"] == 2 * keep.sum()
    assert d.summary["training_samples_left_out_without_labels"] == (~keep).sum()


@pytest.mark.slow
def test_experiment_smoke(h36m_dir, tmp_path):
    over = dict(stride=800, epochs=1, width=16, blocks=1, batch_size=32)
    res = run_ronchi_experiment(h36m_dir, tmp_path, inputs=("gt", "sh"), quick=True,
                                subjects=(1,), test_subjects=(9,), eval_stride=400,
                                overrides=over, device="cpu")
    for kind in ("gt", "sh"):
        assert set(res["results"][kind]) == set(EXPERIMENT_ROWS)
        for row in res["results"][kind].values():
            assert 0 < row["P2"] < 1000 and 0 < row["N-MPJPE"] < 1000
            assert row["per_action_P2"]["Average"] == pytest.approx(row["P2"])
    md = (tmp_path / "ronchi.md").read_text()
    assert all(r in md for r in EXPERIMENT_ROWS) and "Per-action P2" in md
    assert json.loads((tmp_path / "ronchi.json").read_text())["quick"] is True
    assert "ratio_relative_to_supervised_P2" in res
    from wildpose.zoo import read_model_info

    for name in ("ronchi-relative", "ronchi-supervised"):
        info = read_model_info(tmp_path / "models" / f"{name}.safetensors")
        assert info["name"] == name and info["inputs"] == "gt"


def test_shipped_model_configs_match_the_experiment_rows():
    """`wildpose train --method ronchi --config configs/ronchi-*.json` trains what the
    experiment ships."""
    from dataclasses import asdict

    from experiments.ronchi_table import SHIPPED

    root = Path(__file__).resolve().parents[1] / "configs"
    for row, name in SHIPPED.items():
        cfg = asdict(RonchiConfig.from_file(root / f"{name}.json"))
        assert cfg["name"] == name and cfg["inputs"] == "gt"
        for k, v in EXPERIMENT_ROWS[row].items():
            assert cfg[k] == (v["gt"] if k == "epochs" else v), (name, k)


@pytest.mark.slow
def test_a_fresh_run_clears_the_log_and_a_resumed_run_continues(h36m_dir, tiny_data, tmp_path):
    """Ronchi runs on the shared engine: resume=False starts the log afresh; an interrupted
    run resumed logs each epoch once."""
    cfg = tiny(h36m_dir, tmp_path / "fresh", epochs=1)
    for _ in range(2):
        train_ronchi(cfg, resume=False, progress=False, data=tiny_data)
    assert len((tmp_path / "fresh" / "log.jsonl").read_text().splitlines()) == 1
    cfg = tiny(h36m_dir, tmp_path / "resumed", epochs=2)
    steps_per_epoch = len(prepare_ronchi_data(cfg, tiny_data).X) // cfg.batch_size
    assert train_ronchi(cfg, progress=False, max_steps=steps_per_epoch + 1,
                        data=tiny_data) is None
    assert train_ronchi(cfg, progress=False, data=tiny_data).is_file()
    log = (tmp_path / "resumed" / "log.jsonl").read_text().splitlines()
    assert [json.loads(e)["epoch"] for e in log] == [1, 2]
