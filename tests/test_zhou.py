"""Zhou et al.'s method: depth targets, the depth lifter, its pixel-to-mm lifter, the mixed
batch losses, COCO 2D-only samples, training (determinism, resume) and a tiny run of the
transfer experiment (skipped without the Human3.6M data)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from experiments.zhou_transfer import TRANSFER_ROWS, run_zhou_transfer
from wildpose.datasets.h36m import H36MData
from wildpose.datasets.keypoint_files import load_coco_2d
from wildpose.losses import geo_loss
from wildpose.methods.zhou import (SampleSet, ZhouConfig, ZhouLifter, depth_targets,
                                   prepare_zhou_data, train_zhou, wild_samples, zhou_losses)
from wildpose.models.depth_lifter import DepthLifter
from wildpose.models.lifter import LifterConfig
from wildpose.normalization import normalize_2d
from wildpose.skeleton import H36M17, flip_pose
from wildpose.zoo import load_model, load_numpy_model, read_model_info, save_model

torch.set_num_threads(1)


def random_poses(n: int, seed: int = 0) -> np.ndarray:
    """(n, 17, 3) root-relative poses in mm with plausible bone lengths, random directions."""
    rng = np.random.default_rng(seed)
    pose = np.zeros((n, 17, 3))
    for p, c in H36M17.edges:
        d = rng.normal(size=(n, 3))
        pose[:, c] = pose[:, p] + rng.uniform(100, 450, (n, 1)) * d / np.linalg.norm(
            d, axis=1, keepdims=True)
    return pose


# ------------------------------------------------------------------------ depth targets
def test_depth_targets_invert_an_exact_weak_perspective_projection():
    pose = random_poses(5)
    # Weak perspective: pixels = f / Z0 * (X, Y) + c, with a different f / Z0 per sample.
    k = np.array([0.05, 0.1, 0.2, 0.3, 1.0])[:, None, None]
    pixels = k * pose[..., :2] + np.array([500.0, 400.0])
    norm, _, scale_px = normalize_2d(pixels, np.ones((5, 17), bool))
    depth, s = depth_targets(pose, norm, np.ones((5, 17), bool))
    # mm per normalized unit = pixel scale / (pixels per mm).
    np.testing.assert_allclose(s, scale_px / k[:, 0, 0], rtol=1e-6)
    # [2D, depth] * s is the 3D pose itself.
    rebuilt = np.concatenate([norm, depth[..., None]], -1) * s[:, None, None]
    np.testing.assert_allclose(rebuilt, pose, atol=1e-3)
    assert np.all(depth[:, 0] == 0)


def test_wild_samples_never_read_the_3d():
    pose = random_poses(4, seed=1) + np.array([0, 0, 5000.0])
    px = 0.2 * pose[..., :2] + 300
    data = H36MData(np.full_like(pose, np.nan, dtype=np.float32), px.astype(np.float32), None,
                    np.ones(4, int), np.array(["Walking"] * 4), np.ones(4, int),
                    np.arange(4), {})
    w = wild_samples(data, "gt")
    assert len(w) == 4 and w.depth is None and w.pose_mm is None
    assert np.isfinite(w.keypoints).all() and w.valid.all()


# --------------------------------------------------------------------------- the lifter
def tiny_lifter(seed: int = 0) -> DepthLifter:
    torch.manual_seed(seed)
    m = DepthLifter(LifterConfig(width=16, blocks=1, dropout=0.0))
    kp = torch.randn(64, 17, 2)
    kp[:, 0] = 0
    depth = torch.randn(64, 17) * 0.3
    depth[:, 0] = 0
    m.set_training_stats(depth, kp, torch.full((16,), 250.0), torch.full((16,), 0.5))
    return m.eval()


def test_depth_lifter_keeps_input_2d_and_predicts_training_mean_depth_at_zero_head():
    m = DepthLifter(LifterConfig(width=8, blocks=1, dropout=0.0))
    depth = torch.zeros(2, 17)
    depth[0, 1:], depth[1, 1:] = 0.2, 0.6   # mean 0.4 for every non-root joint
    kp = torch.zeros(2, 17, 2)
    kp[0, 1:], kp[1, 1:] = 1.0, 3.0        # mean (2, 2)
    m.set_training_stats(depth, kp, torch.ones(16), torch.ones(16))
    torch.nn.init.zeros_(m.out.weight)
    torch.nn.init.zeros_(m.out.bias)
    m.eval()
    x = torch.randn(3, 17, 2)
    x[:, 0] = 0
    valid = torch.ones(3, 17, dtype=torch.bool)
    valid[:, 13] = False                   # LWrist missing: filled in with the training mean
    out = m(x, valid)
    assert out.shape == (3, 17, 3)
    assert torch.equal(out[:, 0], torch.zeros(3, 3))                  # root at the origin
    assert torch.equal(out[:, :13, :2], x[:, :13]) and torch.equal(out[:, 14:, :2], x[:, 14:])
    torch.testing.assert_close(out[:, 13, :2], torch.full((3, 2), 2.0))
    torch.testing.assert_close(out[:, 1:, 2], torch.full((3, 16), 0.4))


def test_to_mm_gives_the_canonical_total_bone_length_and_ignores_scale():
    m = tiny_lifter()
    pose = torch.from_numpy(random_poses(6, seed=2)).float() / 500
    mm = m.to_mm(pose)
    total = H36M17.bone_lengths(mm).sum(-1)
    torch.testing.assert_close(total, torch.full((6,), 16 * 250.0))
    torch.testing.assert_close(m.to_mm(7.5 * pose), mm)
    # Shape is kept: mm is a uniform rescaling of each pose.
    torch.testing.assert_close(mm / mm.norm(dim=(1, 2), keepdim=True),
                               pose / pose.norm(dim=(1, 2), keepdim=True))
    # A degenerate (all-zero) pose stays finite.
    assert torch.isfinite(m.to_mm(torch.zeros(1, 17, 3))).all()


def test_zhou_lifter_pixels_to_mm():
    lifter = ZhouLifter(tiny_lifter(), device="cpu")
    rng = np.random.default_rng(3)
    px = rng.uniform(100, 500, (5, 17, 2)).astype(np.float32)
    out = lifter.lift(px)
    assert out.shape == (5, 17, 3) and out.dtype == np.float32
    np.testing.assert_allclose(H36M17.bone_lengths(out).sum(-1), 16 * 250.0, rtol=1e-4)
    # Weak perspective: x, y are the root-centred input, scaled.
    rel = px - px[:, :1]
    ratio = out[:, 1:, :2] / rel[:, 1:]
    np.testing.assert_allclose(ratio, ratio[:, :1, :1] * np.ones_like(ratio), rtol=1e-3)
    # Image position and size do not matter (per-pose normalization).
    np.testing.assert_allclose(lifter.lift(3 * px + 70), out, rtol=1e-4, atol=1e-3)
    # With flip-test averaging, lifting the mirrored image gives the mirrored pose.
    mirrored = flip_pose(px.copy())
    np.testing.assert_allclose(lifter.lift(mirrored), flip_pose(out.copy()), atol=1e-3)
    # One pose, other layouts, too few joints.
    assert lifter.lift(px[0]).shape == (17, 3)
    coco = rng.uniform(100, 500, (2, 17, 2))
    assert np.isfinite(lifter.lift(coco, layout="coco17")).all()
    few = px[:1].copy()
    few[0, 5:] = np.nan
    with pytest.warns(UserWarning, match="fewer than 6 valid joints"):
        assert np.isnan(lifter.lift(few)).all()
    with pytest.raises(ValueError, match="expected"):
        lifter.lift(px[:, :16])


def test_zoo_round_trip(tmp_path):
    m = tiny_lifter(seed=4)
    path = save_model(tmp_path / "z.safetensors", m, {"name": "zhou-tiny"})
    assert read_model_info(path)["architecture"] == "zhou_depth"
    loaded = load_model(path)
    assert isinstance(loaded, DepthLifter)
    px = np.random.default_rng(5).uniform(0, 300, (4, 17, 2))
    a = ZhouLifter(m, device="cpu").lift(px)
    b = ZhouLifter(str(path), device="cpu").lift(px)
    np.testing.assert_allclose(a, b, atol=1.0)  # fp16-stored matrices: well under 1 mm
    assert ZhouLifter(str(path), device="cpu").info["name"] == "zhou-tiny"
    with pytest.raises(ValueError, match="residual_mlp"):
        load_numpy_model(path)


# ------------------------------------------------------------------------------- losses
def test_zhou_losses_by_hand():
    cfg = ZhouConfig(lambda_reg=1.0, lambda_geo=10.0, lambda_fill=0.5)
    canon = np.full(16, 0.5)
    pose = torch.from_numpy(random_poses(4, seed=6)).float() / 500
    target = torch.cat([pose, torch.ones(4, 17, 1)], -1)    # [x, y, depth, known]
    pred = pose.clone()
    pred[:2, 5, 2] += 0.4             # 3D rows: depth error 0.4 on one of 16 joints
    pred[:, 7, :2] += 0.3             # x, y off by 0.3 at joint 7 (Spine) ...
    valid_in = torch.ones(4, 17, dtype=torch.bool)
    valid_in[1, 7] = False            # ... which only counts where the input lacked it
    geo_2d = geo_loss(torch.cat([pose[2:, :, :2], pred[2:, :, 2:]], -1), canon).mean()
    assert geo_2d > 0
    l1 = zhou_losses(pred, target, valid_in, 2, canon, cfg, geo_on=False)
    assert l1["reg"].item() == pytest.approx(0.4 ** 2 / 16, rel=1e-5)
    # One missing joint with 2D error (0.3, 0.3), averaged over 4 x 17 joints.
    assert l1["fill"].item() == pytest.approx(2 * 0.3 ** 2 / 68, rel=1e-5)
    assert l1["geo"].item() == 0          # stage 1
    l2 = zhou_losses(pred, target, valid_in, 2, canon, cfg, geo_on=True)
    assert l2["geo"].item() == pytest.approx(geo_2d.item(), rel=1e-6)  # 2D-only rows only
    assert l2["total"].item() == pytest.approx(
        l2["reg"].item() + 0.5 * l2["fill"].item() + 10 * geo_2d.item(), rel=1e-5)
    cfg.geo_on_3d = True
    l3 = zhou_losses(pred, target, valid_in, 2, canon, cfg, geo_on=True)
    all_rows = geo_loss(torch.cat([pose[..., :2], pred[..., 2:]], -1), canon).mean()
    assert l3["geo"].item() == pytest.approx(all_rows.item(), rel=1e-6)


def test_sample_targets_follow_a_mirror():
    s = SampleSet(np.random.default_rng(0).normal(size=(2, 17, 2)).astype(np.float32),
                  np.ones((2, 17), bool), np.ones((2, 17), np.float32))
    s.valid[0, 13] = False
    t = torch.from_numpy(s.targets())
    f = flip_pose(t)
    perm = H36M17.flip_permutation()
    assert torch.equal(f[..., 3], t[:, perm, 3])                # known flag moves with joint
    assert torch.equal(f[..., 0], -t[:, perm, 0])


# --------------------------------------------------------------------------------- COCO
def _coco(tmp_path: Path, annotations: list) -> Path:
    p = tmp_path / "persons.json"
    p.write_text(json.dumps({"images": [], "annotations": annotations}))
    return p


def _person(labelled: list[int]) -> dict:
    kps = []
    for j in range(17):
        kps += [100.0 + 10 * j, 200.0 + 5 * j, 2 if j in labelled else 0]
    return {"id": len(labelled), "image_id": 1, "num_keypoints": len(labelled),
            "keypoints": kps}


def test_load_coco_2d(tmp_path):
    full = _person(list(range(17)))
    legs = _person([11, 12, 13, 14, 15, 16])          # hips, knees, ankles only
    no_hips = _person([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 15, 16])
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kp, valid = load_coco_2d(_coco(tmp_path, [full, legs, no_hips, {"id": 9}]), notes=notes)
    assert kp.shape == (1, 17, 2) and valid.shape == (1, 17) and valid.all()
    # H36M Hip = mid-hips of COCO joints 11 and 12: x (210 + 220) / 2, y (255 + 260) / 2.
    np.testing.assert_allclose(kp[0, 0], [215.0, 257.5])
    text = " ".join(notes)
    assert "1 malformed" in text and "1 of 3 person(s) with fewer than 8" in text
    assert "1 of 3 person(s) without both hips" in text
    with pytest.raises(ValueError, match="no person"):
        load_coco_2d(_coco(tmp_path, []))
    with pytest.raises(ValueError, match="no usable person"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_coco_2d(_coco(tmp_path, [legs]))


def test_coco_mini_2d_samples(data_root):
    path = data_root / "coco-mini" / "annotations" / "person_keypoints_val2017.json"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kp, valid = load_coco_2d(path)
    assert len(kp) > 10 and valid[:, 0].all() and (valid.sum(1) >= 8).all()
    assert np.isfinite(kp).all() and (kp[~valid] == 0).all()


# ------------------------------------------------------------------------ real-data runs
def tiny_config(h36m_dir: Path, out_dir: Path, **kw) -> ZhouConfig:
    opts = dict(data_dir=str(h36m_dir), out_dir=str(out_dir), lab_stride=400,
                wild_subjects=(5,), wild_stride=800, width=32, blocks=1, epochs=2,
                stage1_epochs=1, batch_3d=32, batch_2d=32, device="cpu", name="tiny")
    opts.update(kw)
    return ZhouConfig.from_dict(opts)


@pytest.mark.slow
def test_train_is_deterministic_and_resumes_exactly(h36m_dir, tmp_path):
    cfg_a = tiny_config(h36m_dir, tmp_path / "a")
    data = prepare_zhou_data(cfg_a)
    assert data.wild is not None and data.wild.depth is None and len(data.wild) > 0
    path = train_zhou(cfg_a, progress=False, data=data)
    log = [json.loads(x) for x in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [e["geo_on"] for e in log] == [False, True]          # the staged schedule
    assert log[0]["train_geo"] == 0 and log[1]["train_geo"] > 0
    assert all(np.isfinite(e["val_mpjpe_mm"]) for e in log)
    cfg_b = tiny_config(h36m_dir, tmp_path / "b")
    assert train_zhou(cfg_b, progress=False, max_steps=7, data=data) is None
    train_zhou(cfg_b, progress=False, data=data)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    info = read_model_info(path)
    assert info["train_subjects"] == [1] and info["train_subjects_2d_only"] == [5]
    with pytest.raises(ValueError, match="differs in.*lambda_geo"):
        train_zhou(tiny_config(h36m_dir, tmp_path / "b", lambda_geo=3.0), progress=False,
                   data=data)


@pytest.mark.slow
def test_transfer_experiment_tiny(h36m_dir, tmp_path):
    kw = dict(epochs=2, stage1_epochs=1, lab_stride=400, wild_stride=800, eval_stride=800,
              width=32, blocks=1, batch_3d=32, batch_2d=32, device="cpu", progress=False)
    res = run_zhou_transfer(h36m_dir, tmp_path, **kw)
    labels = [r[0] for r in TRANSFER_ROWS]
    assert [r["row"] for r in res["rows"]] == labels
    for r in res["rows"]:
        for inp in ("gt", "sh"):
            m = r[inp]
            assert 0 < m["P2"] < m["P1"] < 1000 and m["num_samples"] > 0
            assert set(m["bone_symmetry"]) == {"upper arm", "lower arm", "upper leg",
                                               "lower leg", "mean"}
        info = read_model_info(r["model_file"])
        assert info["architecture"] == "zhou_depth" and info["name"] == r["model"]
    by = {r["row"]: r for r in res["rows"]}
    assert read_model_info(by["3D/wo geo"]["model_file"])["train_subjects"] == [1]
    assert read_model_info(by["3D+2D/w geo"]["model_file"])["train_subjects_2d_only"] == \
        [5, 6, 7, 8]
    assert read_model_info(by["full 3D (S1,5,6,7,8)"]["model_file"])["train_subjects"] == \
        [1, 5, 6, 7, 8]
    # Human3.6M's mocap skeletons are left/right symmetric.
    assert res["ground_truth_bone_symmetry"]["mean"] < 1.0
    assert set(res["claims"]) >= {"w_geo_beats_3d_on_P1", "P1_gap_closed"}
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [r["row"] for r in saved["rows"]] == labels
    md = (tmp_path / "results.md").read_text()
    assert all(f"| {label} |" in md for label in labels) and "stacked-hourglass" in md
    # Finished rows are not trained again.
    stamp = Path(by["3D/wo geo"]["model_file"]).stat().st_mtime_ns
    again = run_zhou_transfer(h36m_dir, tmp_path, rows=("3D/wo geo",), **kw)
    assert Path(by["3D/wo geo"]["model_file"]).stat().st_mtime_ns == stamp
    assert again["rows"][0]["gt"]["P1"] == by["3D/wo geo"]["gt"]["P1"]


def test_transfer_config_file_is_accepted():
    path = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "zhou-transfer.json"
    opts = json.loads(path.read_text())
    assert opts["stage1_epochs"] < opts["epochs"]
    ZhouConfig.from_dict({k: v for k, v in opts.items() if k != "eval_stride"})
    with pytest.raises(ValueError, match="unknown experiment option"):
        run_zhou_transfer("/nonexistent", "/nonexistent", not_an_option=1)
