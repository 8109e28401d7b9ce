"""Ronchi et al. 2018: the scale prior and limb statistics on hand-made cases, the network's
output contract, and tiny training runs on Human3.6M (skipped without the data).  Its losses
are tested in test_losses.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_losses import pose_with_bone_lengths, t

from experiments.ronchi_table import EXPERIMENT_ROWS, run_ronchi_experiment
from wildpose.methods.ronchi import (RonchiConfig, RonchiNet, RonchiNetConfig, feasible_scale,
                                     limb_statistics, normalize_to_units, train_ronchi)
from wildpose.api import Lifter
from wildpose.methods.ronchi.data import prepare_ronchi_data
from wildpose.relative_depth import generate_relative_labels, h36m_sample_keys
from wildpose.settings import flatten_options
from wildpose.skeleton import H36M17

torch.set_num_threads(1)


# ------------------------------------------------------------------- scale prior, limb prior
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
    with pytest.raises(ValueError, match="network.width must be >= 1"):
        RonchiConfig.from_dict({"width": 0})
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
    return RonchiConfig.from_dict(opts)


def weights(run: Path) -> dict:
    return torch.load(run / "last.pt", map_location="cpu", weights_only=True)["model"]


@pytest.mark.slow
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


@pytest.mark.slow
def test_detections_spine_is_not_a_reprojection_target(h36m_dir, tiny_data, tmp_path):
    gt = prepare_ronchi_data(tiny(h36m_dir, tmp_path), tiny_data)
    assert gt.reproj_mask.all()
    sh = prepare_ronchi_data(tiny(h36m_dir, tmp_path, inputs="sh"), tiny_data)
    off = [H36M17.joints[k] for k in np.flatnonzero(~sh.reproj_mask.numpy())]
    assert off == ["Spine"]


@pytest.mark.slow
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


@pytest.mark.slow
def test_mixed_and_supervised_models_lift_at_the_training_subjects_size(h36m_dir, tiny_data,
                                                                         tmp_path):
    """Whatever the supervision, the exported model's poses have the training subjects' mean
    total bone length: each subject's skeleton is rigid, so it lies between theirs."""
    totals = [H36M17.bone_lengths(tiny_data.pose_3d[tiny_data.subject == s].astype(np.float64)
                                  ).sum(-1).mean() for s in (1, 5)]
    for kw in (dict(fraction_3d=0.2, inputs="sh"), dict(supervision="3d", w_limb=0.0)):
        path = train_ronchi(tiny(h36m_dir, tmp_path / kw.get("supervision", "mixed"), epochs=1,
                                 **kw), progress=False, data=tiny_data)
        out = Lifter(str(path), device="cpu", flip_test=False).lift(tiny_data.pose_2d[:6])
        total = H36M17.bone_lengths(out.astype(np.float64)).sum(-1)
        assert min(totals) - 5 < total.min() and total.max() < max(totals) + 5, (kw, total)


@pytest.mark.slow
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
    from experiments.ronchi_table import SHIPPED

    root = Path(__file__).resolve().parents[1] / "configs"
    for row, name in SHIPPED.items():
        cfg = flatten_options(RonchiConfig.from_file(root / f"{name}.json").to_dict())
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
