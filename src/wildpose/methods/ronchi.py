"""Ronchi et al. 2018 ("It's all Relative", arXiv 1805.06880): a 2D-to-3D lifter trained from
relative depth labels -- for a few joint pairs per sample, which joint is closer -- with no 3D.

The network (:class:`RonchiNet`) is the residual MLP of :mod:`wildpose.models.lifter` (its
layers are imported, not copied) with two changes that make it trainable without 3D:

* its 3D output is in *normalized units*: the pose is root-centred and rescaled so that its 16
  bones sum to 16 (mean bone length 1).  A relative-only model has no metric scale, and this
  fixes the one it has.  It is built as a residual on the 2D input, ``(x, y, 0) + delta``,
  so no 3D statistics are needed to standardize outputs;
* it also predicts a positive scale ``s`` per pose: the scaled-orthographic camera
  ``x_2d = s * (X, Y)`` of the reprojection loss (2D in the units of
  :func:`wildpose.normalization.normalize_2d`).

Training (:func:`train_ronchi`, the body of ``wildpose train --method ronchi``) combines the
losses of :mod:`wildpose.losses` (Ronchi section)::

    w_rank * ranking(depths, relative labels)          samples with relative labels
  + w_3d * MPJPE(normalized 3D)                        samples with 3D (mixed / supervised)
  + w_reproj * reprojection(pose, s, 2D input)         every sample
  + w_limb * limb prior (bone ratios + symmetry)       every sample
  + w_scale * max(0, log(s / s_flat))                  every sample: the scale prior

The scale prior is needed because relative labels, reprojection and bone *ratios* leave one
degree of freedom per pose: how deep it is.  A larger camera scale ``s`` shrinks the pose's xy
(``xy = kp / s``) and leaves more of each bone's length to depth, and the ranking loss always
gains from deeper poses (wider margins), so without a prior training drifts to poses whose
bones all point along the optical axis.  ``s_flat`` (:func:`feasible_scale`) is the smallest
scale at which the limbs of a skeleton with the mean bone ratios fit the 2D -- the flattest
pose the 2D allows (Taylor's minimal-depth choice); the prior forbids deeper ones.  It uses
only the 2D and the limb prior's mean ratios.  (The root loss of :mod:`wildpose.losses` is
not used: this network pins the root at the origin.)

With ``supervision="relative"`` nothing of the training 3D is used but (a) the relative labels
generated from it (standing in for human annotations, or read from ``labels_file``) and (b) the
mean normalized bone lengths of the limb prior -- Human3.6M training means, as in the paper.
``fraction_3d`` > 0 gives the mixed setting (3D for that fraction of samples, relative labels
for the rest); ``supervision="3d"`` is the fully supervised reference of the same network.

Output in mm: the model's ``forward`` multiplies the normalized pose by ``mm_per_unit``, the
Human3.6M training mean of the total bone length divided by 16.  Every pose therefore comes
out with the mean skeleton's total bone length (a relative-only model's scale is arbitrary);
P2 and N-MPJPE, which fit the scale, do not depend on this choice.  Because ``forward`` takes
normalized 2D and returns mm like every wildpose lifter, :class:`wildpose.Lifter` (and so
:func:`wildpose.evaluate_h36m` and ``wildpose evaluate --model``) serves these models as they
are (architecture ``"ronchi_mlp"`` in :mod:`wildpose.zoo`).

Private helpers of :mod:`wildpose.training` reused here: ``_lr_at`` (the warm-up + cosine
learning-rate schedule); public ones: ``prepare_inputs``, ``split_validation``.  The model's
layers ``_layer`` and ``_Block`` come from :mod:`wildpose.models.lifter`.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..datasets.h36m import (TEST_SUBJECTS, TRAIN_SUBJECTS, H36MData, default_data_dir,
                             load_h36m)
from ..losses import limb_prior_loss, ranking_loss, reprojection_loss
from ..models.lifter import LifterConfig, _Block, _layer  # the lifter's layers, reused
from ..relative_depth import RelativeDepthLabels, generate_relative_labels, h36m_sample_keys
from ..skeleton import H36M17, flip_pose
# _lr_at: the lifter's private learning-rate schedule, reused so both decay alike.
from ..training import (RunSettings, _lr_at, make_optimizer, prepare_inputs, report_skipped,
                        split_validation)
from ..zoo import save_model

__all__ = [
    "RonchiNetConfig",
    "RonchiNet",
    "RonchiConfig",
    "feasible_scale",
    "limb_statistics",
    "normalize_to_units",
    "train_ronchi",
    "load_ronchi_lifter",
    "EXPERIMENT_ROWS",
    "REPROJECTION_EXCLUDED",
    "run_ronchi_experiment",
]

_N_BONES = len(H36M17.edges)  # 16
_PARENT = [e[0] for e in H36M17.edges]
_CHILD = [e[1] for e in H36M17.edges]
_LIMBS = [b for b, n in enumerate(H36M17.bone_names) if n.endswith(("arm", "leg"))]  # 8 bones
_LIMB_PARENT = [_PARENT[b] for b in _LIMBS]
_LIMB_CHILD = [_CHILD[b] for b in _LIMBS]
#: 2D joints that are not reprojection targets, per input layout: the stacked-hourglass
#: "Spine" is MPII's thorax, not the mocap skeleton's mid-back joint (on S1/S5 it sits 0.46
#: pose-RMS units above it; every other joint but the head top, 0.22, is within ~0.1), so
#: reprojecting onto it bends the 3D spine (P2 of that joint 156 mm on a short run, 47 mm
#: without).  The head top stays a target: with no nose in these detections it is the only
#: 2D anchor of the neck and head (dropping it too made the head's error 284 mm).  The
#: network still sees every detected joint.
REPROJECTION_EXCLUDED = {"mpii16": ("Spine",)}
_SCALE_INIT = 0.45  # starting scale (learned): a pose of mean bone 1 spans ~2 units of RMS-1 2D


# ----------------------------------------------------------------------------- the model
#: Architecture of :class:`RonchiNet`: the residual MLP's hyper-parameters, one definition.
RonchiNetConfig = LifterConfig


def _total_bone_length(pose: torch.Tensor) -> torch.Tensor:
    d = pose[:, _CHILD] - pose[:, _PARENT]
    return ((d * d).sum(-1) + 1e-12).sqrt().sum(-1)


def normalize_to_units(pose: Any) -> Any:
    """Rescale (..., 17, 3) root-relative poses (numpy or torch) so their 16 bones sum to 16:
    the normalized units of :class:`RonchiNet`.  Used for the 3D targets of mixed and
    supervised training."""
    d = pose[..., _CHILD, :] - pose[..., _PARENT, :]
    total = ((d * d).sum(-1) ** 0.5).sum(-1)
    return pose * (_N_BONES / total)[..., None, None]


class RonchiNet(nn.Module):
    """Normalized 2D keypoints -> 3D pose in normalized units (root at 0) and a camera scale.

    ``predict(kp, valid)`` returns ``(pose (B, 17, 3) normalized units, scale (B,) > 0)``;
    ``forward(kp, valid)`` returns the pose in mm (``pose * mm_per_unit``), the contract of
    every wildpose lifter.  Inputs as for :class:`~wildpose.models.lifter.ResidualMLPLifter`.
    """

    def __init__(self, config: RonchiNetConfig | None = None):
        super().__init__()
        self.config = config or RonchiNetConfig()
        c = self.config
        if c.num_joints != H36M17.num_joints:
            raise ValueError(f"RonchiNet works on the {H36M17.num_joints} joints of H36M17, "
                             f"not {c.num_joints}")
        if c.window != 1:
            raise ValueError(f"RonchiNet lifts single frames (window 1), not {c.window}")
        self.inp = _layer(c.num_joints * 3, c.width, c.dropout)
        self.blocks = nn.Sequential(*[_Block(c.width, c.dropout) for _ in range(c.blocks)])
        self.out = nn.Linear(c.width, (c.num_joints - 1) * 3 + 1)
        with torch.no_grad():
            self.out.bias[-1] = math.log(math.expm1(_SCALE_INIT))  # softplus^-1
        self.register_buffer("mm_per_unit", torch.ones(1))

    def set_mm_per_unit(self, mean_total_bone_mm: float) -> None:
        """Report poses in mm with this total bone length (the Human3.6M training mean)."""
        self.mm_per_unit.fill_(float(mean_total_bone_mm) / _N_BONES)

    def predict(self, keypoints: torch.Tensor, valid: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        b, j = keypoints.shape[:2]
        x = torch.cat([keypoints.reshape(b, -1), valid.to(keypoints.dtype)], 1)
        y = self.out(self.blocks(self.inp(x))).float()
        kp = keypoints.float()
        base = torch.cat([kp[:, 1:], kp.new_zeros(b, j - 1, 1)], -1)
        pose = torch.cat([kp.new_zeros(b, 1, 3), base + y[:, :-1].reshape(b, j - 1, 3)], 1)
        pose = pose * (_N_BONES / _total_bone_length(pose).clamp_min(1e-6))[:, None, None]
        scale = nn.functional.softplus(y[:, -1]) + 1e-4
        return pose, scale

    def forward(self, keypoints: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, 17, 2) normalized keypoints, (B, 17) validity -> (B, 17, 3) mm, root = 0."""
        return self.predict(keypoints, valid)[0] * self.mm_per_unit


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
    return (seg * ok / (_N_BONES * mean_ratios[_LIMBS])).amax(-1).clamp_min(1e-3)


def limb_statistics(pose_3d: Any) -> dict[str, Any]:
    """The limb prior's statistics of (N, 17, 3) poses in mm (Human3.6M training poses).

    Returns:
        ``{"mean_ratios": (16,) mean of each bone's length / the pose's total bone length
        (bone_names order; sums to 1), "mean_total_bone_mm": mean total bone length}``.
    """
    p = np.asarray(pose_3d, np.float64)
    lengths = H36M17.bone_lengths(p)
    total = lengths.sum(-1)
    ratios = (lengths / total[:, None]).mean(0)
    return {"mean_ratios": ratios, "mean_total_bone_mm": float(total.mean())}


def load_ronchi_lifter(model: Any, **kwargs: Any):
    """A :class:`wildpose.Lifter` over a Ronchi model (shipped name, file, or RonchiNet), so
    ``.lift(keypoints, layout=..., valid=None)`` gives mm and :func:`wildpose.evaluate_h36m`
    accepts it.  Keyword arguments go to :class:`wildpose.Lifter` (device, flip_test, ...)."""
    from ..api import Lifter

    return Lifter(model, **kwargs)


# ------------------------------------------------------------------------- configuration
@dataclass
class RonchiConfig(RunSettings):
    """Everything a Ronchi training run depends on (saved as the run's ``config.json``).

    The fields shared with :class:`wildpose.TrainConfig` mean the same; the others:

    * ``supervision``: ``"relative"`` (relative labels; 3D only for ``fraction_3d`` of the
      samples) or ``"3d"`` (every sample supervised in 3D: the reference).
    * ``fraction_3d``: fraction of training samples that keep their 3D (mixed training).
    * ``pairs_per_sample`` ("1", "5", ..., or "all"), ``tau_mm``, ``label_noise`` ("none" or
      "crowd"), ``label_seed``: how labels are generated from the training 3D
      (:func:`wildpose.relative_depth.generate_relative_labels`).
    * ``labels_file``: a JSON of (human) labels keyed ``S<s>/<action>/<camera>/<frame>``,
      used instead of generated ones; training samples without labels (nor 3D) are left out.
    * ``w_*``: loss weights (see the module docstring); ``w_symmetry`` weighs the symmetry
      term inside the limb prior; ``rank_multiplier`` the sharpness of the ranking loss.
    * ``rank_norm``: what the ranking loss divides depth gaps by: ``"pairs"`` (the mean |gap|
      of the batch's labelled pairs, the paper's) or ``"pose"`` (each pose's own depth spread).

    The defaults suit relative supervision.  They were chosen on short runs (P2 on every 20th
    or 200th frame of S9/S11; differences under ~1.5 mm are within run-to-run noise):

    * without the scale prior a relative-only model drifts to deep, xy-shrunken poses (P2 no
      better than lifting to a flat pose); ``w_scale`` 1-3 fixes it;
    * ``w_reproj`` 2-3 beats 1 (xy error twice the supervised model's) and 5-10;
    * ``w_limb`` 0.25-0.5 beats 0 and 1-3; ``rank_multiplier`` 2 beats 0.5, 1 and 3;
      ``rank_norm`` "pose" was no better than the paper's "pairs";
    * ``dropout`` 0 beats 0.1 and 0.25 for relative labels (1 pair + crowd noise, 0.7M
      samples: 47.8 / 50.1 mm, and ~54 at 0.25 with w_reproj 5), while the 3D-supervised
      reference prefers 0.1 (2.1M samples: 31.1 mm against 32.2 at 0).

    For ``supervision="3d"`` use ``w_reproj = w_limb = w_scale = 0`` and ``dropout`` 0.1
    (``configs/ronchi-supervised.json``): the 3D loss alone is best, and reprojecting
    orthographically costs the supervised model 12 mm P2, Human3.6M's 2D being perspective.
    """

    data_dir: str = field(default_factory=lambda: str(default_data_dir()))  # as TrainConfig
    out_dir: str = "runs/ronchi"
    inputs: str = "gt"
    subjects: tuple[int, ...] = TRAIN_SUBJECTS
    stride: int = 1
    val_fraction: float = 0.04
    supervision: str = "relative"
    fraction_3d: float = 0.0
    pairs_per_sample: str = "1"
    tau_mm: float = 0.0
    label_noise: str = "none"
    label_seed: int = 0
    labels_file: str = ""
    epochs: int = 2
    batch_size: int = 512
    width: int = 1024
    blocks: int = 2
    dropout: float = 0.0
    noise_max: float = 0.0
    drop_prob: float = 0.0
    drop_limb_prob: float = 0.0
    w_rank: float = 1.0
    w_reproj: float = 3.0
    w_limb: float = 0.5
    w_symmetry: float = 1.0
    w_scale: float = 3.0
    w_3d: float = 1.0
    rank_multiplier: float = 2.0
    rank_norm: str = "pairs"
    val_stride: int = 5
    name: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.subjects = tuple(int(s) for s in self.subjects)
        self.pairs_per_sample = str(self.pairs_per_sample).strip().lower()
        if self.supervision not in ("relative", "3d"):
            raise ValueError(f"supervision must be 'relative' or '3d', not {self.supervision!r}")
        if not 0.0 <= self.fraction_3d <= 1.0:
            raise ValueError(f"fraction_3d must be in [0, 1], got {self.fraction_3d}")
        if self.label_noise not in ("none", "crowd"):
            raise ValueError(f"label_noise must be 'none' or 'crowd', not {self.label_noise!r}")
        if self.pairs_per_sample != "all" and not (self.pairs_per_sample.isdigit()
                                                   and 1 <= int(self.pairs_per_sample) <= 136):
            raise ValueError(f"pairs_per_sample must be 1..136 or 'all', not "
                             f"{self.pairs_per_sample!r}")
        if self.rank_norm not in ("pairs", "pose"):
            raise ValueError(f"rank_norm must be 'pairs' or 'pose', not {self.rank_norm!r}")
        if self.inputs not in ("gt", "sh"):
            raise ValueError(f"inputs must be 'gt' or 'sh', not {self.inputs!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RonchiConfig":
        from ..training import checked_options

        return cls(**checked_options(cls, d, "ronchi"))

    @classmethod
    def from_file(cls, path: str | Path) -> "RonchiConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"training config {path}: {e}") from None


# ---------------------------------------------------------------------------- the data
@dataclass
class _TrainData:
    X: torch.Tensor                 # (N, 17, 2) normalized 2D
    V: torch.Tensor                 # (N, 17) bool
    Y: torch.Tensor | None          # (N, 17, 3) normalized-unit 3D (zeros where has3d False)
    has3d: torch.Tensor             # (N,) bool
    offsets: torch.Tensor           # (N + 1,) CSR of the pairs
    li: torch.Tensor
    lj: torch.Tensor
    lr: torch.Tensor
    Xv: torch.Tensor
    Vv: torch.Tensor
    Yv_mm: np.ndarray               # validation 3D, mm root-relative (monitoring only)
    limb: dict[str, Any]
    summary: dict[str, Any]
    reproj_mask: torch.Tensor       # (17,) joints whose 2D are reprojection targets


def _select_rows(cfg: RonchiConfig, data: H36MData | None) -> H36MData:
    if data is None:
        return report_skipped(load_h36m(cfg.data_dir, subjects=cfg.subjects,
                                        stride=cfg.stride, load_sh=cfg.inputs == "sh"))
    rows = np.isin(data.subject, cfg.subjects) & (data.frame % cfg.stride == 0)
    if not rows.any():
        raise ValueError(f"the given data has no rows of subjects {list(cfg.subjects)} at "
                         f"stride {cfg.stride}")
    return data.select(rows)


def _prepare(cfg: RonchiConfig, data: H36MData | None) -> _TrainData:
    data = _select_rows(cfg, data)
    kp2d, layout = data.inputs(cfg.inputs)
    have = np.isfinite(kp2d).all((1, 2))
    train_rows, val_rows = split_validation(data, cfg.val_fraction, cfg.seed)
    val_rows &= have & ((data.frame % cfg.val_stride) == 0)
    train_rows &= have
    tr = np.flatnonzero(train_rows)
    pose_cam = data.pose_3d[tr]                           # camera frame, mm
    pose_rel = pose_cam - pose_cam[:, :1]
    limb = limb_statistics(pose_rel)                      # the limb prior (training means)
    n = len(tr)
    summary: dict[str, Any] = {"training_samples_with_2d": int(n)}

    if cfg.supervision == "3d":
        has3d = np.ones(n, bool)
    else:
        has3d = np.zeros(n, bool)
        n3 = int(round(cfg.fraction_3d * n))
        if n3:
            has3d[np.random.default_rng([cfg.seed, 3]).permutation(n)[:n3]] = True
    rel = np.flatnonzero(~has3d)
    if cfg.supervision == "3d" or not len(rel):
        labels = RelativeDepthLabels(np.zeros(0, str), [], [], [], [])
        has_lab = np.zeros(len(rel), bool)
    elif cfg.labels_file:
        file_labels = RelativeDepthLabels.load(cfg.labels_file)
        if file_labels.layout != "h36m17":
            raise ValueError(f"{cfg.labels_file}: labels must name H36M17 joints, not "
                             f"layout {file_labels.layout}")
        labels, has_lab = file_labels.align(h36m_sample_keys(data.select(tr[rel])))
        summary["labels_file_skipped"] = labels.skipped
    else:
        labels = generate_relative_labels(pose_cam[rel], cfg.pairs_per_sample, cfg.tau_mm,
                                          cfg.label_noise, seed=cfg.label_seed)
        has_lab = np.ones(len(rel), bool)
    keep = has3d.copy()
    keep[rel[has_lab]] = True
    summary["training_samples_left_out_without_labels"] = int((~keep).sum())
    # Map label rows (positions in `rel`) to positions in the kept training set.
    new_pos = np.cumsum(keep) - 1
    lab_rows = new_pos[rel[labels.sample_index]] if len(labels) else np.zeros(0, np.int64)
    n_keep = int(keep.sum())
    if n_keep < cfg.batch_size:
        raise ValueError(f"only {n_keep} training samples (batch size {cfg.batch_size}); "
                         f"lower the stride or the batch size")
    order = np.argsort(lab_rows, kind="stable")
    offsets = np.searchsorted(lab_rows[order], np.arange(n_keep + 1)).astype(np.int64)
    counts = labels.counts()
    summary.update({"samples": n_keep, "samples_with_3d": int(has3d.sum()),
                    "labelled_pairs": counts["pairs"],
                    "label_counts": {k: counts[k] for k in ("i_closer", "j_closer", "same")}})

    norm, valid = prepare_inputs(kp2d[tr[keep]], layout)
    Y = None
    if has3d.any():
        Y = np.zeros((n_keep, 17, 3), np.float32)
        k3 = has3d[keep]
        Y[k3] = normalize_to_units(pose_rel[keep][k3]).astype(np.float32)
        Y = torch.from_numpy(Y)
    vr = np.flatnonzero(val_rows)
    normv, validv = prepare_inputs(kp2d[vr], layout)
    yv = data.pose_3d[vr] - data.pose_3d[vr][:, :1]
    return _TrainData(
        X=torch.from_numpy(norm), V=torch.from_numpy(valid), Y=Y,
        has3d=torch.from_numpy(has3d[keep].copy()), offsets=torch.from_numpy(offsets),
        li=torch.from_numpy(labels.i[order].astype(np.int64)),
        lj=torch.from_numpy(labels.j[order].astype(np.int64)),
        lr=torch.from_numpy(labels.label[order].astype(np.float32)),
        Xv=torch.from_numpy(normv), Vv=torch.from_numpy(validv), Yv_mm=yv.astype(np.float64),
        limb=limb, summary=summary, reproj_mask=torch.tensor(
            [n not in REPROJECTION_EXCLUDED.get(layout, ()) for n in H36M17.joints]))


def _rank_normalizer(kind: str, pose: torch.Tensor) -> torch.Tensor | None:
    """What the ranking loss divides depth gaps by (see RonchiConfig.rank_norm)."""
    if kind == "pairs":
        return None                                   # the batch's mean |gap| (the paper's)
    z = pose[..., 2]                                  # "pose": each pose's own depth spread
    return (z - z.mean(-1, keepdim=True)).pow(2).mean(-1).add(1e-8).sqrt()


def _batch_pairs(offsets: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The pairs of the batch rows ``idx``: (batch row of each pair, its position in the
    label arrays)."""
    start = offsets[idx]
    count = offsets[idx + 1] - start
    row = torch.repeat_interleave(torch.arange(len(idx)), count)
    first = torch.cumsum(count, 0) - count
    pos = torch.arange(int(count.sum())) - first[row] + start[row]
    return row, pos


def _validate(model: RonchiNet, d: _TrainData, device, batch: int = 8192) -> dict[str, float]:
    """P1 and P2 (mm) on the held-out sequences: monitoring only, never used to train."""
    from ..metrics import mpjpe, p_mpjpe

    if not len(d.Xv):
        return {"val_p1_mm": float("nan"), "val_p2_mm": float("nan")}
    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(d.Xv), batch):
            preds.append(model(d.Xv[i:i + batch].to(device),
                               d.Vv[i:i + batch].to(device)).float().cpu().numpy())
    model.train()
    pred = np.concatenate(preds)
    return {"val_p1_mm": round(float(mpjpe(pred, d.Yv_mm).mean()), 2),
            "val_p2_mm": round(float(p_mpjpe(pred, d.Yv_mm).mean()), 2)}


# ------------------------------------------------------------------------------ training
def train_ronchi(cfg: RonchiConfig, resume: bool = True, progress: bool = True,
                 max_steps: int | None = None, data: H36MData | None = None) -> Path | None:
    """Train a Ronchi lifter; returns the path of the exported ``model.safetensors``.

    Behaves like :func:`wildpose.training.train`: ``out_dir`` holds ``config.json``,
    ``last.pt`` (resumable; a different config refuses to resume), ``log.jsonl`` (validation
    P1/P2 in mm against minutes) and finally ``model.safetensors``; Ctrl-C/SIGTERM
    checkpoints; ``max_steps`` stops after that many steps (returning None).  Every random
    draw follows from (seed, epoch, step), so a resumed run equals an uninterrupted one.

    Args:
        data: optional already loaded Human3.6M samples (e.g. all training subjects at stride
            1, shared by several runs); rows of ``cfg.subjects`` at ``cfg.stride`` are used.
    """
    from tqdm import tqdm

    from ..augment import AugmentConfig, augment_batch
    from ..device import autocast_dtype, resolve_device

    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "last.pt"
    cfg_dict = json.loads(json.dumps(asdict(cfg)))
    if resume and ckpt_path.is_file():
        saved = json.loads((out / "config.json").read_text())
        if saved != cfg_dict:
            diff = sorted(k for k in set(saved) | set(cfg_dict)
                          if saved.get(k) != cfg_dict.get(k))
            raise ValueError(f"{out} holds a run with another config (differs in "
                             f"{', '.join(diff)}); choose another out_dir or do not resume")
    (out / "config.json").write_text(json.dumps(cfg_dict, indent=2))

    device = resolve_device(cfg.device)
    amp = autocast_dtype(cfg.precision, device)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    d = _prepare(cfg, data)
    print(f"ronchi ({cfg.supervision}): {d.summary['samples']} training samples "
          f"({d.summary['samples_with_3d']} with 3D, {d.summary['labelled_pairs']} labelled "
          f"pairs), {len(d.Xv)} validation, {cfg.inputs} inputs, prepared in "
          f"{time.time() - t0:.1f}s; device {device}, precision {amp or 'fp32'}", flush=True)

    model = RonchiNet(RonchiNetConfig(width=cfg.width, blocks=cfg.blocks,
                                      dropout=cfg.dropout)).to(device)
    model.set_mm_per_unit(d.limb["mean_total_bone_mm"])
    mean_ratios = torch.as_tensor(d.limb["mean_ratios"], dtype=torch.float32, device=device)
    opt = make_optimizer(model, cfg, device)
    aug = AugmentConfig(0.0, cfg.noise_max, cfg.drop_prob, cfg.drop_limb_prob)  # flips below
    perm_flip = torch.as_tensor(H36M17.flip_permutation())
    n = len(d.X)
    steps_per_epoch = n // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    epoch, step, minutes_before, log = 0, 0, 0.0, []
    model_info = {"name": cfg.name, "method": "ronchi", "inputs": cfg.inputs,
                  "input_layout": "h36m17", "train_subjects": list(cfg.subjects),
                  "train_config": cfg_dict, "supervision": d.summary,
                  "limb_prior": {"mean_ratios": [round(float(r), 6)
                                                 for r in d.limb["mean_ratios"]],
                                 "mean_total_bone_mm": round(d.limb["mean_total_bone_mm"], 2)},
                  "units": "mm; every pose scaled to the Human3.6M training mean total bone "
                           "length (the model's own scale is normalized)"}
    if resume and ckpt_path.is_file():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        epoch, step, minutes_before, log = ck["epoch"], ck["step"], ck["minutes"], ck["log"]
        print(f"resumed from {ckpt_path}: epoch {epoch + 1}, step {step}", flush=True)

    stop = {"now": False}

    def _on_signal(signum, frame):
        stop["now"] = True

    old_handlers = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    t_start = time.time()

    def minutes() -> float:
        return minutes_before + (time.time() - t_start) / 60

    def save_checkpoint():
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                    "epoch": epoch, "step": step, "minutes": minutes(), "log": log,
                    "model_info": {**model_info, "architecture": "ronchi_mlp",
                                   "config": model.config.to_dict()}}, tmp)
        tmp.replace(ckpt_path)

    model.train()
    last_save = time.time()
    steps_this_call = 0
    try:
        while epoch < cfg.epochs:
            perm = torch.from_numpy(np.random.default_rng([cfg.seed, epoch]).permutation(n))
            bar = tqdm(total=steps_per_epoch, initial=step, disable=not progress,
                       desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step", mininterval=2)
            running = 0.0
            while step < steps_per_epoch:
                idx = perm[step * cfg.batch_size:(step + 1) * cfg.batch_size]
                step_seed = hash((cfg.seed, epoch, step)) & 0x7FFFFFFF
                gen = torch.Generator().manual_seed(step_seed)
                torch.manual_seed(step_seed)
                kp, vb = d.X[idx], d.V[idx]
                yb = None if d.Y is None else d.Y[idx]
                row, pos = _batch_pairs(d.offsets, idx)
                bi, bj, br = d.li[pos], d.lj[pos], d.lr[pos]
                # Horizontal mirror: 2D, validity, 3D and the labels' joint indices together
                # (depth is unchanged by the mirror).
                if cfg.flip_prob > 0:
                    flip = torch.rand(len(idx), generator=gen) < cfg.flip_prob
                    kp = torch.where(flip[:, None, None], flip_pose(kp), kp)
                    vb = torch.where(flip[:, None], vb[:, perm_flip], vb)
                    if yb is not None:
                        yb = torch.where(flip[:, None, None], flip_pose(yb), yb)
                    fr = flip[row]
                    bi = torch.where(fr, perm_flip[bi], bi)
                    bj = torch.where(fr, perm_flip[bj], bj)
                kp, vb, yb = augment_batch(kp, vb, yb, aug, gen)
                kp, vb = kp.to(device), vb.to(device)
                for g in opt.param_groups:
                    g["lr"] = _lr_at(cfg, epoch * steps_per_epoch + step, total)
                with torch.autocast(device.type, dtype=amp or torch.float32,
                                    enabled=amp is not None):
                    pose, scale = model.predict(kp, vb)
                loss = cfg.w_reproj * reprojection_loss(pose, scale, kp,
                                                        vb & d.reproj_mask.to(device))
                if cfg.w_limb:
                    loss = loss + cfg.w_limb * limb_prior_loss(pose, mean_ratios, cfg.w_symmetry)
                if len(pos) and cfg.w_rank:
                    norm = _rank_normalizer(cfg.rank_norm, pose)
                    loss = loss + cfg.w_rank * ranking_loss(
                        pose[..., 2], bi.to(device), bj.to(device), br.to(device),
                        row.to(device), multiplier=cfg.rank_multiplier, normalizer=norm)
                if cfg.w_scale:
                    s_flat = feasible_scale(kp, vb, mean_ratios)
                    loss = loss + cfg.w_scale * torch.relu(torch.log(scale / s_flat)).mean()
                if yb is not None:
                    h = d.has3d[idx].to(device)
                    if h.any():
                        err = (pose[h] - yb.to(device)[h]).norm(dim=-1).mean()
                        loss = loss + cfg.w_3d * err
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                steps_this_call += 1
                running = 0.98 * running + 0.02 * loss.item() if running else loss.item()
                bar.update(1)
                if step % 50 == 0:
                    bar.set_postfix(loss=f"{running:.3f}")
                if max_steps is not None and steps_this_call >= max_steps:
                    save_checkpoint()
                    bar.close()
                    return None
                if stop["now"]:
                    save_checkpoint()
                    bar.close()
                    print(f"interrupted: checkpoint saved to {ckpt_path}; run the same "
                          f"command again to resume", flush=True)
                    raise KeyboardInterrupt
                if time.time() - last_save > cfg.checkpoint_minutes * 60:
                    save_checkpoint()
                    last_save = time.time()
            bar.close()
            val = _validate(model, d, device)
            epoch, step = epoch + 1, 0
            log.append({"epoch": epoch, "minutes": round(minutes(), 2),
                        "train_loss": round(running, 4), **val})
            with open(out / "log.jsonl", "a") as f:
                f.write(json.dumps(log[-1]) + "\n")
            print(f"epoch {epoch}: loss {running:.3f}, validation P1 {val['val_p1_mm']:.1f} mm, "
                  f"P2 {val['val_p2_mm']:.1f} mm, {minutes():.1f} min", flush=True)
            save_checkpoint()
            last_save = time.time()
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)
    model_info.update({"validation_curve": log, "train_minutes": round(minutes(), 1)})
    path = save_model(out / "model.safetensors", model.cpu(), model_info)
    print(f"model written to {path}", flush=True)
    return path


# ---------------------------------------------------------------------------- experiment
#: The rows of the experiment (the paper's Table 2) and their settings; ``epochs`` per input
#: kind.  Budgets: every row of one input kind sees the same number of training samples --
#: about 4.2M for ground-truth 2D (the shipped models, ~7 min each at ~10k samples/s) and 2.8M
#: for stacked-hourglass 2D -- so that 10 trainings and 10 full evaluations (~1 min each) fit
#: in 90 minutes.  One label per frame needs many frames, so 1-pair rows see every frame
#: (stride 1, a new random pair for each frame and camera, so near-identical neighbouring
#: frames carry different pairs); rows with a full label per frame (3D, or all 136 pairs) see
#: every 5th frame 5x as often.  Relative rows gain far more from longer training than the
#: supervised one (short runs, P2 on every 20th S9/S11 frame: 1 pair + crowd noise 49 mm
#: after 0.7M samples, 42 mm after 2.1M; supervised 35 -> 31 mm), so the budget is spent on
#: epochs.
EXPERIMENT_ROWS: dict[str, dict[str, Any]] = {
    "3D-supervised": dict(supervision="3d", w_reproj=0.0, w_limb=0.0, w_scale=0.0, dropout=0.1,
                          stride=5, epochs={"gt": 15, "sh": 10}),
    "relative 1 pair": dict(pairs_per_sample="1", stride=1, epochs={"gt": 3, "sh": 2}),
    "relative all pairs": dict(pairs_per_sample="all", stride=5, epochs={"gt": 15, "sh": 10}),
    "relative 1 pair + crowd noise": dict(pairs_per_sample="1", label_noise="crowd", stride=1,
                                          epochs={"gt": 3, "sh": 2}),
    "relative tau=100mm": dict(pairs_per_sample="1", tau_mm=100.0, stride=1,
                               epochs={"gt": 3, "sh": 2}),
}

#: Rows exported as shipped models (ground-truth 2D inputs).
SHIPPED = {"relative 1 pair + crowd noise": "ronchi-relative", "3D-supervised": "ronchi-supervised"}

_QUICK = dict(stride_factor=20, epochs=2, width=512, eval_stride=10)


def _slug(row: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", row.lower()).strip("-")


def _fmt(v: Any) -> str:
    return f"{v:.1f}" if isinstance(v, (int, float)) and np.isfinite(v) else "-"


def run_ronchi_experiment(data_dir: str | Path, out_dir: str | Path,
                          inputs: tuple[str, ...] = ("gt", "sh"), quick: bool = False,
                          rows: tuple[str, ...] | None = None, device: str = "auto",
                          progress: bool = False, eval_stride: int | None = None,
                          subjects: tuple[int, ...] = TRAIN_SUBJECTS,
                          test_subjects: tuple[int, ...] = TEST_SUBJECTS,
                          overrides: dict[str, Any] | None = None,
                          seed: int = 0) -> dict[str, Any]:
    """Ronchi et al.'s Table 2 on Human3.6M: P2, N-MPJPE and per-action P2 of each supervision
    row, for ground-truth 2D (17 joints) and stacked-hourglass (16 joints) inputs.

    Each (inputs, row) trains in ``out_dir/<inputs>/<row>/`` (resumable: re-running skips
    finished rows and continues an interrupted one), then is scored on every frame of
    ``test_subjects`` (or every ``eval_stride``-th).  Writes ``out_dir/ronchi.md`` and
    ``out_dir/ronchi.json``, and copies the models to ship to
    ``out_dir/models/ronchi-relative.safetensors`` (1 pair, crowd noise, ground-truth 2D) and
    ``ronchi-supervised.safetensors`` (3D-supervised, ground-truth 2D).

    Args:
        quick: every 20th frame of each row's data, 2 epochs, width 512, every 10th test
            frame: a few minutes, for checking the pipeline (not the numbers).
        rows: a subset of :data:`EXPERIMENT_ROWS` (default all, in order).
        overrides: :class:`RonchiConfig` fields applied to every row (after quick).
    Returns:
        the JSON-serializable results (also written to ``ronchi.json``).
    """
    from ..api import Lifter
    from ..evaluation import evaluate_h36m

    t_all = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = tuple(rows or EXPERIMENT_ROWS)
    unknown = [r for r in rows if r not in EXPERIMENT_ROWS]
    if unknown:
        raise ValueError(f"unknown experiment row(s) {unknown}; known: {list(EXPERIMENT_ROWS)}")
    ev_stride = eval_stride or (_QUICK["eval_stride"] if quick else 1)
    results: dict[str, Any] = {"experiment": "ronchi", "rows": list(rows), "inputs": list(inputs), "quick": quick,
                               "eval_stride": ev_stride, "test_subjects": list(test_subjects),
                               "results": {}}
    for kind in inputs:
        plans = {}
        for row in rows:
            opts = dict(EXPERIMENT_ROWS[row])
            opts["epochs"] = opts["epochs"][kind]
            if quick:
                opts["stride"] = opts["stride"] * _QUICK["stride_factor"]
                opts["epochs"] = _QUICK["epochs"]
                opts["width"] = _QUICK["width"]
            opts.update(overrides or {})
            name = SHIPPED.get(row) if kind == "gt" else None
            plans[row] = RonchiConfig(**{
                "data_dir": str(data_dir), "out_dir": str(out / kind / _slug(row)),
                "inputs": kind, "subjects": tuple(subjects), "device": device, "seed": seed,
                "name": name or f"ronchi-{kind}-{_slug(row)}", **opts})
        min_stride = math.gcd(*[p.stride for p in plans.values()])
        t0 = time.time()
        train_data = load_h36m(data_dir, subjects=subjects, stride=min_stride,
                               load_sh=kind == "sh")
        test_data = load_h36m(data_dir, subjects=test_subjects, stride=ev_stride,
                              load_sh=kind == "sh")
        print(f"[{kind}] loaded {len(train_data)} training and {len(test_data)} test samples "
              f"in {time.time() - t0:.0f}s", flush=True)
        res_kind: dict[str, Any] = {}
        for row, cfg in plans.items():
            run = Path(cfg.out_dir)
            model_file = run / "model.safetensors"
            t_row = time.time()
            done = model_file.is_file() and (run / "config.json").is_file() and json.loads(
                (run / "config.json").read_text()) == json.loads(json.dumps(asdict(cfg)))
            if not done:
                if model_file.is_file():
                    model_file.unlink()
                print(f"[{kind}] training '{row}'", flush=True)
                train_ronchi(cfg, resume=True, progress=progress, data=train_data)
            eval_file = run / f"eval_{kind}_stride{ev_stride}.json"
            if eval_file.is_file() and eval_file.stat().st_mtime >= model_file.stat().st_mtime:
                ev = json.loads(eval_file.read_text())
            else:
                lifter = Lifter(str(model_file), device=device)
                ev = evaluate_h36m(lifter, inputs=kind, data=test_data)
                ev = {k: ev[k] for k in ("P1", "P2", "N-MPJPE", "num_samples", "per_action",
                                         "skipped")}
                eval_file.write_text(json.dumps(ev, indent=1))
            info_minutes = None
            try:
                from ..zoo import read_model_info

                info_minutes = read_model_info(model_file).get("train_minutes")
            except ValueError:
                pass
            res_kind[row] = {"P2": ev["P2"], "N-MPJPE": ev["N-MPJPE"], "P1": ev["P1"],
                             "per_action_P2": ev["per_action"]["metrics"]["P2"],
                             "num_samples": ev["num_samples"], "train_minutes": info_minutes,
                             "model": str(model_file), "config": asdict(cfg)}
            print(f"[{kind}] {row}: P2 {ev['P2']:.1f} mm, N-MPJPE {ev['N-MPJPE']:.1f} mm "
                  f"({time.time() - t_row:.0f}s)", flush=True)
            if kind == "gt" and row in SHIPPED:
                dst = out / "models" / f"{SHIPPED[row]}.safetensors"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(model_file, dst)
        results["results"][kind] = res_kind
        del train_data, test_data
    gt = results["results"].get("gt", {})
    if "relative 1 pair + crowd noise" in gt and "3D-supervised" in gt:
        results["ratio_relative_to_supervised_P2"] = round(
            gt["relative 1 pair + crowd noise"]["P2"] / gt["3D-supervised"]["P2"], 3)
    results["total_minutes"] = round((time.time() - t_all) / 60, 1)
    (out / "ronchi.json").write_text(json.dumps(results, indent=1, default=_json_default))
    (out / "ronchi.md").write_text(_markdown(results))
    return results


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _markdown(results: dict[str, Any]) -> str:
    kinds = results["inputs"]
    names = {"gt": "GT 2D", "sh": "SH 2D"}
    head = ["Supervision"] + [f"{m} ({names.get(k, k)})" for k in kinds for m in ("P2", "N-MPJPE")]
    frames = ("every frame" if results["eval_stride"] == 1
              else f"one frame in {results['eval_stride']}")
    lines = ["## Ronchi et al. 2018: 3D pose from relative depth labels", "",
             f"Human3.6M, subjects {results['test_subjects']}, {frames} of all cameras; mm, "
             f"P2 = Procrustes-aligned MPJPE (the paper's metric), "
             f"N-MPJPE = MPJPE after the optimal scale."
             + (" QUICK run: pipeline check, not results." if results["quick"] else ""), "",
             "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for row in results["rows"]:
        cells = []
        for k in kinds:
            r = results["results"].get(k, {}).get(row, {})
            cells += [_fmt(r.get("P2")), _fmt(r.get("N-MPJPE"))]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    if "ratio_relative_to_supervised_P2" in results:
        lines += ["", f"ronchi-relative / ronchi-supervised P2 (GT 2D): "
                      f"{results['ratio_relative_to_supervised_P2']:.2f}"]
    for k in kinds:
        res = results["results"].get(k, {})
        if not res:
            continue
        acts = [a for a in next(iter(res.values()))["per_action_P2"] if a != "Average"]
        lines += ["", f"### Per-action P2 (mm), {names.get(k, k)} inputs", "",
                  "| Supervision | " + " | ".join(acts) + " | Average |",
                  "|---|" + "---:|" * (len(acts) + 1)]
        for row in results["rows"]:
            if row in res:
                pa = res[row]["per_action_P2"]
                lines.append(f"| {row} | " + " | ".join(_fmt(pa.get(a)) for a in acts)
                             + f" | {_fmt(pa.get('Average'))} |")
    lines += ["", f"Total time: {results['total_minutes']} min."]
    return "\n".join(lines) + "\n"
