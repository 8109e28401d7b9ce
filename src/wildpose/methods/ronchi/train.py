"""A Ronchi training run: the scale prior, the weighted losses of one batch and the run on
the shared engine (:func:`wildpose.engine.run_training`)."""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from ...augment import augment_batch, mirror_samples
from ...datasets.h36m import H36MData
from ...device import autocast_dtype, resolve_device
from ...engine import EpochStats, RunSpec, make_optimizer, open_run, run_training
from ...losses import limb_prior_loss, ranking_loss, reprojection_loss
from ...metrics import mpjpe, p_mpjpe
from ...models.ronchi_net import N_BONES, RonchiNet, RonchiNetConfig
from ...skeleton import H36M17
from .config import RonchiConfig
from .data import TrainData, batch_pairs, prepare_ronchi_data

__all__ = ["feasible_scale", "train_ronchi"]

_LIMBS = [b for b, n in enumerate(H36M17.bone_names) if n.endswith(("arm", "leg"))]  # 8 bones
_LIMB_PARENT, _LIMB_CHILD = ([H36M17.edges[b][end] for b in _LIMBS] for end in (0, 1))


def feasible_scale(keypoints: torch.Tensor, valid: torch.Tensor,
                   mean_ratios: torch.Tensor) -> torch.Tensor:
    """The flattest camera scale: the smallest ``s`` at which the limbs of a skeleton with the
    mean bone ratios (in normalized units bone b is ``16 m_b`` long) fit the 2D keypoints.

    A bone cannot look longer than it is: ``|kp_b| / s <= 16 m_b``, so
    ``s >= max_b |kp_b| / (16 m_b)``.  At that bound the most fronto-parallel limb lies in the
    image plane and the pose has the least depth the 2D allows (Taylor's minimal-depth choice);
    a larger ``s`` shrinks xy and leaves more of each bone's length to depth.  Only the eight
    limb bones (upper/lower arms and legs) are used: they are long, usually one of them is
    nearly fronto-parallel, and 2D detectors place their joints where the mocap skeleton has
    them, whereas the spine, neck and head joints of the stacked-hourglass detections are
    defined differently (their lower spine looks twice too long).  Measured on S9/S11 (for
    this note only; nothing is fitted to it), the true scale is 0.96-1.03 times this bound
    for 80 % of poses with ground-truth 2D, and 0.86-1.10 with the detections.

    Args: (B, 17, 2) normalized keypoints, (B, 17) validity, (16,) mean ratios.
    Returns: (B,) over the limbs whose two joints are valid (at least 1e-3).
    """
    kp = keypoints.float()
    seg = (kp[:, _LIMB_CHILD] - kp[:, _LIMB_PARENT]).norm(dim=-1)
    ok = (valid[:, _LIMB_CHILD] & valid[:, _LIMB_PARENT]).to(seg.dtype)
    return (seg * ok / (N_BONES * mean_ratios[_LIMBS])).amax(-1).clamp_min(1e-3)


def _validate(model: RonchiNet, d: TrainData, device, batch: int = 8192) -> dict[str, float]:
    """P1 and P2 (mm) on the held-out sequences: monitoring only, never used to train."""
    if not len(d.Xv):
        return {"val_p1_mm": float("nan"), "val_p2_mm": float("nan")}
    model.eval()
    with torch.no_grad():
        pred = np.concatenate([model(d.Xv[i:i + batch].to(device), d.Vv[i:i + batch].to(device))
                               .float().cpu().numpy() for i in range(0, len(d.Xv), batch)])
    model.train()
    return {"val_p1_mm": round(float(mpjpe(pred, d.Yv_mm).mean()), 2),
            "val_p2_mm": round(float(p_mpjpe(pred, d.Yv_mm).mean()), 2)}


def train_ronchi(cfg: RonchiConfig, resume: bool = True, progress: bool = True,
                 max_steps: int | None = None, data: H36MData | None = None) -> Path | None:
    """Train a Ronchi lifter; returns the path of the exported ``model.safetensors``.

    The run folder behaves as every wildpose trainer's (:func:`wildpose.engine.run_training`):
    ``config.json``, a resumable ``last.pt`` (a different config refuses to resume),
    ``log.jsonl`` (validation P1/P2 in mm against minutes) and finally ``model.safetensors``;
    Ctrl-C/SIGTERM checkpoints; ``max_steps`` stops after that many steps (returning None).
    Every random draw follows from (seed, epoch, step), so a resumed run equals an
    uninterrupted one.

    Args:
        data: optional already loaded Human3.6M samples (e.g. all training subjects at stride
            1, shared by several runs); rows of ``cfg.subjects`` at ``cfg.stride`` are used.
    """
    out, cfg_dict = open_run(cfg, resume, hint="out_dir or do not resume")
    device = resolve_device(cfg.device)
    amp = autocast_dtype(cfg.precision, device)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    d = prepare_ronchi_data(cfg, data)
    print(f"ronchi ({cfg.supervision}): {d.summary['samples']} training samples "
          f"({d.summary['samples_with_3d']} with 3D, {d.summary['labelled_pairs']} labelled "
          f"pairs), {len(d.Xv)} validation, {cfg.inputs} inputs, prepared in "
          f"{time.time() - t0:.1f}s; device {device}, precision {amp or 'fp32'}", flush=True)

    model = RonchiNet(RonchiNetConfig(**asdict(cfg.network))).to(device)
    model.set_mm_per_unit(d.limb["mean_total_bone_mm"])
    mean_ratios = torch.as_tensor(d.limb["mean_ratios"], dtype=torch.float32, device=device)
    opt = make_optimizer(model, cfg, device)
    aug = replace(cfg.augment, flip_prob=0.0)  # flips below
    perm_flip = torch.as_tensor(H36M17.flip_permutation())
    reproj_mask = d.reproj_mask.to(device)
    n = len(d.X)
    model_info = {"name": cfg.name, "method": "ronchi", "inputs": cfg.inputs,
                  "input_layout": "h36m17", "train_subjects": list(cfg.subjects),
                  "train_config": cfg_dict, "supervision": d.summary,
                  "limb_prior": {"mean_ratios": [round(float(r), 6)
                                                 for r in d.limb["mean_ratios"]],
                                 "mean_total_bone_mm": round(d.limb["mean_total_bone_mm"], 2)},
                  "units": "mm; every pose scaled to the Human3.6M training mean total bone "
                           "length (the model's own scale is normalized)"}

    @functools.lru_cache(maxsize=1)
    def permutation(epoch: int) -> torch.Tensor:
        return torch.from_numpy(np.random.default_rng([cfg.seed, epoch]).permutation(n))

    def step_loss(epoch: int, step: int, gen):
        idx = permutation(epoch)[step * cfg.batch_size:(step + 1) * cfg.batch_size]
        kp, vb = d.X[idx], d.V[idx]
        yb = None if d.Y is None else d.Y[idx]
        row, pos = batch_pairs(d.offsets, idx)
        bi, bj, br = d.li[pos], d.lj[pos], d.lr[pos]
        # Horizontal mirror: 2D, validity, 3D and the labels' joint indices together (depth
        # is unchanged by the mirror).
        if cfg.augment.flip_prob > 0:
            flip = torch.rand(len(idx), generator=gen) < cfg.augment.flip_prob
            kp, vb, yb = mirror_samples(flip, kp, vb, yb)
            fr = flip[row]
            bi = torch.where(fr, perm_flip[bi], bi)
            bj = torch.where(fr, perm_flip[bj], bj)
        kp, vb, yb = augment_batch(kp, vb, yb, aug, gen)
        kp, vb = kp.to(device), vb.to(device)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            pose, scale = model.predict(kp, vb)
        loss = cfg.w_reproj * reprojection_loss(pose, scale, kp, vb & reproj_mask)
        if cfg.w_limb:
            loss = loss + cfg.w_limb * limb_prior_loss(pose, mean_ratios, cfg.w_symmetry)
        if len(pos) and cfg.w_rank:  # depth gaps over the batch's mean |gap| (the paper's)
            loss = loss + cfg.w_rank * ranking_loss(
                pose[..., 2], bi.to(device), bj.to(device), br.to(device),
                row.to(device), multiplier=cfg.rank_multiplier)
        if cfg.w_scale:
            s_flat = feasible_scale(kp, vb, mean_ratios)
            loss = loss + cfg.w_scale * torch.relu(torch.log(scale / s_flat)).mean()
        if yb is not None:
            h = d.has3d[idx].to(device)
            if h.any():
                err = (pose[h] - yb.to(device)[h]).norm(dim=-1).mean()
                loss = loss + cfg.w_3d * err
        return loss, {"loss": loss}

    def summarize(epoch: int, stats: EpochStats):
        running = stats.ema("loss")
        return {"train_loss": round(running, 4)}, f"loss {running:.3f}"

    return run_training(
        RunSpec(out, cfg, "ronchi_mlp", model_info), model, opt,
        steps_per_epoch=n // cfg.batch_size, step_loss=step_loss,
        validate=lambda: _validate(model, d, device), summarize=summarize, resume=resume,
        progress=progress, max_steps=max_steps,
        postfix=lambda stats: {"loss": f"{stats.ema('loss'):.3f}"})
