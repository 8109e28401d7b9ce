"""The samples of a Zhou run: 3D-labelled (lab) and 2D-only (wild) sets in normalized units,
with depth targets, validation rows and the canonical skeleton."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ...datasets.h36m import H36MData, load_h36m
from ...datasets.keypoint_files import load_coco_2d
from ...engine import report_skipped
from ...geometry import depth_targets
from ...losses import canonical_bone_lengths
from ...skeleton import H36M17
from ...training import prepare_inputs, split_validation
from .config import ZhouConfig

__all__ = ["SampleSet", "ZhouData", "lab_samples", "wild_samples", "wild_samples_from_keypoints",
           "prepare_zhou_data"]


@dataclass
class SampleSet:
    """Training samples in normalized units (see ``wildpose.normalization``).

    Attributes:
        keypoints: (N, 17, 2) float32 normalized H36M17 2D (0 where invalid; root at 0).
        valid: (N, 17) bool.
        depth: (N, 17) float32 root-relative depth targets in normalized units, or None for
            2D-only samples.
        pose_mm: (N, 17, 3) float32 root-relative camera-frame poses in mm (3D samples only).
    """

    keypoints: np.ndarray
    valid: np.ndarray
    depth: np.ndarray | None = None
    pose_mm: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.keypoints)

    def pose_norm(self) -> np.ndarray:
        """(N, 17, 3) ``[2D, depth]`` in normalized units (3D samples only)."""
        return np.concatenate([self.keypoints, self.depth[..., None]], -1)

    def targets(self) -> np.ndarray:
        """(N, 17, 4) float32 ``[x, y, depth (0 if none), 2D known (0/1)]``, x first, so the
        whole target follows a mirror augmentation (``wildpose.augment`` flips any (B, J, D)
        array with x first)."""
        d = np.zeros(self.valid.shape, np.float32) if self.depth is None else self.depth
        return np.concatenate([self.keypoints, d[..., None], self.valid[..., None]],
                              -1).astype(np.float32)

    @staticmethod
    def concat(sets: list["SampleSet"]) -> "SampleSet":
        three_d = all(s.depth is not None for s in sets)
        return SampleSet(np.concatenate([s.keypoints for s in sets]),
                         np.concatenate([s.valid for s in sets]),
                         np.concatenate([s.depth for s in sets]) if three_d else None,
                         np.concatenate([s.pose_mm for s in sets]) if three_d else None)


@dataclass
class ZhouData:
    """The samples of one run: lab (3D) training and validation sets, 2D-only samples (or
    None) and the canonical skeleton of the lab training set in mm and normalized units."""

    lab: SampleSet
    val: SampleSet
    wild: SampleSet | None
    canonical_mm: np.ndarray
    canonical_norm: np.ndarray
    notes: list[str] = field(default_factory=list)


def lab_samples(data: H36MData) -> SampleSet:
    """3D-labelled samples from Human3.6M: projected ground-truth 2D inputs, depth targets
    and the root-relative 3D in mm.  Rows whose scale fit fails are dropped."""
    norm, valid = prepare_inputs(data.pose_2d, "h36m17")
    pose = (data.pose_3d - data.pose_3d[:, H36M17.root:H36M17.root + 1]).astype(np.float32)
    depth, s = depth_targets(pose, norm, valid)
    ok = np.isfinite(s) & (s > 0) & np.isfinite(depth).all(1)
    return SampleSet(norm[ok], valid[ok], depth[ok], pose[ok])


def wild_samples_from_keypoints(keypoints: np.ndarray, valid: np.ndarray | None = None,
                                layout: str = "h36m17", min_valid_joints: int = 8
                                ) -> SampleSet:
    """2D-only samples from pixels in any layout.  Samples with fewer than
    ``min_valid_joints`` valid H36M17 joints or without a pelvis are dropped."""
    norm, ok = prepare_inputs(keypoints, layout, valid)
    keep = (ok.sum(1) >= min_valid_joints) & ok[:, H36M17.root]
    return SampleSet(norm[keep], ok[keep])


def wild_samples(data: H36MData, inputs: str = "gt") -> SampleSet:
    """2D-only samples from Human3.6M: only the 2D of ``data`` is read (``inputs`` "gt":
    projected ground truth; "sh": stacked-hourglass detections), never its 3D."""
    kp, layout = data.inputs(inputs)
    have = np.isfinite(kp).all((1, 2))  # rows whose detections exist
    return wild_samples_from_keypoints(kp[have], layout=layout)


Loader = Callable[[tuple, int, bool], H36MData]


def prepare_zhou_data(cfg: ZhouConfig, loader: Loader | None = None) -> ZhouData:
    """Load and prepare the samples of a run.

    Args:
        loader: ``(subjects, stride, load_sh) -> H36MData``; default reads ``cfg.data_dir``
            with :func:`~wildpose.datasets.h36m.load_h36m` (the experiment passes a cache).
    """
    if loader is None:
        def loader(subjects, stride, load_sh):
            return report_skipped(load_h36m(cfg.data_dir, subjects=subjects, stride=stride,
                                            load_sh=load_sh))
    notes: list[str] = []
    lab_data = loader(tuple(cfg.lab_subjects), cfg.lab_stride, False)
    train_rows, val_rows = split_validation(lab_data, cfg.val_fraction, cfg.seed)
    val_rows &= (lab_data.frame % cfg.val_stride) == 0
    lab = lab_samples(lab_data.select(train_rows))
    val = lab_samples(lab_data.select(val_rows))
    if len(lab) < cfg.batch_3d:
        raise ValueError(f"only {len(lab)} 3D-labelled training samples, fewer than one batch "
                         f"(batch_3d {cfg.batch_3d})")
    wild_parts = []
    if cfg.wild_subjects:
        w = wild_samples(loader(tuple(cfg.wild_subjects), cfg.wild_stride,
                                cfg.wild_inputs == "sh"), cfg.wild_inputs)
        notes.append(f"{len(w)} 2D-only samples ({cfg.wild_inputs}) from Human3.6M subjects "
                     f"{list(cfg.wild_subjects)}")
        wild_parts.append(w)
    for path in cfg.coco_files:
        kp, ok = load_coco_2d(path, notes=notes)
        w = wild_samples_from_keypoints(kp, ok)
        notes.append(f"{len(w)} 2D-only samples from {path}")
        wild_parts.append(w)
    wild = SampleSet.concat(wild_parts) if wild_parts else None
    if wild is not None and len(wild) == 0:
        raise ValueError("the 2D-only sources hold no usable sample")
    return ZhouData(lab, val, wild, canonical_bone_lengths(lab.pose_mm),
                    canonical_bone_lengths(lab.pose_norm()), notes)
