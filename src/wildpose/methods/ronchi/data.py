"""The training arrays of a Ronchi run: 2D inputs, 3D where kept, relative depth labels (as
CSR pairs per sample), the limb prior's statistics and the validation rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ...datasets.h36m import H36MData, load_h36m
from ...engine import report_skipped
from ...models.ronchi_net import normalize_to_units
from ...relative_depth import RelativeDepthLabels, generate_relative_labels, h36m_sample_keys
from ...skeleton import H36M17
from ...training import prepare_inputs, split_validation
from .config import RonchiConfig

__all__ = ["REPROJECTION_EXCLUDED", "limb_statistics", "TrainData", "prepare_ronchi_data",
           "batch_pairs"]

#: 2D joints that are not reprojection targets, per input layout: the stacked-hourglass
#: "Spine" is MPII's thorax, not the mocap skeleton's mid-back joint (on S1/S5 it sits 0.46
#: pose-RMS units above it; every other joint but the head top, 0.22, is within ~0.1), so
#: reprojecting onto it bends the 3D spine (P2 of that joint 156 mm on a short run, 47 mm
#: without).  The head top stays a target: with no nose in these detections it is the only
#: 2D anchor of the neck and head (dropping it too made the head's error 284 mm).  The
#: network still sees every detected joint.
REPROJECTION_EXCLUDED = {"mpii16": ("Spine",)}


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


@dataclass
class TrainData:
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


def prepare_ronchi_data(cfg: RonchiConfig, data: H36MData | None) -> TrainData:
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
    return TrainData(
        X=torch.from_numpy(norm), V=torch.from_numpy(valid), Y=Y,
        has3d=torch.from_numpy(has3d[keep].copy()), offsets=torch.from_numpy(offsets),
        li=torch.from_numpy(labels.i[order].astype(np.int64)),
        lj=torch.from_numpy(labels.j[order].astype(np.int64)),
        lr=torch.from_numpy(labels.label[order].astype(np.float32)),
        Xv=torch.from_numpy(normv), Vv=torch.from_numpy(validv), Yv_mm=yv.astype(np.float64),
        limb=limb, summary=summary, reproj_mask=torch.tensor(
            [n not in REPROJECTION_EXCLUDED.get(layout, ()) for n in H36M17.joints]))


def batch_pairs(offsets: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The pairs of the batch rows ``idx``: (batch row of each pair, its position in the
    label arrays)."""
    start = offsets[idx]
    count = offsets[idx + 1] - start
    row = torch.repeat_interleave(torch.arange(len(idx)), count)
    first = torch.cumsum(count, 0) - count
    pos = torch.arange(int(count.sum())) - first[row] + start[row]
    return row, pos
