"""Zhou et al. 2017's end-to-end image network: training, evaluation, experiment, inference.

The network is :class:`~wildpose.models.hourglass.ZhouImageNet` (stacked hourglass + depth
regression).  It is trained, as in the paper, on batches that mix

* 3D-labelled images ("lab" renders): heatmap L2 against Gaussians at the 2D labels, plus
  ``lambda_reg * mean (d - d_gt)^2`` on the per-joint depth;
* 2D-only images ("wild" renders): heatmap L2, plus ``lambda_geo * L_geo`` on
  ``[normalized ground-truth Y2D, predicted depth]`` (:func:`wildpose.losses.geo_loss`, the
  one geometric loss wildpose has),

in three stages (:func:`stage_of`, :func:`stage_weights`): stage 1 trains the heatmaps only
(the depth terms have weight 0), stage 2 adds the depth loss on 3D samples, stage 3 adds
L_geo on the 2D-only samples.  The authors' weights (0.1, 0.01) are the defaults.

Units: depth is root-relative, in the normalized units of the pose's 2D
(:func:`wildpose.normalization.normalize_2d`: root-centred, unit RMS distance), exactly as for
the keypoint depth lifter (:func:`wildpose.methods.zhou.depth_targets` makes the targets).
Millimetres come from the depth lifter's convention: the pose ``[normalize_2d(Y2D), Ydep]``
is scaled so that its total bone length equals the canonical (mean lab) skeleton's total in mm
(:func:`pose_to_mm`, which runs ``DepthLifter.to_mm``).

Augmentation (:func:`augment_batch`): horizontal flips that swap left and right joints,
in-plane rotation and scale jitter about the image centre; depth targets are invariant to
rotation and scale and are only permuted by a flip.

Training runs on :func:`wildpose.training.run_training` (run folder, ``last.pt`` resume,
``log.jsonl``, ``model.safetensors``) and is distributed-aware: under ``torchrun`` each rank
trains on its shard of every epoch (:func:`wildpose.distributed.shard_indices`) with
DistributedDataParallel, and only rank 0 writes files.

:func:`run_zhou_image_experiment` is the paper's ablation on the synthetic renders
(``wildpose experiment zhou-image``); :class:`ZhouImagePredictor` runs a trained model on a
person crop (``wildpose predict --model <zhou_image model>``).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets.h36m import default_data_root
from ..skeleton import H36M17, SYMMETRIC_BONES
from ..engine import (EpochStats, RunSettings, RunSpec, checked_options, make_optimizer,
                      open_run, require, run_training)
from ..training import check_experiment_options, finished_row, save_row, select_rows

__all__ = ["ZhouImageTrainConfig", "ImageSet", "ImageData", "stage_of", "stage_weights",
           "augment_batch", "zhou_image_losses", "prepare_image_data", "group_holdout",
           "render_image_set", "train_zhou_image", "pose_to_mm", "predict_batch",
           "evaluate_image_model", "ZhouImagePredictor", "trained_crop_margin", "IMAGE_ROWS",
           "IMAGE_SETTINGS", "IMAGE_QUICK", "run_zhou_image_experiment"]


# ------------------------------------------------------------------------------- config
@dataclass
class ZhouImageTrainConfig(RunSettings):
    """Everything one image-network training run depends on (saved as its ``config.json``).

    Network fields become a :class:`~wildpose.models.hourglass.ZhouImageConfig`
    (:meth:`net_config`).  Sample counts pick evenly spaced poses of each split of
    :func:`wildpose.datasets.synthetic.build_splits`; ``val_samples`` lab poses are held out
    of training for the validation curve.  ``epochs`` is the sum of the three stages.
    ``lab_sources`` / ``wild_sources`` train on real photographs instead
    (:func:`prepare_image_data`, ``configs/zhou-image-real.example.json``).
    """

    # holds h36m/ and cmu-mocap/: $WILDPOSE_DATA if that is set, else ../shared/data
    data_root: str = field(default_factory=lambda: str(default_data_root()))
    out_dir: str = "runs/zhou-image"
    name: str = ""                              # recorded in the exported model
    # network
    image_size: int = 64                        # S, px (heatmaps S/4)
    stacks: int = 1
    width: int = 64
    hourglass_depth: int = 3
    depth_blocks: int = 2
    depth_pool: int = 2
    sigma: float = 1.0                          # heatmap Gaussian, cells
    # data
    mocap_stride: int = 10                      # frames of the mocap read (50 fps -> 5 fps)
    include_cmu: bool = True                    # CMU BVH poses in the wild split
    lab_samples: int = 4000                     # 3D-labelled training renders (S1, S5, S6)
    val_samples: int = 200                      # held-out lab renders (validation curve)
    wild_samples: int = 4000                    # 2D-only renders (S7, S8, CMU)
    use_2d_only: bool = True                    # False: the "3D" rows (no 2D-only images)
    # Real photographs instead of the renders (wildpose.datasets.images.read_source dicts,
    # e.g. {"format": "h36m-frames", "frames_dir": ...} or {"format": "mpii", ...}).  Given,
    # they replace the lab (3D) / wild (2D-only) renders, every sample of them is used
    # (lab_samples / wild_samples apply to the renders only) and about val_samples lab
    # crops of whole held-out sequences validate; the crops are cached under renders/.
    lab_sources: tuple = ()
    wild_sources: tuple = ()
    # schedule (epochs are passes over the lab renders)
    stage1_epochs: int = 2                      # heatmaps only
    stage2_epochs: int = 2                      # + depth L2 on 3D samples
    stage3_epochs: int = 2                      # + L_geo on 2D-only samples
    batch_3d: int = 16
    batch_2d: int = 16
    lambda_reg: float = 0.1                     # the authors' weights
    lambda_geo: float = 0.01
    geo_on_3d: bool = False                     # also L_geo on 3D samples (row "3D/w geo")
    # augmentation
    rotate_deg: float = 20.0                    # uniform in +- this
    scale_jitter: float = 0.15                  # scale uniform in 1 +- this
    num_threads: int = 0                        # CPU threads per process; 0: torch's default

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self, sigma=(self.sigma > 0, "> 0 cells"),
                depth_blocks=(self.depth_blocks >= 0, ">= 0"),
                depth_pool=(self.depth_pool >= 1, ">= 1"),
                mocap_stride=(self.mocap_stride >= 1, ">= 1"),
                lab_samples=(self.lab_samples >= 1, ">= 1"),
                val_samples=(self.val_samples >= 0, ">= 0"),
                wild_samples=(self.wild_samples >= 0, ">= 0"),
                stage1_epochs=(self.stage1_epochs >= 0, ">= 0"),
                stage2_epochs=(self.stage2_epochs >= 0, ">= 0"),
                stage3_epochs=(self.stage3_epochs >= 0, ">= 0"),
                batch_3d=(self.batch_3d >= 1, ">= 1"), batch_2d=(self.batch_2d >= 1, ">= 1"),
                lambda_reg=(self.lambda_reg >= 0, ">= 0"),
                lambda_geo=(self.lambda_geo >= 0, ">= 0"),
                rotate_deg=(0 <= self.rotate_deg <= 180, "in [0, 180] degrees"),
                scale_jitter=(0 <= self.scale_jitter < 1, "in [0, 1)"),
                num_threads=(self.num_threads >= 0, ">= 0"))
        if self.epochs < 1:
            raise ValueError("training options stage1_epochs + stage2_epochs + stage3_epochs "
                             "must be >= 1, got 0")
        try:  # the network's own sizes (image_size, stacks, width, hourglass_depth, ...)
            self.net_config()
        except ValueError as e:
            raise ValueError(f"zhou-image network options: {e}") from None

    @property
    def epochs(self) -> int:
        """Total epochs of the three stages (what :func:`run_training` runs)."""
        return self.stage1_epochs + self.stage2_epochs + self.stage3_epochs

    def net_config(self):
        """The :class:`~wildpose.models.hourglass.ZhouImageConfig` of this run."""
        from ..models.hourglass import ZhouImageConfig

        return ZhouImageConfig(num_joints=H36M17.num_joints, stacks=self.stacks,
                               width=self.width, depth=self.hourglass_depth,
                               input_size=self.image_size, depth_blocks=self.depth_blocks,
                               depth_pool=self.depth_pool, root_joint=H36M17.root)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ZhouImageTrainConfig":
        opts = checked_options(cls, d, "zhou-image")
        for key in ("lab_sources", "wild_sources"):  # JSON lists -> tuples of dicts
            if key in opts:
                if not isinstance(opts[key], (list, tuple)):
                    raise ValueError(f"{key} must be a list of source objects, not "
                                     f"{type(opts[key]).__name__}")
                opts[key] = tuple(opts[key])
        return cls(**opts)


# ------------------------------------------------------------------------------- stages
def stage_of(cfg: ZhouImageTrainConfig, epoch: int) -> int:
    """The stage (1, 2 or 3) of a 0-based epoch."""
    if epoch < cfg.stage1_epochs:
        return 1
    return 2 if epoch < cfg.stage1_epochs + cfg.stage2_epochs else 3


def stage_weights(cfg: ZhouImageTrainConfig, epoch: int) -> dict[str, float]:
    """Loss weights of an epoch: ``{"heatmap": 1, "reg": 0 or lambda_reg, "geo": 0 or
    lambda_geo}``.  Stage 1: heatmaps only; stage 2: + depth; stage 3: + geometry."""
    s = stage_of(cfg, epoch)
    return {"heatmap": 1.0, "reg": cfg.lambda_reg if s >= 2 else 0.0,
            "geo": cfg.lambda_geo if s == 3 else 0.0}


# --------------------------------------------------------------------------------- data
@dataclass
class ImageSet:
    """Rendered samples in memory.

    Attributes:
        images: (N, S, S, 3) uint8 RGB.
        joints_2d: (N, 17, 2) float32 pixels, H36M17 order (known even outside the image).
        pose_mm: (N, 17, 3) float32 root-relative camera-frame mm, or None (2D-only).
        depth: (N, 17) float32 root-relative depth targets, normalized 2D units, or None.
        visible: (N, 17) bool joints with a 2D label inside the image, or None (all of them;
            the renders).  Invisible joints get no heatmap target and are left out of L_geo;
            their ``joints_2d`` are meaningless on 2D-only sets, projections on 3D ones.
        group: (N,) str, the recording each sample comes from (real crops: a Human3.6M
            ``"S<subject>/<action>"`` sequence, else the image file), or None (the renders,
            each independent).  Validation holds out whole groups (:func:`prepare_image_data`).
    """

    images: np.ndarray
    joints_2d: np.ndarray
    pose_mm: np.ndarray | None = None
    depth: np.ndarray | None = None
    visible: np.ndarray | None = None
    group: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images)

    def pose_norm(self) -> np.ndarray:
        """(N, 17, 3) ``[normalize_2d(Y2D), depth]`` (3D samples only)."""
        from ..normalization import normalize_2d

        norm, _, _ = normalize_2d(self.joints_2d, np.ones(self.joints_2d.shape[:2], bool))
        return np.concatenate([norm, self.depth[..., None]], -1).astype(np.float32)


@dataclass
class ImageData:
    """The renders of one run: lab training and validation sets, 2D-only renders (or None)
    and the canonical skeleton of the lab training set in mm and in normalized units."""

    lab: ImageSet
    val: ImageSet
    wild: ImageSet | None
    canonical_mm: np.ndarray
    canonical_norm: np.ndarray
    notes: list[str] = field(default_factory=list)


def _image_set(arrays: dict[str, np.ndarray], keep_3d: bool) -> ImageSet:
    """Rendered arrays (``prerender``'s keys) -> :class:`ImageSet` with depth targets."""
    from ..normalization import normalize_2d
    from .zhou import depth_targets

    kp = np.asarray(arrays["joints_2d"], np.float32)
    if not keep_3d:
        return ImageSet(np.asarray(arrays["image"]), kp)
    cam = np.asarray(arrays["joints_3d"], np.float32)
    pose = cam - cam[:, H36M17.root:H36M17.root + 1]
    valid = np.ones(kp.shape[:2], bool)
    norm, _, _ = normalize_2d(kp, valid)
    depth, _ = depth_targets(pose, norm, valid)
    return ImageSet(np.asarray(arrays["image"]), kp, pose.astype(np.float32), depth)


def _subset(dataset, n: int, name: str):
    """A dataset of ``n`` evenly spaced poses of ``dataset`` (all of them if fewer)."""
    from ..datasets.synthetic import SyntheticPoseDataset

    poses = dataset._poses
    pick = np.linspace(0, len(poses) - 1, min(n, len(poses))).round().astype(int)
    return SyntheticPoseDataset(poses[pick], dataset.style, dataset.size, dataset.seed,
                                dataset.keep_3d, name=name)


def render_image_set(dataset, cache_dir: str | Path | None = None,
                     progress: bool = False) -> ImageSet:
    """Render every sample of a :class:`~wildpose.datasets.synthetic.SyntheticPoseDataset`.

    With ``cache_dir`` the renders go through :func:`~wildpose.datasets.synthetic.prerender`
    to ``<cache_dir>/<name>-<settings hash>.npz`` (resumable, and reused by later runs with
    the same poses and settings); without it they are rendered in memory.  Processes
    sharing a cache path take turns (a ``<file>.lock`` file), so ranks of one job render
    once.
    """
    from ..datasets.synthetic import prerender
    from ..locking import exclusive

    n = len(dataset)
    if cache_dir is None:
        rows = [dataset[i] for i in range(n)]
        arrays = {k: np.stack([r[k] for r in rows]) for k in ("image", "joints_2d",
                                                               "joints_3d")}
        return _image_set(arrays, dataset.keep_3d)
    key = json.dumps([dataset.style, dataset.size, dataset.seed, dataset.keep_3d, n,
                      float(np.float64(dataset._poses.sum()).round(3))])
    path = Path(cache_dir) / f"{dataset.name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}.npz"
    if not path.is_file():
        # Ranks of a torchrun job share the cache: one renders, the others wait and load.
        with exclusive(path.with_name(path.name + ".lock")):
            if not path.is_file():  # another process may have finished meanwhile
                prerender(dataset, path, n, chunk=500, progress=progress)
    with np.load(path) as z:
        return _image_set({k: z[k] for k in ("image", "joints_2d", "joints_3d")},
                          dataset.keep_3d)


def _evenly_spaced(n: int, count: int) -> np.ndarray:
    """(n,) bool: every ``n // count``-th row (at least every 2nd), at most ``count`` rows.

    The renders' validation rule: each render has its own random camera, so neighbours are
    no closer to each other than any two renders of similar poses.
    """
    period = max(n // max(count, 1), 2)
    pick = (np.arange(n) % period == period - 1) if count else np.zeros(n, bool)
    return pick & (np.cumsum(pick) <= count)


def group_holdout(groups: np.ndarray, count: int, seed: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Hold out whole groups (sequences, images) for about ``count`` validation rows.

    Groups are drawn in a seeded random order until they hold ``count`` rows (never all
    groups, so something is left to train on); ``count`` of their rows, evenly spaced in row
    order, become the validation set, and the rest of the held-out groups is used by neither
    side -- in training they would be near-duplicates of validation frames.

    Args:
        groups: (N,) group key of each row; count: validation rows wanted; seed: the draw.
    Returns:
        ``(is_val, is_train)``: (N,) bool masks; a group has rows on one side at most.
    """
    n = len(groups)
    if count <= 0 or n == 0:
        return np.zeros(n, bool), np.ones(n, bool)
    names, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(names))
    enough = np.cumsum(sizes[order]) >= count
    taken = int(np.argmax(enough)) + 1 if enough.any() else len(names)
    held = np.isin(inverse, order[:min(taken, len(names) - 1)])
    rows = np.flatnonzero(held)
    # floor of a linspace with steps >= 1: distinct rows, spread over every held-out group
    pick = rows[np.linspace(0, len(rows), min(count, len(rows)), endpoint=False).astype(int)]
    is_val = np.zeros(n, bool)
    is_val[pick] = True
    return is_val, ~held


def _validation_split(data: ImageSet, count: int, seed: int
                      ) -> tuple[np.ndarray, np.ndarray, str]:
    """``(is_val, is_train, note)`` for the lab set: whole groups (:func:`group_holdout`)
    where ``data.group`` says which samples belong together, else evenly spaced rows
    (:func:`_evenly_spaced`, the renders).  ``note`` is appended to the run's notes."""
    n = len(data)
    if data.group is None or count <= 0:
        is_val = _evenly_spaced(n, count)
        return is_val, ~is_val, ""
    n_groups = len(np.unique(data.group))
    if n_groups < 2:
        # Nothing to hold out whole without emptying the training set.
        is_val = _evenly_spaced(n, count)
        return is_val, ~is_val, (" (one sequence/image only: evenly spaced, so validation "
                                 "frames have near-identical training neighbours)")
    is_val, is_train = group_holdout(data.group, count, seed)
    held = data.group[~is_train]
    return is_val, is_train, (f" (whole sequences/images: {len(np.unique(held))} of "
                              f"{n_groups} held out, {len(held) - int(is_val.sum())} of "
                              f"their crops unused)")


def prepare_image_data(cfg: ZhouImageTrainConfig, splits: dict | None = None,
                       cache_dir: str | Path | None = None, progress: bool = False
                       ) -> ImageData:
    """Render (or load from ``cache_dir``) the lab, validation and wild samples of a run.

    With ``cfg.lab_sources`` the lab samples are crops of real 3D-labelled photographs and
    with ``cfg.wild_sources`` the wild ones crops of 2D-labelled photographs
    (:func:`wildpose.datasets.images.load_image_sources`, cached in ``cache_dir`` when
    given), each in place of its renders.  Real lab crops are held in memory
    (N x S x S x 3 bytes); real wild crops stay memory-mapped from the cache.

    Validation: ``cfg.val_samples`` lab samples.  Renders are taken evenly spaced; real crops
    by whole Human3.6M (subject, action) sequences, all cameras (images for sources without
    sequences), so that no validation frame has a near-identical twin in training
    (:func:`group_holdout`; the rest of the held-out sequences is left unused).

    Args:
        splits: ``{"lab", "wild"(, "test")}`` datasets; default
            :func:`~wildpose.datasets.synthetic.build_splits` of ``cfg.data_root`` at
            ``cfg.image_size`` (read only if some renders are needed).
    """
    from ..datasets.images import load_image_sources
    from ..datasets.synthetic import build_splits
    from ..losses import canonical_bone_lengths

    want_wild = cfg.use_2d_only and (bool(cfg.wild_sources) or cfg.wild_samples > 0)
    if splits is None and (not cfg.lab_sources or (want_wild and not cfg.wild_sources)):
        splits = build_splits(cfg.data_root, cfg.image_size, cfg.seed, cfg.mocap_stride,
                              include_cmu=cfg.include_cmu)
    source_notes: list[str] = []
    if cfg.lab_sources:
        rendered, source_notes = load_image_sources(cfg.lab_sources, cfg.image_size,
                                                    cache_dir, "lab", True, cfg.data_root,
                                                    progress)
    else:
        both = _subset(splits["lab"], cfg.lab_samples + cfg.val_samples, "lab")
        rendered = render_image_set(both, cache_dir, progress)
    is_val, is_train, split_note = _validation_split(rendered, cfg.val_samples, cfg.seed)

    def take(rows):
        opt = lambda a: None if a is None else a[rows]  # noqa: E731
        return ImageSet(rendered.images[rows], rendered.joints_2d[rows],
                        rendered.pose_mm[rows], rendered.depth[rows], opt(rendered.visible),
                        opt(rendered.group))

    lab, val = take(is_train), take(is_val)
    kind = "crops" if cfg.lab_sources else "renders"
    if len(lab) < cfg.batch_3d:
        raise ValueError(f"only {len(lab)} 3D-labelled training {kind}, fewer than one "
                         f"batch (batch_3d {cfg.batch_3d})")
    wild = None
    notes = source_notes + [f"{len(lab)} lab {kind} with 3D, {len(val)} held out for "
                            f"validation{split_note}"]
    if want_wild and cfg.wild_sources:
        wild, wild_notes = load_image_sources(cfg.wild_sources, cfg.image_size, cache_dir,
                                              "wild", False, cfg.data_root, progress)
        notes += wild_notes + [f"{len(wild)} wild crops, 2D only"]
    elif want_wild:
        wild = render_image_set(_subset(splits["wild"], cfg.wild_samples, "wild"), cache_dir,
                                progress)
        notes.append(f"{len(wild)} wild renders, 2D only")
    return ImageData(lab, val, wild, canonical_bone_lengths(lab.pose_mm),
                     canonical_bone_lengths(lab.pose_norm()), notes)


# ------------------------------------------------------------------------- augmentation
def _to_tensor(images: np.ndarray):
    """(B, S, S, 3) uint8 -> (B, 3, S, S) float32 in [0, 1]."""
    import torch

    # Memory-mapped caches and decoded photos may be read-only; torch wants writable memory.
    images = np.require(images, requirements=["C", "W"])
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0


def augment_batch(images, joints_2d, depth, gen, cfg: ZhouImageTrainConfig):
    """Random flip, rotation and scale of a batch, images and labels alike.

    Args:
        images: (B, 3, S, S) float in [0, 1].
        joints_2d: (B, J, 2) pixels (integer = pixel centre).
        depth: (B, J) depth targets (NaN rows for 2D-only samples are fine).
        gen: torch.Generator for every draw (reproducible per step).
    Returns:
        ``(images, joints_2d, depth)`` augmented.  A flip mirrors the image
        (x -> S - 1 - x) and swaps left/right joints in both labels; rotation by
        ``+-rotate_deg`` and scaling by ``1 +- scale_jitter`` act about the image centre
        (borders replicated).  Depth targets are invariant to both (they are in the
        normalized units of the 2D, which rotate and scale with the image).
    """
    import torch
    import torch.nn.functional as F

    from ..heatmaps import flip_coords, flip_images, flip_joints

    b, _, s, _ = images.shape
    flip = torch.rand(b, generator=gen) < cfg.flip_prob
    angle = (torch.rand(b, generator=gen) * 2 - 1) * np.deg2rad(cfg.rotate_deg)
    scale = 1 + (torch.rand(b, generator=gen) * 2 - 1) * cfg.scale_jitter
    if flip.any():
        images, joints_2d, depth = images.clone(), joints_2d.clone(), depth.clone()
        images[flip] = flip_images(images[flip])
        joints_2d[flip] = flip_coords(joints_2d[flip], s)
        depth[flip] = flip_joints(depth[flip])
    if cfg.rotate_deg == 0 and cfg.scale_jitter == 0:
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


# ------------------------------------------------------------------------------- losses
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
    import torch

    from ..heatmaps import heatmap_loss, pixels_to_cells, render_gaussian_heatmaps
    from ..losses import geo_loss
    from ..normalization import normalize_2d

    hm_size = out.heatmaps[-1].shape[-1]
    s = hm_size * 4
    # Joints without a 2D label arrive as NaN (train_zhou_image marks ImageSet.visible so,
    # and augment_batch carries the NaN along with its joint): this test is False for them,
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


# ----------------------------------------------------------------------------- training
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
    import torch

    from ..distributed import (average_metrics, barrier, gpu_autocast, init_distributed,
                               shard_indices, wrap_model)
    from ..models.hourglass import ZhouImageNet

    if min(cfg.stage1_epochs, cfg.stage2_epochs, cfg.stage3_epochs) < 0 or cfg.epochs < 1:
        raise ValueError("stage epochs must be >= 0 and add up to at least 1")
    env = init_distributed(cfg.device)
    if cfg.num_threads > 0:
        # Small convolutions on a busy 2-core CPU: two threads that wait on each other can
        # be 50x slower than one (seen here while another job ran), hence settable.
        torch.set_num_threads(cfg.num_threads)
    if env.is_main:
        out, cfg_dict = open_run(cfg, resume, hint="out_dir or resume=False")
    barrier(env)
    out = Path(cfg.out_dir)
    cfg_dict = json.loads(json.dumps(asdict(cfg)))
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
        "train_config": cfg_dict}
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
        imgs, kp, dep = augment_batch(imgs, kp, dep, gen, cfg)
        with gpu_autocast(device, cfg.precision):
            out_ = net(imgs.to(device))
        losses = zhou_image_losses(out_, kp.to(device), dep.to(device), has3.to(device),
                                   canon, stage_weights(cfg, epoch), cfg.geo_on_3d, cfg.sigma)
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


# ---------------------------------------------------------------------------- inference
def pose_to_mm(pose_norm, total_bone_mm: float, total_bone_norm: float):
    """(B, J, 3) ``[normalized 2D, depth]`` -> mm, the depth lifter's way: each pose is
    scaled so that its total bone length is the canonical skeleton's ``total_bone_mm``
    (a degenerate pose takes the mean scale ``total_bone_mm / total_bone_norm``).

    This runs :meth:`wildpose.models.depth_lifter.DepthLifter.to_mm` itself, on the two
    totals, so both networks share one definition of millimetres.
    """
    from types import SimpleNamespace

    import torch

    from ..models.depth_lifter import DepthLifter

    totals = SimpleNamespace(total_bone_mm=torch.tensor([float(total_bone_mm)]),
                             total_bone_norm=torch.tensor([float(total_bone_norm)]))
    return DepthLifter.to_mm(totals, torch.as_tensor(pose_norm).float())


def predict_batch(model, images, batch: int = 64, device: Any = "cpu"):
    """Run the network on (N, S, S, 3) uint8 images (or (N, 3, S, S) floats in [0, 1]).

    Returns:
        ``(xy, score, depth)``: (N, J, 2) pixels (argmax with quarter-cell refinement of the
        last stack's heatmaps), (N, J) heatmap peak values and (N, J) normalized depth; numpy.
    """
    import torch

    from ..heatmaps import cells_to_pixels, decode_argmax

    model.eval()
    xs, scores, depths = [], [], []
    c = model.config
    with torch.no_grad():
        for i in range(0, len(images), batch):
            chunk = images[i:i + batch]
            t = _to_tensor(chunk) if isinstance(chunk, np.ndarray) else chunk.float()
            out = model(t.to(device))
            cells, score = decode_argmax(out.heatmaps[-1])
            xs.append(cells_to_pixels(cells, c.input_size, c.heatmap_size).cpu())
            scores.append(score.cpu())
            depths.append(out.depth.float().cpu())
    return (torch.cat(xs).numpy(), torch.cat(scores).numpy(), torch.cat(depths).numpy())


def evaluate_image_model(model, test: ImageSet, total_bone_mm: float,
                         total_bone_norm: float, batch: int = 64, device: Any = "cpu"
                         ) -> dict[str, Any]:
    """Score an image network on rendered test samples with 3D.

    * ``PCK@0.1`` (fraction): a predicted joint is correct within 0.1 x max(width, height)
      of the tight box of the ground-truth 2D joints (the person box), over all 17 joints
      (the visible ones where ``test.visible`` is given);
    * ``P1`` / ``P2`` (mm): MPJPE and Procrustes-aligned MPJPE of the root-relative pose,
      the prediction ``[normalize_2d(Y2D), Ydep]`` put in mm by :func:`pose_to_mm`
      (canonical total bone length), the ground truth in camera mm;
    * ``bone_symmetry`` (mm): mean |left - right| length per bone type
      (:func:`wildpose.metrics.bone_symmetry_error`) of the mm predictions.
    """
    from ..metrics import bone_symmetry_error, mpjpe, p_mpjpe
    from ..normalization import normalize_2d

    xy, _, depth = predict_batch(model, test.images, batch, device)
    gt = test.joints_2d
    size = (gt.max(1) - gt.min(1)).max(-1)                                 # (N,)
    hit = np.linalg.norm(xy - gt, axis=-1) <= 0.1 * size[:, None]
    # Real crops: only joints visible in the image are scored (the renders: all of them).
    seen = np.ones(hit.shape, bool) if test.visible is None else np.asarray(test.visible)
    pck = float(hit[seen].mean()) if seen.any() else float("nan")
    norm, _, _ = normalize_2d(xy, np.ones(xy.shape[:2], bool))
    pose = pose_to_mm(np.concatenate([norm, depth[..., None]], -1), total_bone_mm,
                      total_bone_norm).numpy()
    sym = {k: float(v.mean()) for k, v in bone_symmetry_error(pose).items()}
    return {"PCK@0.1": pck, "P1": float(mpjpe(pose, test.pose_mm).mean()),
            "P2": float(p_mpjpe(pose, test.pose_mm).mean()), "bone_symmetry": sym,
            "num_samples": len(test)}


def trained_crop_margin(info: dict[str, Any]) -> float | None:
    """The crop margin a model's real training crops had, from its description.

    ``train_zhou_image`` records its whole config as ``info["train_config"]``: the margin of
    each lab / wild source dict (:data:`~wildpose.datasets.images.DEFAULT_CROP_MARGIN` where
    the dict gives none, as :func:`~wildpose.datasets.images.read_source` reads it).

    Returns:
        the margin (box side multiple), the median if the sources differ; None for a model
        trained on the synthetic renders only (they are whole images, not crops) or of
        unknown origin.
    """
    from ..datasets.images import DEFAULT_CROP_MARGIN

    cfg = info.get("train_config") or {}
    sources = [*(cfg.get("lab_sources") or ()), *(cfg.get("wild_sources") or ())]
    margins = [float(s.get("margin", DEFAULT_CROP_MARGIN)) for s in sources
               if isinstance(s, dict)]
    return float(np.median(margins)) if margins else None


class ZhouImagePredictor:
    """A trained image network on photos: a person box in, 2D keypoints and a 3D pose out.

    Args:
        model: a loaded ``zhou_image`` model (``wildpose.zoo.load_model``) or a model name /
            file of one.
        box_scale: the square crop's side is this times the longer side of the person box.
            Default: the margin of the model's training crops (:func:`trained_crop_margin`),
            else :data:`~wildpose.datasets.images.DEFAULT_CROP_MARGIN` (also for models
            trained on the renders only, which frame the body in 55-95 % of the image).
    """

    def __init__(self, model: Any, device: str = "cpu", box_scale: float | None = None):
        from ..datasets.images import DEFAULT_CROP_MARGIN
        from ..models.hourglass import ZhouImageNet
        from ..zoo import load_model

        if not isinstance(model, ZhouImageNet):
            model = load_model(model, device=device)
        if not isinstance(model, ZhouImageNet):
            raise ValueError(f"model {getattr(model, 'info', {}).get('name', '')!s} is not a "
                             f"zhou_image network")
        info = getattr(model, "info", {})
        if "canonical_bone_lengths_mm" not in info:
            raise ValueError("this zhou_image model has no canonical bone lengths in its "
                             "description: it was not trained by wildpose")
        if box_scale is None:
            box_scale = trained_crop_margin(info)
        if box_scale is None:
            box_scale = DEFAULT_CROP_MARGIN
        self.model, self.device, self.box_scale = model.eval(), device, float(box_scale)
        self.info = info
        self.total_mm = float(np.sum(info["canonical_bone_lengths_mm"]))
        self.total_norm = float(np.sum(info["canonical_bone_lengths_norm"]))
        self.min_valid_joints = 0  # the network always outputs every joint

    def crop(self, image: np.ndarray, box: tuple | None):
        """The square crop of a box, resized to the input size.

        Args:
            image: (H, W, 3) uint8; box: (x0, y0, x1, y1) pixels, or None for the whole
                image (its longer side, centred).
        Returns:
            ``(crop, origin, step)``: (1, 3, S, S) float in [0, 1]; crop pixel ``k`` has its
            centre at image pixel ``origin + step * (k + 0.5) - 0.5`` per axis.
        """
        import torch
        import torch.nn.functional as F

        h, w = image.shape[:2]
        s = self.model.config.input_size
        if box is None:
            side, cx, cy = float(max(w, h)), w / 2.0, h / 2.0          # edge coordinates
        else:
            x0, y0, x1, y1 = (float(v) for v in box)
            side = max(x1 - x0, y1 - y0, 1.0) * self.box_scale
            cx, cy = (x0 + x1) / 2 + 0.5, (y0 + y1) / 2 + 0.5
        origin = np.array([cx - side / 2, cy - side / 2])
        step = side / s
        # Edge coordinate e of crop pixel centres, as grid_sample's [-1, 1] coordinates of
        # the whole image (align_corners=False: -1 and 1 are the outer pixel edges).
        ks = torch.arange(s, dtype=torch.float32) + 0.5
        gx = (origin[0] + step * ks) * 2 / w - 1
        gy = (origin[1] + step * ks) * 2 / h - 1
        grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1)[None]
        img = _to_tensor(image[None])
        out = F.grid_sample(img, grid.float(), mode="bilinear", padding_mode="zeros",
                            align_corners=False)
        return out, origin, step

    def predict(self, image: np.ndarray, box: tuple | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One person: ``(keypoints_2d (17, 2) image pixels, confidence (17,) in [0, 1]
        (heatmap peak, clipped), pose_3d (17, 3) mm root-relative camera axes)``."""
        from ..normalization import normalize_2d

        crop, origin, step = self.crop(image, box)
        xy, score, depth = predict_batch(self.model, crop, 1, self.device)
        kp = origin + step * (xy[0] + 0.5) - 0.5
        norm, _, _ = normalize_2d(xy, np.ones(xy.shape[:2], bool))
        pose = pose_to_mm(np.concatenate([norm, depth[..., None]], -1), self.total_mm,
                          self.total_norm).numpy()[0]
        return kp, np.clip(score[0], 0.0, 1.0), pose


# --------------------------------------------------------------------------- experiment
#: (row label, model name, ZhouImageTrainConfig overrides).  "3D" rows see only the lab
#: renders; "3D/w geo" then applies L_geo to the 3D samples (there are no 2D-only ones).
IMAGE_ROWS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("3D/wo geo", "zhou-image-3d", {"use_2d_only": False, "lambda_geo": 0.0}),
    ("3D/w geo", "zhou-image-3d-geo", {"use_2d_only": False, "geo_on_3d": True}),
    ("3D+2D/wo geo", "zhou-image-3d2d", {"lambda_geo": 0.0}),
    ("3D+2D/w geo", "zhou-image-3d2d-geo", {}),
)

#: Full-size settings (``configs/zhou-image.json`` holds the same); see
#: :func:`run_zhou_image_experiment` for the time budget.
IMAGE_SETTINGS: dict[str, Any] = {
    "image_size": 64, "stacks": 1, "width": 64, "hourglass_depth": 3, "lab_samples": 10000,
    "val_samples": 200, "wild_samples": 10000, "test_samples": 1000, "stage1_epochs": 4,
    "stage2_epochs": 4, "stage3_epochs": 4, "batch_3d": 16, "batch_2d": 16, "num_threads": 1}
#: ``quick=True``: a smoke test of the whole pipeline in a few minutes.
IMAGE_QUICK: dict[str, Any] = {
    "image_size": 32, "width": 16, "hourglass_depth": 1, "depth_blocks": 1,
    "lab_samples": 48, "val_samples": 8, "wild_samples": 48, "test_samples": 24,
    "stage1_epochs": 1, "stage2_epochs": 1, "stage3_epochs": 1, "batch_3d": 8,
    "batch_2d": 8, "mocap_stride": 50, "num_threads": 1}


def _markdown(rows: list[dict], gt_sym: dict[str, float], settings: dict,
              checks: list[str]) -> str:
    bones = list(SYMMETRIC_BONES) + ["mean"]
    lines = ["# Zhou et al. image network on synthetic renders", "",
             f"3D labels: {settings['lab_samples']} lab renders of S1, S5, S6; 2D-only: "
             f"{settings['wild_samples']} wild renders of S7, S8"
             f"{' and CMU' if settings.get('include_cmu', True) else ''}; test: "
             f"{settings['test_samples']} wild renders of S9, S11 with 3D. "
             f"{settings['image_size']} px, {settings['stacks']} stack(s) of width "
             f"{settings['width']}; stages {settings['stage1_epochs']}/"
             f"{settings['stage2_epochs']}/{settings['stage3_epochs']} epochs (2D; + depth; "
             f"+ L_geo), lambda_reg {settings['lambda_reg']}, lambda_geo "
             f"{settings['lambda_geo']}. PCK@0.1 of the person box; P1, P2 and bone symmetry "
             f"in mm (root-relative, scaled by the canonical total bone length).", "",
             "| Row | 2D PCK@0.1 | P1 | P2 | " + " | ".join(f"sym {b}" for b in bones) + " |",
             "|---|" + "---:|" * (3 + len(bones))]
    for r in rows:
        m = r["test"]
        lines.append(f"| {r['row']} | {m['PCK@0.1']:.3f} | {m['P1']:.1f} | {m['P2']:.1f} | "
                     + " | ".join(f"{m['bone_symmetry'][b]:.1f}" for b in bones) + " |")
    lines.append("| ground truth | - | - | - | "
                 + " | ".join(f"{gt_sym[b]:.1f}" for b in bones) + " |")
    lines.append("")
    if checks:
        lines += ["## The paper's claims", ""] + [f"- {c}" for c in checks] + [""]
    return "\n".join(lines)


def _claims(by_row: dict[str, dict]) -> tuple[list[str], dict[str, Any]]:
    if not all(r in by_row for r in ("3D/wo geo", "3D+2D/w geo")):
        return [], {}
    base, geo = by_row["3D/wo geo"]["test"], by_row["3D+2D/w geo"]["test"]
    out = {"w_geo_beats_3d_on_P1": geo["P1"] < base["P1"],
           "w_geo_beats_3d_on_symmetry": geo["bone_symmetry"]["mean"]
           < base["bone_symmetry"]["mean"]}
    text = [f"3D+2D/w geo vs 3D/wo geo, P1: {geo['P1']:.1f} vs {base['P1']:.1f} mm "
            f"({'better' if out['w_geo_beats_3d_on_P1'] else 'NOT better'})",
            f"3D+2D/w geo vs 3D/wo geo, mean bone symmetry: "
            f"{geo['bone_symmetry']['mean']:.1f} vs {base['bone_symmetry']['mean']:.1f} mm "
            f"({'better' if out['w_geo_beats_3d_on_symmetry'] else 'NOT better'})"]
    return text, out


def run_zhou_image_experiment(data_root: str | Path | None, out_dir: str | Path,
                              quick: bool = False, rows: tuple[str, ...] | None = None,
                              splits: dict | None = None, progress: bool = True,
                              resume: bool = True, **overrides: Any) -> dict[str, Any]:
    """Zhou et al.'s ablation for the image network (``wildpose experiment zhou-image``).

    Four networks (:data:`IMAGE_ROWS`) are trained on the synthetic renders -- 3D labels
    from lab renders of S1, S5, S6; 2D-only wild renders of S7, S8 and CMU -- and scored on
    wild renders of S9, S11 (:func:`evaluate_image_model`): 2D PCK@0.1 of the person box,
    P1, P2 and the bone symmetry error per bone type.

    Args:
        data_root: the shared data folder with ``h36m/`` and ``cmu-mocap/`` (None:
            ``../shared/data``); not read when ``splits`` is given.
        out_dir: one folder per row (``<out_dir>/zhou-image-3d/`` with ``model.safetensors``,
            ``last.pt``, ``log.jsonl``, ``eval.json``), ``renders/`` (the pre-rendered
            samples, shared by the rows), ``results.json`` and ``results.md``.
        quick: tiny settings (:data:`IMAGE_QUICK`) to smoke-test the pipeline.
        rows: labels of the rows to run (default all).
        splits: ``{"lab", "wild", "test"}`` datasets instead of
            :func:`~wildpose.datasets.synthetic.build_splits` (tests use hand-made poses).
        resume: continue interrupted rows and skip finished ones (same settings only).
        overrides: any :class:`ZhouImageTrainConfig` field, and ``test_samples``.

    Notes:
        Time budget of the defaults (:data:`IMAGE_SETTINGS`, = ``configs/zhou-image.json``)
        on this 2-core CPU, estimated from a timing of 5 training steps (augmentation,
        forward, losses, backward, AdamW) of the 64 px network (1 stack, width 64,
        hourglass depth 3) on one thread at ``nice 19`` while another 2-thread training job
        ran: 0.108 s per 32-image step (16 lab + 16 wild), 0.063 s per 16-image step
        (3D rows), and 2.2 ms per 64 px render.  Each row runs 12 epochs of
        10000 / 16 = 625 steps = 7500 steps: 13.5 min for each 3D+2D row and 7.9 min for
        each 3D row, 43 min for the four; rendering 21200 images about 47 s; reading the
        mocap, the per-epoch validation (200 images) and the test evaluation (1000 images)
        a minute or two.  About 45 min in all, so the 90-minute budget holds even if the
        steps run twice as slow as measured.  The settings use one thread
        (``num_threads``: 1), as measured; two threads on an idle machine may be faster, but
        with another job running they were 80 times slower (8.3 s per step).
    """
    from ..datasets.synthetic import build_splits
    from ..metrics import bone_symmetry_error

    t0 = time.time()
    # A training config file (configs/zhou-image.json) may be passed whole: its method,
    # run name and folder are the experiment's own business.
    overrides = {k: v for k, v in overrides.items() if k not in ("method", "name", "out_dir")}
    settings = {**IMAGE_SETTINGS, **(IMAGE_QUICK if quick else {}), **overrides}
    n_test = int(settings.pop("test_samples"))
    check_experiment_options(settings, ZhouImageTrainConfig)
    chosen = select_rows(IMAGE_ROWS, rows)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base_cfg = ZhouImageTrainConfig.from_dict({**settings, "out_dir": str(out)})
    if data_root is not None:
        root = Path(data_root)
        # Accept the Human3.6M folder itself too (--data-dir is that elsewhere): the shared
        # folder beside it holds cmu-mocap/.
        if (root / "cameras.h5").is_file() and (root.parent / "h36m").is_dir():
            root = root.parent
        base_cfg.data_root = str(root)
    if splits is None:
        splits = build_splits(base_cfg.data_root, base_cfg.image_size, base_cfg.seed,
                              base_cfg.mocap_stride, include_cmu=base_cfg.include_cmu)
    cache = out / "renders"
    # Rendered once for all rows: the 3D rows simply leave the wild renders out.
    data = prepare_image_data(ZhouImageTrainConfig.from_dict({**asdict(base_cfg),
                                                              "use_2d_only": True}),
                              splits, cache, progress)
    test = render_image_set(_subset(splits["test"], n_test, "test"), cache, progress)
    gt_sym = {k: float(v.mean()) for k, v in bone_symmetry_error(test.pose_mm).items()}
    total_mm, total_norm = float(np.sum(data.canonical_mm)), float(np.sum(data.canonical_norm))

    results = []
    for label, name, spec in chosen:
        row_dir = out / name
        cfg = ZhouImageTrainConfig.from_dict({**asdict(base_cfg), **spec,
                                              "out_dir": str(row_dir), "name": name})
        eval_path = row_dir / "eval.json"
        key = {"config": json.loads(json.dumps(asdict(cfg))), "test_samples": n_test}
        done = finished_row(eval_path, key, resume)
        if done is not None:
            print(f"{label}: done already ({eval_path})", flush=True)
            results.append(done)
            continue
        print(f"== {label} ({name})", flush=True)
        t_row = time.time()
        path = train_zhou_image(cfg, resume=resume, progress=progress, data=data)
        from ..zoo import load_model

        model = load_model(path)  # the file as shipped (fp16-rounded matrices)
        res = {"row": label, "model": name, "model_file": str(path),
               "minutes": round((time.time() - t_row) / 60, 1),
               "test": evaluate_image_model(model, test, total_mm, total_norm)}
        save_row(eval_path, key, res)
        m = res["test"]
        print(f"{label}: PCK@0.1 {m['PCK@0.1']:.3f}, P1 {m['P1']:.1f} mm, P2 {m['P2']:.1f} mm,"
              f" mean bone symmetry {m['bone_symmetry']['mean']:.1f} mm", flush=True)
        results.append(res)

    check_text, checks = _claims({r["row"]: r for r in results})
    shown = json.loads(json.dumps({**{k: v for k, v in asdict(base_cfg).items()
                                      if k not in ("out_dir", "name")},
                                   "test_samples": n_test}))
    table = _markdown(results, gt_sym, shown, check_text)
    summary = {"experiment": "zhou-image", "settings": shown, "rows": results,
               "ground_truth_bone_symmetry": gt_sym, "claims": checks,
               "minutes": round((time.time() - t0) / 60, 1), "table": table}
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    (out / "results.md").write_text(table + "\n")
    print(table, flush=True)
    return summary
