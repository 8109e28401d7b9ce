"""Training the ``wild`` lifter with the shared engine (:func:`wildpose.training.run_training`).

Each step draws ``batch_size`` mocap poses and synthesizes their inputs
(:func:`.sampling.synthesize`), and ``batch_2d`` real 2D-only poses.  The loss is the 3D
samples' MPJPE (mm, over the joints their source measures: ``PosePool.measured``) plus, on the 2D-only samples, ``lambda_geo`` times Zhou et al.'s
geometric loss (bone-length ratios within each bone group) and ``lambda_2d`` times a 2D
consistency loss: the prediction's scaled orthographic projection, fitted in scale and
offset, should land on the input's limb joints (:func:`consistency_loss`).

Validation (each epoch's end): the held-out Human3.6M subjects' stacked-hourglass
detections and ground-truth 2D, single frame (the screens' ``val_subjects``), and the
held-out mocap clips through fixed virtual cameras.  The logged ``val_mpjpe_mm`` is the
first of these that exists.
"""

from __future__ import annotations

import time
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np
import torch

from ...augment import DetectorModel
from ...datasets.h36m import load_h36m
from ...device import autocast_dtype, resolve_device
from ...losses import canonical_bone_lengths, geo_loss, reprojection_loss
from ...models.lifter import LifterConfig, ResidualMLPLifter
from ...skeleton import H36M17
from ...engine import (EpochStats, RunSpec, make_optimizer, mean_joint_error, open_run,
                       run_training)
from ...training import prepare_inputs
from .config import WildConfig
from .pool import TRAINING_DATA, CameraViews, load_2d_pool, load_h36m_views, load_pose_pool
from .sampling import real_camera_batch, synthesize, two_d_batch

__all__ = ["train_wild", "consistency_loss", "CONSISTENCY_JOINTS"]

#: Joints whose definitions detectors and mocap share closely enough for the 2D
#: consistency loss (the torso and head slots differ between MPII, LSP and Human3.6M).
CONSISTENCY_JOINTS = tuple(H36M17.index(j) for j in (
    "RKnee", "RFoot", "LKnee", "LFoot", "LShoulder", "LElbow", "LWrist", "RShoulder",
    "RElbow", "RWrist"))


def consistency_loss(pred: torch.Tensor, keypoints: torch.Tensor, valid: torch.Tensor
                     ) -> torch.Tensor:
    """2D consistency of predicted 3D with its input: mean joint distance (normalized 2D
    units) between the input and the prediction's scaled orthographic projection, on the
    :data:`CONSISTENCY_JOINTS`, with scale and offset fitted by least squares (held
    constant in the gradient, so that the pose cannot shrink to fit).

    Args:
        pred: (B, 17, 3) mm; keypoints: (B, 17, 2) normalized; valid: (B, 17) bool.
    Returns:
        scalar: the mean over samples with at least two such joints (0 if none).
    """
    use = torch.zeros_like(valid)
    use[:, list(CONSISTENCY_JOINTS)] = valid[:, list(CONSISTENCY_JOINTS)]
    w = use.to(pred.dtype)[..., None]
    n = w.sum(1).clamp_min(1.0)                                           # (B, 1)
    with torch.no_grad():
        xy = pred.detach()[..., :2]
        mp, mk = (xy * w).sum(1) / n, (keypoints * w).sum(1) / n          # (B, 2)
        cp, ck = (xy - mp[:, None]) * w, (keypoints - mk[:, None]) * w
        scale = (cp * ck).sum((1, 2)) / (cp * cp).sum((1, 2)).clamp_min(1e-9)
        offset = mk - scale[:, None] * mp
    per = reprojection_loss(pred, scale, keypoints - offset[:, None], use, reduction="none")
    enough = use.sum(1) >= 2
    return (per * enough).sum() / enough.sum().clamp_min(1)


def _h36m_validation(cfg: WildConfig) -> dict[str, tuple[torch.Tensor, ...]]:
    """{"sh": (kp, valid, target), "gt": ...} of the held-out subjects (none: {})."""
    if not cfg.val_subjects:
        return {}
    data = load_h36m(Path(cfg.data_root) / "h36m", subjects=tuple(cfg.val_subjects),
                     stride=cfg.val_stride, load_sh=True)
    target = torch.from_numpy(data.pose_3d - data.pose_3d[:, :1])
    out = {}
    for kind in ("sh", "gt"):
        kp2d, layout = data.inputs(kind)
        have = np.isfinite(kp2d).all((1, 2))
        kp, ok = prepare_inputs(kp2d[have], layout)
        out[kind] = (torch.from_numpy(kp), torch.from_numpy(ok), target[have])
    return out


def _clip_validation(poses: np.ndarray, cfg: WildConfig, n: int = 4096
                     ) -> tuple[torch.Tensor, ...]:
    """Held-out mocap poses through fixed random cameras, exact 2D (seeded: the same set
    in every run with the same pool)."""
    gen = torch.Generator().manual_seed(12345)
    rows = torch.randint(len(poses), (min(n, 4 * len(poses)),), generator=gen)
    exact = DetectorModel(0, 0, 0, 0, 0, 0, 0, 0)
    clean = replace(cfg, mpii_style=0.0, coco_style=0.0, bone_scale=0.0)
    return synthesize(torch.from_numpy(poses)[rows], clean, gen, exact, flip_prob=0.0)


def train_wild(cfg: WildConfig, resume: bool = True, progress: bool = True,
               max_steps: int | None = None) -> Path | None:
    """Train the ``wild`` lifter; returns the exported ``model.safetensors`` (None when
    stopped by ``max_steps``).  Resumable as every trainer (``out_dir/last.pt``)."""
    out, _ = open_run(cfg, resume, hint="--out-dir or --no-resume")
    device = resolve_device(cfg.device)
    amp = autocast_dtype(cfg.precision, device)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    pool = load_pose_pool(cfg)
    poses = torch.from_numpy(pool.train.poses)
    measured = torch.from_numpy(pool.measured.astype(np.float32))
    two_d = load_2d_pool(cfg) if cfg.has_2d_only else None
    kp2, ok2 = ((torch.from_numpy(two_d.keypoints), torch.from_numpy(two_d.valid))
                if two_d is not None and len(two_d) else (None, None))
    canon = canonical_bone_lengths(pool.train.poses)
    views = load_h36m_views(cfg) if cfg.h36m_share > 0 else None
    n_real = 0 if views is None else round(cfg.h36m_share * cfg.batch_size)
    if views is not None:
        views = CameraViews(*(torch.from_numpy(getattr(views, f.name))
                              for f in fields(CameraViews)))
    vals = _h36m_validation(cfg)
    if pool.val is not None:
        vals["clips"] = _clip_validation(pool.val.poses, cfg)
    checks = ", ".join(f"{k} {len(v[0])}" for k, v in vals.items())
    print(f"pool: {pool.train.describe()}; 2D-only: {0 if kp2 is None else len(kp2)} "
          f"people; real camera views: {0 if views is None else len(views)}; validation: "
          f"{checks}; loaded in {time.time() - t0:.1f}s; device {device}, precision "
          f"{amp or 'fp32'}", flush=True)

    model = ResidualMLPLifter(LifterConfig(**asdict(cfg.network))).to(device)
    stats_gen = torch.Generator().manual_seed(cfg.seed)
    rows = torch.randint(len(poses), (20000,), generator=stats_gen)
    model.set_output_stats(synthesize(poses[rows], cfg, stats_gen)[2])
    opt = make_optimizer(model, cfg, device)
    sources = (pool.sources + ([] if views is None else ["h36m_views"])
               + ([] if two_d is None else two_d.sources))
    model_info = {"name": cfg.name, "method": "wild", "inputs": "any detector (trained on simulated ones)",
                  "input_layout": "h36m17",
                  "train_subjects": [s for s in cfg.h36m_subjects
                                     if s not in cfg.val_subjects],
                  "training_data": {k: TRAINING_DATA[k] for k in sources},
                  "pool": pool.train.describe(), "train_config": cfg.to_dict()}
    extra: dict[str, float] = {}

    def validate() -> float:
        for kind, (kp, ok, target) in vals.items():
            extra[f"val_{kind}_mm"] = mean_joint_error(model, kp, ok, target.float(), device)
        return next(iter(extra.values()), float("nan"))

    def step_loss(epoch: int, step: int, gen):
        rows = torch.randint(len(poses), (cfg.batch_size - n_real,), generator=gen)
        kp, ok, target = synthesize(poses[rows], cfg, gen)
        scored = measured[rows]
        if n_real:
            real = torch.randint(len(views), (n_real,), generator=gen)
            k_r, o_r, t_r = real_camera_batch(views, real, cfg, gen)
            kp, ok, target = torch.cat([kp, k_r]), torch.cat([ok, o_r]), torch.cat([target, t_r])
            scored = torch.cat([scored, torch.ones(n_real, 17)])
        n3 = len(kp)
        if kp2 is not None:
            rows2 = torch.randint(len(kp2), (cfg.batch_2d,), generator=gen)
            k2, o2 = two_d_batch(kp2[rows2], ok2[rows2], cfg, gen)
            kp, ok = torch.cat([kp, k2]), torch.cat([ok, o2])
        kp, ok, target = kp.to(device), ok.to(device), target.to(device)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            pred = model(kp, ok)
        pred = pred.float()
        err = (pred[:n3] - target).norm(dim=-1)
        mpjpe = (err * scored).sum() / scored.sum()   # joints the source measures
        logged = {"mpjpe_mm": mpjpe}
        loss = mpjpe
        first = 0 if cfg.geo_on_3d else n3     # the samples L_geo holds
        if first < len(pred) and cfg.lambda_geo > 0:
            geo = geo_loss(pred[first:], canon, ok[first:]).mean()
            loss = loss + cfg.lambda_geo * geo
            logged["geo"] = geo
        if kp2 is not None:
            cons = consistency_loss(pred[n3:], kp[n3:], ok[n3:])
            loss = loss + cfg.lambda_2d * cons
            logged["cons"] = cons
        return loss, logged

    def summarize(epoch: int, stats: EpochStats):
        fields = {f"train_{k}": round(stats.ema(k), 4) for k in ("mpjpe_mm", "geo", "cons")
                  if stats.ema(k)}
        fields.update({k: round(v, 2) for k, v in extra.items()})
        text = ", ".join(f"{k} {v}" for k, v in fields.items())
        return fields, text

    return run_training(
        RunSpec(out, cfg, "residual_mlp", model_info), model, opt,
        steps_per_epoch=cfg.steps_per_epoch, step_loss=step_loss, validate=validate,
        summarize=summarize, resume=resume, progress=progress, max_steps=max_steps,
        postfix=lambda stats: {"mpjpe_mm": f"{stats.ema('mpjpe_mm'):.1f}"})
