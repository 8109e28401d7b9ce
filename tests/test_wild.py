"""The `wild` lifter's training samples, detector model, losses and options (issue 28).

Geometric facts are checked on hand-made poses: a far, centred camera is orthographic; a
moved Spine slot stays on the spine-thorax segment; a border leaves one side of the body.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from wildpose.augment import (DetectorModel, cut_at_border, detector_errors,
                              move_joint_definitions, mpii_slot_meanings)
from wildpose.methods.wild import WildConfig
from wildpose.methods.wild.pool import CameraViews
from wildpose.methods.wild.sampling import (face_points, real_camera_batch, synthesize,
                                           two_d_batch)
from wildpose.methods.wild.train import consistency_loss
from wildpose.normalization import normalize_2d
from wildpose.skeleton import H36M17

pytestmark = pytest.mark.usefixtures("one_torch_thread")
J = {n: i for i, n in enumerate(H36M17.joints)}
EXACT = DetectorModel(0, 0, 0, 0, 0, 0, 0, 0)


def standing_pose() -> torch.Tensor:
    """A standing H36M17 body in the canonical frame (x = left, y down, facing -z), mm."""
    p = {"Hip": (0, 0, 0), "RHip": (-130, 0, 0), "RKnee": (-120, 440, 0),
         "RFoot": (-120, 880, 40), "LHip": (130, 0, 0), "LKnee": (120, 440, 0),
         "LFoot": (120, 880, 40), "Spine": (0, -230, 20), "Thorax": (0, -480, 20),
         "Neck/Nose": (0, -580, -60), "Head": (0, -680, 20), "LShoulder": (150, -420, 20),
         "LElbow": (170, -150, 40), "LWrist": (180, 90, 20), "RShoulder": (-150, -420, 20),
         "RElbow": (-170, -150, 40), "RWrist": (-180, 90, 20)}
    return torch.tensor([p[n] for n in H36M17.joints], dtype=torch.float32)


def cfg(**kw) -> WildConfig:
    base = dict(data_root=".", cmu=False, bandai=False, mpii=False, lsp=False)
    return WildConfig.from_dict({**base, **kw})


def along(point: torch.Tensor, start: torch.Tensor, end: torch.Tensor
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Where (B, 3) points lie on the lines start -> end: the fraction t (B,) of the way
    (0 at start, 1 at end) and the largest distance off the line, mm."""
    seg = end - start
    t = ((point - start) * seg).sum(-1) / (seg ** 2).sum(-1)
    return t, (point - (start + t[:, None] * seg)).abs().max()


def test_definitions_off_leave_the_pose_and_on_move_slots_along_the_body():
    pose = standing_pose().expand(200, 17, 3).contiguous()
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(move_joint_definitions(pose, 0.0, gen), pose)
    moved = move_joint_definitions(pose, 1.0, gen)
    t, off_line = along(moved[:, J["Spine"]], pose[:, J["Spine"]], pose[:, J["Thorax"]])
    assert off_line < 1e-3 and t.min() >= -0.2 - 1e-6 and t.max() <= 1.0 + 1e-6
    assert t.max() > 0.8                           # some samples put a thorax there
    # hips stay mirror images of each other about the body's midline (x = 0)
    assert torch.allclose(moved[:, J["LHip"], 0], -moved[:, J["RHip"], 0], atol=1e-3)
    # limbs below the shoulders are untouched
    for j in ("LElbow", "RWrist", "LKnee", "RFoot"):
        assert torch.equal(moved[:, J[j]], pose[:, J[j]])


def test_ankles_move_up_the_shin_by_one_drawn_fraction_for_both_feet():
    pose = standing_pose().expand(500, 17, 3).contiguous()
    a = torch.Generator().manual_seed(3)
    b = torch.Generator().manual_seed(3)
    # at 0 nothing is drawn for the ankles: the next draw is the same as without them
    move_joint_definitions(pose, 1.0, a, ankles=0.0)
    move_joint_definitions(pose, 1.0, b)
    assert torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))
    moved = move_joint_definitions(pose, 2.0, a, ankles=0.25)     # range [-0.1, 0.5]
    fractions = []
    for foot, knee in (("LFoot", "LKnee"), ("RFoot", "RKnee")):
        t, off_line = along(moved[:, J[foot]], pose[:, J[foot]], pose[:, J[knee]])
        assert off_line < 1e-3                                      # along the shin
        fractions.append(t)
    assert torch.allclose(fractions[0], fractions[1], atol=1e-6)
    assert fractions[0].min() >= -0.1 - 1e-6 and fractions[0].max() <= 0.5 + 1e-6
    assert fractions[0].min() < 0 < 0.4 < fractions[0].max()
    assert torch.equal(moved[:, J["LKnee"]], pose[:, J["LKnee"]])


def test_face_points_sit_on_the_face_side_of_the_head():
    face = face_points(standing_pose()[None])[0]     # left eye, right eye, left ear, right ear
    nose = standing_pose()[J["Neck/Nose"]]
    assert face[0, 0] > nose[0] > face[1, 0]        # left eye on the subject's left (+x)
    assert face[2, 0] > face[0, 0]                   # ears further out than eyes
    assert (face[2:, 2] > face[:2, 2]).all()         # ears behind the eyes (facing -z)
    assert torch.allclose(face[2] - face[3], torch.tensor([150.0, 0, 0]), atol=1e-3)


def test_an_exact_far_camera_sees_the_target_orthographically():
    c = cfg(bone_scale=0.0, distance_min=1e7, distance_max=1e7, off_centre=0.0,
            mpii_style=0.0, coco_style=0.0, roll_max=0.0)
    gen = torch.Generator().manual_seed(1)
    kp, valid, target = synthesize(standing_pose().expand(64, 17, 3).contiguous(), c, gen,
                                   EXACT, flip_prob=0.0)
    assert valid.all() and torch.equal(target[:, 0], torch.zeros(64, 3))
    ortho, _, _ = normalize_2d(target[..., :2], valid)
    assert torch.allclose(kp, ortho, atol=1e-3)   # depth spread / distance ~ 1e-4
    # the body is the pose, turned: bone lengths kept
    assert torch.allclose(H36M17.bone_lengths(target),
                          H36M17.bone_lengths(standing_pose()).expand(64, -1), atol=2.0)


def test_layout_styles_lose_the_joints_the_layout_lacks():
    gen = torch.Generator().manual_seed(2)
    pose = standing_pose().expand(64, 17, 3).contiguous()
    _, valid, _ = synthesize(pose, cfg(mpii_style=1.0, coco_style=0.0), gen, EXACT, 0.0)
    assert not valid[:, J["Neck/Nose"]].any()        # MPII has no nose
    assert valid[:, [j for j in range(17) if j != J["Neck/Nose"]]].all()
    _, valid, _ = synthesize(pose, cfg(mpii_style=0.0, coco_style=1.0), gen, EXACT, 0.0)
    assert valid.all()                               # COCO's make all 17


def test_an_idle_detector_changes_nothing_and_a_border_keeps_one_side():
    gen = torch.Generator().manual_seed(3)
    px = torch.rand(32, 17, 2) * 500
    valid = torch.ones(32, 17, dtype=torch.bool)
    out, ok = detector_errors(px, valid, EXACT, gen)
    assert torch.equal(out, px) and ok.all()
    kept = cut_at_border(px, valid, 1.0, gen)
    assert (kept.sum(1) >= 1).all() and (~kept).any()
    for i in range(32):   # what is kept and what is cut are split by one horizontal or
        ins, outs = px[i][kept[i]], px[i][~kept[i]]   # vertical line
        if len(outs):
            sep = [(ins[:, a].max() < outs[:, a].min()) or (ins[:, a].min() > outs[:, a].max())
                   for a in (0, 1)]
            assert any(sep)


def test_consistency_is_zero_for_a_scaled_shifted_projection_only():
    pred = standing_pose()[None].repeat(4, 1, 1)
    kp = pred[..., :2] * 0.002 + torch.tensor([0.3, -0.1])
    valid = torch.ones(4, 17, dtype=torch.bool)
    assert float(consistency_loss(pred, kp, valid)) < 1e-4
    bent = kp.clone()
    bent[:, J["LWrist"]] += 0.2
    assert float(consistency_loss(pred, bent, valid)) > 0.01
    # torso and head slots (defined differently by MPII and LSP) are not compared
    moved = kp.clone()
    moved[:, J["Head"]] += 0.5
    assert float(consistency_loss(pred, moved, valid)) < 1e-4


def test_two_d_samples_are_normalized_and_keep_missing_joints_missing():
    gen = torch.Generator().manual_seed(4)
    px = standing_pose()[None, :, :2].repeat(16, 1, 1) * 0.3 + 200
    valid = torch.ones(16, 17, dtype=torch.bool)
    valid[:, J["Neck/Nose"]] = False
    kp, ok = two_d_batch(px, valid, cfg(drop_prob=0.0, drop_limb_prob=0.0), gen)
    assert not ok[:, J["Neck/Nose"]].any() and (kp[:, J["Neck/Nose"]] == 0).all()
    rms = ((kp ** 2).sum(-1) * ok).sum(1) / ok.sum(1)
    assert torch.allclose(rms, torch.ones(16), atol=1e-4)


def camera_views(n: int) -> CameraViews:
    """A standing body 4 m in front of a pinhole camera (focal 1000 px, principal point
    (500, 500), no distortion), n copies."""
    pose = standing_pose() + torch.tensor([0.0, 0.0, 4000.0])
    px = 1000 * pose[:, :2] / pose[:, 2:] + 500
    rep = (lambda a: a[None].repeat(n, *(1,) * a.ndim))
    return CameraViews(rep(px), rep(pose), torch.full((n, 2), 1000.0),
                       torch.full((n, 2), 500.0))


def root_relative(n: int) -> torch.Tensor:
    """The target of :func:`camera_views`: the body relative to its pelvis, mm, n copies."""
    pose = standing_pose()
    return (pose - pose[:1]).expand(n, 17, 3)


def test_real_camera_views_keep_their_layout_and_target_and_noise_stays_light():
    gen = torch.Generator().manual_seed(5)
    views, rows = camera_views(32), torch.arange(32)
    px, target = views.pixels, root_relative(32)
    kp, ok, t = real_camera_batch(views, rows, cfg(h36m_noise_max=0.0, flip_prob=0.0), gen)
    assert ok.all() and torch.equal(t, target)
    assert torch.allclose(kp[:, H36M17.root], torch.zeros(32, 2), atol=1e-5)
    # Normalization takes away the pixel offset and scale only: bone directions are kept.
    bone = kp[:, J["LWrist"]] - kp[:, J["LElbow"]]
    bone_px = px[:, J["LWrist"]] - px[:, J["LElbow"]]
    cos = (bone * bone_px).sum(-1) / (bone.norm(dim=-1) * bone_px.norm(dim=-1))
    assert torch.allclose(cos, torch.ones(32), atol=1e-5)
    noisy, _, _ = real_camera_batch(views, rows, cfg(h36m_noise_max=0.01, flip_prob=0.0), gen)
    moved = (noisy - kp).norm(dim=-1)
    assert moved.max() > 0 and moved.mean() < 0.05     # 1 % of the size at most, per sample


def test_real_camera_views_through_the_detector_move_only_its_definitions():
    views, rows = camera_views(64), torch.arange(64)
    quiet = dict(h36m_noise_max=0.0, jitter_mm=0.0, outlier_prob=0.0,
                 swap_prob=0.0, cut_prob=0.0, mpii_style=0.0, coco_style=0.0,
                 augment={"noise_max": 0.0, "drop_prob": 0.0, "drop_limb_prob": 0.0,
                          "flip_prob": 0.0})
    exact, _, _ = real_camera_batch(views, rows, cfg(**quiet), torch.Generator().manual_seed(1))
    # A detector with Human3.6M's own definitions reports the exact views.
    same, ok, t = real_camera_batch(views, rows, cfg(**quiet, h36m_detector=1.0,
                                                     definitions=0.0),
                                    torch.Generator().manual_seed(1))
    assert ok.all() and torch.equal(t, root_relative(64))
    assert torch.allclose(same, exact, atol=1e-5)
    # With its definitions, hips and head slots move in the image, the target does not.
    moved, ok, t = real_camera_batch(views, rows, cfg(**quiet, h36m_detector=1.0),
                                     torch.Generator().manual_seed(1))
    assert ok.all() and torch.equal(t, root_relative(64))
    shift = (moved - exact).norm(dim=-1).amax(0)
    assert shift[J["LHip"]] > 0.01 and shift[J["Head"]] > 0.01


def test_mpii_slots_hold_the_thorax_and_the_upper_neck():
    pose = standing_pose().expand(100, 17, 3).contiguous()
    out = mpii_slot_meanings(pose, torch.Generator().manual_seed(3))
    th, nose = pose[:, J["Thorax"]], pose[:, J["Neck/Nose"]]
    assert torch.equal(out[:, J["Spine"]], th)
    t, off_line = along(out[:, J["Thorax"]], th, nose)
    assert off_line < 1e-3 and t.min() >= 0.3 - 1e-6 and t.max() <= 0.9 + 1e-6
    others = [j for n, j in J.items() if n not in ("Spine", "Thorax")]
    assert torch.equal(out[:, others], pose[:, others])


def test_bad_options_are_one_line_errors():
    with pytest.raises(ValueError, match="h36m_share"):
        cfg(h36m_share=1.5)
    with pytest.raises(ValueError, match="ankle_definitions"):
        cfg(ankle_definitions=-0.1)
    with pytest.raises(ValueError, match="coco_style"):
        cfg(mpii_style=0.7, coco_style=0.5)
    with pytest.raises(ValueError, match="val_subjects"):
        cfg(h36m_subjects=(1, 5), val_subjects=(9,))
    with pytest.raises(ValueError, match="unknown wild training option"):
        WildConfig.from_dict({"method": "wild", "lamda_geo": 1.0})
    with pytest.raises(ValueError, match="noise_max"):
        DetectorModel(noise_max=-1)


def test_shipped_recipe_parses():
    path = Path(__file__).resolve().parents[1] / "configs" / "wild.json"
    c = WildConfig.from_dict(json.loads(path.read_text()))
    assert c.val_subjects == () and set(c.h36m_subjects) == {1, 5, 6, 7, 8}


@pytest.mark.slow
def test_a_short_run_writes_a_model_lifter_loads(h36m_dir, tmp_path):
    from wildpose.api import Lifter
    from wildpose.methods.wild import train_wild

    c = cfg(data_root=str(h36m_dir.parent), out_dir=str(tmp_path / "run"), h36m_subjects=(1,),
            width=64, blocks=1, batch_size=64, steps_per_epoch=5, epochs=1, tolerance_mm=200,
            precision="fp32", device="cpu", h36m_share=0.5, h36m_stride=50)
    path = train_wild(c, resume=False, progress=False)
    lifter = Lifter(str(path), device="cpu")
    assert "h36m_views" in lifter.info["training_data"]
    out = lifter.lift(np.random.default_rng(0).random((3, 17, 2)) * 300, layout="h36m17")
    assert out.shape == (3, 17, 3) and np.isfinite(out).all()
