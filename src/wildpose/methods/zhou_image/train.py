"""One image-network training run: crop augmentation, the staged losses and the run on the
shared engine (:func:`wildpose.engine.run_training`), distributed-aware."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...datasets.image_set import ImageSet
from ...distributed import (average_metrics, barrier, gpu_autocast, init_distributed,
                            shard_indices, wrap_model)
from ...engine import EpochStats, RunSpec, make_optimizer, open_run, run_training
from ...heatmaps import (flip_coords, flip_images, flip_joints, heatmap_loss, pixels_to_cells,
                         render_gaussian_heatmaps)
from ...losses import geo_loss
from ...models.hourglass import ZhouImageNet
from ...normalization import normalize_2d
from .config import ImageAugmentConfig, ZhouImageTrainConfig, stage_of, stage_weights
from .data import ImageData, prepare_image_data
from .predictor import _to_tensor, evaluate_image_model

__all__ = ["augment_crops", "zhou_image_losses", "train_zhou_image"]


def augment_crops(images, joints_2d, depth, gen, aug: ImageAugmentConfig):
    """Random flip, rotation and scale of a batch, images and labels alike.

    Args:
        images: (B, 3, S, S) float in [0, 1].
        joints_2d: (B, J, 2) pixels (integer = pixel centre).
        depth: (B, J) depth targets (NaN rows for 2D-only samples are fine).
        gen: torch.Generator for every draw (reproducible per step).
        aug: the strengths (a config's ``augment`` section).
    Returns:
        ``(images, joints_2d, depth)`` augmented.  A flip mirrors the image
        (x -> S - 1 - x) and swaps left/right joints in both labels; rotation by
        ``+-rotate_deg`` and scaling by ``1 +- scale_jitter`` act about the image centre
        (borders replicated).  Depth targets are invariant to both (they are in the
        normalized units of the 2D, which rotate and scale with the image).
    """
    b, _, s, _ = images.shape
    flip = torch.rand(b, generator=gen) < aug.flip_prob
    angle = (torch.rand(b, generator=gen) * 2 - 1) * np.deg2rad(aug.rotate_deg)
    scale = 1 + (torch.rand(b, generator=gen) * 2 - 1) * aug.scale_jitter
    if flip.any():
        images, joints_2d, depth = images.clone(), joints_2d.clone(), depth.clone()
        images[flip] = flip_images(images[flip])
        joints_2d[flip] = flip_coords(joints_2d[flip], s)
        depth[flip] = flip_joints(depth[flip])
    if aug.rotate_deg == 0 and aug.scale_jitter == 0:
        return images, joints_2d, depth
    # M = scale * R maps centred pixel coordinates of the input to those of the output.
    cos, sin = torch.cos(angle), torch.sin(angle)
    m = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    m = m * scale[:, None, None]                                          # (B, 2, 2)
    centre = (s - 1) / 2.0
    joints_2d = (joints_2d - centre) @ m.transpose(1, 2) + centre
    # affine_grid maps output to input in [-1, 1] coordinates, which (align_corners=False)
    # are the centred pixel coordinates times 2 / S: the same linear map, inverted.
    theta = torch.cat([torch.linalg.inv(m), torch.zeros(b, 2, 1)], -1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="border",
                           align_corners=False)
    return images, joints_2d, depth


def zhou_image_losses(out, joints_2d, depth_target, has_3d, canonical_norm,
                      weights: dict[str, float], geo_on_3d: bool = False,
                      sigma: float = 1.0) -> dict:
    """The training losses of one mixed batch.

    Args:
        out: :class:`~wildpose.models.hourglass.ZhouImageOutput` of the batch.
        joints_2d: (B, J, 2) ground-truth pixels (after augmentation).
        depth_target: (B, J) normalized-unit depth (anything on 2D-only rows).
        has_3d: (B,) bool, rows with 3D labels.
        canonical_norm: (num_bones,) canonical bone lengths in normalized units.
        weights: :func:`stage_weights` of the epoch.
        geo_on_3d: apply L_geo to the 3D rows too (else to 2D-only rows only).
    Returns:
        {"total", "heatmap", "reg", "geo"} scalar tensors (``reg``/``geo`` are computed
        even at weight 0, so that every parameter is in the graph, which DDP requires).
    """
    hm_size = out.heatmaps[-1].shape[-1]
    s = hm_size * 4
    # Joints without a 2D label arrive as NaN (train_zhou_image marks ImageSet.visible so,
    # and augment_crops carries the NaN along with its joint): this test is False for them,
    # so they get no heatmap target, and L_geo below normalizes and measures known joints only.
    inside = ((joints_2d >= -0.5) & (joints_2d < s - 0.5)).all(-1)          # (B, J)
    target = render_gaussian_heatmaps(pixels_to_cells(joints_2d, s, hm_size), hm_size,
                                      valid=inside, sigma=sigma)
    hm = heatmap_loss(out.heatmaps, target, inside)
    depth = out.depth
    zero = depth.sum() * 0.0
    # Root depth is 0 by construction: only the J - 1 others are errors.
    reg = (((depth[has_3d, 1:] - depth_target[has_3d, 1:]) ** 2).mean()
           if bool(has_3d.any()) else zero)
    rows = torch.ones_like(has_3d) if geo_on_3d else ~has_3d
    geo = zero
    if bool(rows.any()):
        known = torch.isfinite(joints_2d).all(-1)
        norm, _, _ = normalize_2d(joints_2d[rows].float(), known[rows])
        pose = torch.cat([norm, depth[rows, :, None]], -1)
        geo = geo_loss(pose, canonical_norm, valid=known[rows]).mean()
    total = weights["heatmap"] * hm + weights["reg"] * reg + weights["geo"] * geo
    return {"total": total, "heatmap": hm, "reg": reg, "geo": geo}


def train_zhou_image(cfg: ZhouImageTrainConfig, resume: bool = True, progress: bool = True,
                     max_steps: int | None = None, data: ImageData | None = None,
                     cache_dir: str | Path | None = None) -> Path | None:
    """Train the image network the Zhou et al. way; returns the exported model (rank 0).

    The run folder behaves as every wildpose trainer's (:func:`wildpose.training.run_training`):
    ``config.json``, a resumable ``last.pt``, ``log.jsonl`` (stage, losses, validation P1 in
    mm per epoch) and ``model.safetensors``.  Every random draw follows from
    (seed, epoch, step), so a resumed run repeats an uninterrupted one exactly.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) each rank trains on its shard of each epoch's
    permutation with DistributedDataParallel (gloo on CPU, nccl on GPUs); batch sizes are
    per rank, and only rank 0 writes files and returns the path (other ranks return None).

    Args:
        data: prepared renders (default :func:`prepare_image_data` with ``cache_dir``,
            default ``<out_dir>/renders``).
        max_steps: stop after that many steps in this call (with a checkpoint), as an
            interruption would; returns None.
    """
    env = init_distributed(cfg.device)
    if cfg.num_threads > 0:
        # Small convolutions on a busy 2-core CPU: two threads that wait on each other can
        # be 50x slower than one (seen here while another job ran), hence settable.
        torch.set_num_threads(cfg.num_threads)
    if env.is_main:
        open_run(cfg, resume, hint="out_dir or resume=False")
    barrier(env)
    out = Path(cfg.out_dir)
    device = env.device
    t0 = time.time()
    if data is None:
        data = prepare_image_data(cfg, cache_dir=cache_dir or out / "renders",
                                  progress=progress and env.is_main)
    lab, wild = data.lab, (data.wild if cfg.use_2d_only else None)
    canon = torch.as_tensor(data.canonical_norm, dtype=torch.float32, device=device)
    b2 = cfg.batch_2d if wild is not None and len(wild) else 0
    if env.is_main:
        print(f"{len(lab)} lab, {len(wild) if b2 else 0} wild and {len(data.val)} validation "
              f"samples ready in {time.time() - t0:.1f}s; device {device}, "
              f"{env.world_size} process(es)", flush=True)
        for note in data.notes:  # skipped images, held-out sequences: say so before hours
            print(f"  {note}", flush=True)

    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    model = ZhouImageNet(cfg.net_config())
    with torch.no_grad():  # the network standardizes its input with training statistics
        pix = lab.images.reshape(-1, 3)[:: max(1, lab.images.size // 3 // 200000)]
        model.hourglass.image_mean.copy_(torch.from_numpy(pix.mean(0) / 255.0))
        model.hourglass.image_std.copy_(torch.from_numpy(pix.std(0) / 255.0).clamp_min(0.02))
    model = model.to(device)
    net = wrap_model(model, env)
    opt = make_optimizer(model, cfg, device)
    model_info = {
        "name": cfg.name, "method": "zhou2017-image", "input": "RGB person crop",
        "output": "heatmaps -> 2D pixels; depth in normalized 2D units; mm via the "
                  "canonical total bone length",
        "canonical_bone_lengths_mm": [round(float(v), 3) for v in data.canonical_mm],
        "canonical_bone_lengths_norm": [round(float(v), 6) for v in data.canonical_norm],
        "train_config": cfg.to_dict()}
    total_mm = float(np.sum(data.canonical_mm))
    total_norm = float(np.sum(data.canonical_norm))

    def labels(s: ImageSet, rows: np.ndarray) -> np.ndarray:
        """(len(rows), J, 2) pixels, NaN where a joint is not visible (no 2D label)."""
        kp = s.joints_2d[rows]
        return kp if s.visible is None else np.where(s.visible[rows][..., None], kp, np.nan
                                                     ).astype(np.float32)

    def batch_of(epoch: int, step: int):
        """This rank's (images, joints_2d, depth, has_3d) of (epoch, step), un-augmented."""
        perm3 = shard_indices(len(lab), epoch, cfg.seed, env)
        idx = perm3[step * cfg.batch_3d:(step + 1) * cfg.batch_3d]
        imgs, kp, dep = lab.images[idx], labels(lab, idx), lab.depth[idx]
        n3 = len(idx)
        if b2:  # the 2D-only set is cycled through at its own pace
            permw = shard_indices(len(wild), epoch, cfg.seed + 1, env)
            iw = permw[(step * b2 + np.arange(b2)) % len(permw)]
            imgs = np.concatenate([imgs, wild.images[iw]])
            kp = np.concatenate([kp, labels(wild, iw)])
            dep = np.concatenate([dep, np.zeros((b2, kp.shape[1]), np.float32)])
        has3 = torch.arange(len(kp)) < n3
        return _to_tensor(imgs), torch.from_numpy(kp), torch.from_numpy(dep), has3

    def step_loss(epoch: int, step: int, gen):
        imgs, kp, dep, has3 = batch_of(epoch, step)
        imgs, kp, dep = augment_crops(imgs, kp, dep, gen, cfg.augment)
        with gpu_autocast(device, cfg.precision):
            out_ = net(imgs.to(device))
        losses = zhou_image_losses(out_, kp.to(device), dep.to(device), has3.to(device),
                                   canon, stage_weights(cfg, epoch), cfg.geo_on_3d,
                                   cfg.network.sigma)
        return losses["total"], losses

    def validate() -> float:
        if not len(data.val):
            return float("nan")
        res = evaluate_image_model(model, data.val, total_mm, total_norm, device=device)
        model.train()
        return res["P1"]

    def summarize(epoch: int, stats: EpochStats):
        means = average_metrics({k: stats.mean(k) for k in ("total", "heatmap", "reg", "geo")},
                                env)
        entry = {"stage": stage_of(cfg, epoch), **{f"train_{k}": round(v, 6)
                                                   for k, v in means.items()}}
        return entry, (f"stage {entry['stage']}, loss {entry['train_total']:.5f} (heatmap "
                       f"{entry['train_heatmap']:.5f}, reg {entry['train_reg']:.4f}, geo "
                       f"{entry['train_geo']:.4f})")

    steps = len(shard_indices(len(lab), 0, cfg.seed, env)) // cfg.batch_3d
    return run_training(
        RunSpec(out, cfg, "zhou_image", model_info), model, opt, steps_per_epoch=steps,
        step_loss=step_loss, validate=validate, summarize=summarize, resume=resume,
        progress=progress and env.is_main, max_steps=max_steps,
        epoch_desc=lambda epoch: f" (stage {stage_of(cfg, epoch)})",
        postfix=lambda stats: {"loss": f"{stats.mean('total'):.5f}"},
        is_main=env.is_main)
