"""One Zhou training run: the losses of a mixed batch and the run on the shared engine
(:func:`wildpose.engine.run_training`); :class:`ZhouLifter` lifts with the result."""

from __future__ import annotations

import functools
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...api import Lifter
from ...augment import augment_batch
from ...device import autocast_dtype, resolve_device
from ...engine import RunSpec, make_optimizer, mean_joint_error, open_run, run_training
from ...losses import geo_loss
from ...models.depth_lifter import DepthLifter
from ...models.lifter import LifterConfig
from .config import ZhouConfig
from .data import ZhouData, prepare_zhou_data

__all__ = ["zhou_losses", "train_zhou", "ZhouLifter"]


def zhou_losses(pred, target, valid_in, n_3d: int, canonical_norm, cfg: ZhouConfig,
                geo_on: bool) -> dict:
    """The training losses of one mixed batch.

    Args:
        pred: (B, 17, 3) float ``[x, y, depth]`` from the depth lifter, normalized units.
        target: (B, 17, 4) ``[x, y, depth, 2D known]`` (see :meth:`SampleSet.targets`);
            rows ``[:n_3d]`` are 3D-labelled, the rest 2D-only.
        valid_in: (B, 17) bool joints given to the network (after augmentation).
        canonical_norm: (16,) canonical bone lengths, normalized units.
        geo_on: whether the geometric loss is switched on (stage 2).
    Returns:
        {"total", "reg", "geo", "fill"} scalar tensors.
    """
    zero = pred.new_zeros(())
    gt_xy, known = target[..., :2], target[..., 3] > 0.5
    reg = ((pred[:n_3d, 1:, 2] - target[:n_3d, 1:, 2]) ** 2).mean() if n_3d else zero
    # Squared 2D error of the fill-in x, y on joints the input lacked but whose 2D is known,
    # averaged over all joints of the batch (so each joint weighs as in the depth loss).
    miss = (known & ~valid_in).to(pred.dtype)
    fill = (((pred[..., :2] - gt_xy) ** 2).sum(-1) * miss).mean()
    geo = zero
    first = 0 if cfg.geo_on_3d else n_3d
    if geo_on and cfg.lambda_geo > 0 and first < len(pred):
        pose = torch.cat([gt_xy[first:], pred[first:, :, 2:3]], -1)
        geo = geo_loss(pose, canonical_norm, valid=known[first:]).mean()
    total = cfg.lambda_reg * reg + cfg.lambda_fill * fill + cfg.lambda_geo * geo
    return {"total": total, "reg": reg, "geo": geo, "fill": fill}


def train_zhou(cfg: ZhouConfig, resume: bool = True, progress: bool = True,
               max_steps: int | None = None, data: ZhouData | None = None) -> Path | None:
    """Train a depth lifter the Zhou et al. way; returns the exported ``model.safetensors``.

    The run folder and its behaviour are those of :func:`wildpose.training.train` (both run
    :func:`wildpose.training.run_training`): ``config.json``, a resumable ``last.pt`` (every
    ``checkpoint_minutes`` and at each epoch's end; Ctrl-C/SIGTERM checkpoint and stop),
    ``log.jsonl`` (losses and validation MPJPE in mm per epoch) and ``model.safetensors``.
    Every random draw follows from (seed, epoch, step), so a resumed run repeats an
    uninterrupted one exactly.  ``max_steps`` stops after that many steps in this call (with a
    checkpoint, returning None).
    """
    out, cfg_dict = open_run(cfg, resume, hint="out_dir or resume=False")

    device = resolve_device(cfg.device)
    amp = autocast_dtype(cfg.precision, device)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    data = data if data is not None else prepare_zhou_data(cfg)
    lab, wild = data.lab, data.wild if cfg.has_2d_only else None
    X3, V3 = torch.from_numpy(lab.keypoints), torch.from_numpy(lab.valid)
    T3 = torch.from_numpy(lab.targets())
    if wild is not None:
        Xw, Vw, Tw = (torch.from_numpy(wild.keypoints), torch.from_numpy(wild.valid),
                      torch.from_numpy(wild.targets()))
    Xv, Vv, Yv = (torch.from_numpy(data.val.keypoints), torch.from_numpy(data.val.valid),
                  torch.from_numpy(data.val.pose_mm))
    canon = torch.as_tensor(data.canonical_norm, dtype=torch.float32, device=device)
    b2 = cfg.batch_2d if wild is not None else 0
    print(f"loaded {len(X3)} 3D-labelled, {len(Xw) if wild is not None else 0} 2D-only and "
          f"{len(Xv)} validation samples in {time.time() - t0:.1f}s; device {device}, "
          f"precision {amp or 'fp32'}", flush=True)
    for note in data.notes:
        print(note, flush=True)

    model = DepthLifter(LifterConfig(**asdict(cfg.network))).to(device)
    model.set_training_stats(torch.from_numpy(lab.depth), X3,
                             torch.from_numpy(data.canonical_mm), canon.cpu())
    opt = make_optimizer(model, cfg, device)
    aug = cfg.augment
    model_info = {
        "name": cfg.name, "method": "zhou2017", "inputs": "gt", "input_layout": "h36m17",
        "output": "normalized [x, y, depth]; mm via to_mm (total bone length = canonical)",
        "train_subjects": list(cfg.lab_subjects),
        "train_subjects_2d_only": list(cfg.wild_subjects) if cfg.has_2d_only else [],
        "coco_files_2d_only": list(cfg.coco_files) if cfg.has_2d_only else [],
        "canonical_bone_lengths_mm": [round(float(v), 2) for v in data.canonical_mm],
        "train_config": cfg_dict}

    @functools.lru_cache(maxsize=1)
    def permutations(epoch: int):
        perm3 = torch.from_numpy(np.random.default_rng([cfg.seed, epoch]).permutation(len(X3)))
        permw = (torch.from_numpy(np.random.default_rng([cfg.seed, epoch, 1])
                                  .permutation(len(Xw))) if b2 else None)
        return perm3, permw

    def step_loss(epoch: int, step: int, gen):
        perm3, permw = permutations(epoch)
        idx = perm3[step * cfg.batch_3d:(step + 1) * cfg.batch_3d]
        kp, vb, tb = X3[idx], V3[idx], T3[idx]
        if b2:  # the 2D-only set is cycled through at its own pace
            iw = permw[(step * b2 + torch.arange(b2)) % len(Xw)]
            kp, vb, tb = (torch.cat([kp, Xw[iw]]), torch.cat([vb, Vw[iw]]),
                          torch.cat([tb, Tw[iw]]))
        kp, vb, tb = augment_batch(kp, vb, tb, aug, gen)
        kp, vb, tb = kp.to(device), vb.to(device), tb.to(device)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            pred = model(kp, vb)
        losses = zhou_losses(pred.float(), tb, vb, len(idx), canon, cfg,
                             geo_on=epoch >= cfg.stage1_epochs)
        return losses["total"], losses

    def summarize(epoch: int, stats):
        entry = {"geo_on": epoch >= cfg.stage1_epochs,
                 **{f"train_{k}": round(stats.mean(k), 6)
                    for k in ("total", "reg", "geo", "fill")}}
        return entry, (f"loss {entry['train_total']:.4f} (reg {entry['train_reg']:.4f}, "
                       f"geo {entry['train_geo']:.4f})")

    return run_training(
        RunSpec(out, cfg, "zhou_depth", model_info), model, opt,
        steps_per_epoch=len(X3) // cfg.batch_3d, step_loss=step_loss,
        validate=lambda: (mean_joint_error(model, Xv, Vv, Yv, device, predict=model.lift_mm)
                          if len(Xv) else float("nan")),
        summarize=summarize, resume=resume, progress=progress, max_steps=max_steps,
        epoch_desc=lambda epoch: " (geo)" if epoch >= cfg.stage1_epochs else "",
        postfix=lambda stats: {"loss": f"{stats.mean('total'):.4f}"})


class ZhouLifter(Lifter):
    """Pixels in any layout -> root-relative H36M17 poses in mm with a trained depth lifter.

    A :class:`wildpose.api.Lifter` (torch backend) that accepts only
    :class:`~wildpose.models.depth_lifter.DepthLifter` models; ``Lifter`` converts their
    normalized ``[x, y, depth]`` output to mm with ``to_mm`` (after flip-test averaging, in
    normalized units).  Anything with ``.lift`` is a lifter to
    :func:`wildpose.evaluation.evaluate_h36m`, so
    ``evaluate_h36m(ZhouLifter("zhou-s1-3d2d-geo"), data_dir, inputs="sh")`` works.

    Args:
        model: a loaded :class:`~wildpose.models.depth_lifter.DepthLifter`, or a shipped model
            name / model or checkpoint path of one.
        flip_test: also lift the mirrored pose and average the depths (in normalized units,
            before the conversion to mm).
        min_valid_joints: poses with fewer valid joints are not lifted (their rows are NaN).
    """

    def __init__(self, model: Any = None, device: str = "auto", flip_test: bool = True,
                 min_valid_joints: int = 6, batch_size: int = 8192):
        super().__init__(model, device=device, flip_test=flip_test,
                         min_valid_joints=min_valid_joints, batch_size=batch_size,
                         backend="torch")
        if not isinstance(self.model, DepthLifter):
            info = getattr(self.model, "info", {})
            raise ValueError(f"model {info.get('name') or ''!s} is not a Zhou depth lifter "
                             f"(architecture {info.get('architecture')!r})")
