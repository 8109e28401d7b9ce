"""The data of a ``wild`` run, loaded once: the 3D mocap pool and the 2D-only poses.

3D: Human3.6M training subjects (never S9/S11), the training clips of CMU and Bandai mocap
(:func:`wildpose.mocap.sources.wild_mocap_split`: never the clips of test (c)) and a user's
own BVH folders, as :class:`~wildpose.mocap.sources.MocapPoses` (canonical body frame,
root-centred, scale-normalized, near-duplicates removed).  Every ``val_clip_every``-th CMU
and Bandai training clip is held out for validation.

2D-only: MPII (train split), LSP (train) and COCO-format files, converted to H36M17 pixels.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ...datasets.h36m import h36m_intrinsics, load_h36m
from ...datasets.keypoint_files import read_keypoints
from ...datasets.lsp import load_lsp_2d
from ...datasets.mpii import load_mpii_2d
from ...mocap.sources import (MocapPoses, concatenate, load_bvh_mocap, load_h36m_mocap,
                              wild_mocap_split)
from ...skeleton import H36M17, convert_layout
from .config import WildConfig

__all__ = ["PosePool", "TwoDPool", "CameraViews", "load_pose_pool", "load_2d_pool",
           "load_h36m_views", "TRAINING_DATA"]

#: Each training source, and its licence, as the model's description names them.
TRAINING_DATA = {
    "h36m": "Human3.6M training subjects' 3D (research use only)",
    "h36m_views": "Human3.6M training subjects' frames through their own four cameras "
                  "(3D and its 2D projection; research use only)",
    "cmu": "CMU Graphics Lab motion capture, training clips (research and commercial use, "
           "no resale)",
    "bandai": "Bandai-Namco-Research-Motiondataset-1, training clips (CC BY-NC 4.0, "
              "research use)",
    "bvh": "the user's own BVH folders",
    "mpii": "MPII Human Pose annotations, train split, 2D only (Simplified BSD)",
    "lsp": "Leeds Sports Pose, train, 2D only (research use)",
    "coco": "COCO-format keypoint files, 2D only (COCO annotations CC BY 4.0)",
}


@dataclass
class PosePool:
    """3D poses to train on and to validate with (held-out clips; None if there are none).

    ``measured`` (N, 17) bool marks, per training pose, the joints its source measures as
    such (False: a mapping's approximation, e.g. a BVH skeleton's head top): the 3D loss
    leaves the others out, so that no source's stand-in redefines a Human3.6M joint.
    """

    train: MocapPoses
    val: MocapPoses | None
    sources: list[str]          # keys of TRAINING_DATA
    notes: list[str]
    measured: np.ndarray


@dataclass
class TwoDPool:
    """2D-only poses: (N, 17, 2) float32 H36M17 pixels (0 where missing), (N, 17) validity."""

    keypoints: np.ndarray
    valid: np.ndarray
    sources: list[str]
    notes: list[str]

    def __len__(self) -> int:
        return len(self.keypoints)


@dataclass
class CameraViews:
    """Human3.6M training frames as its real cameras saw them: (N, 17, 2) float32 exact
    H36M17 pixels, (N, 17, 3) float32 camera-frame 3D in mm, and each row's pinhole focal
    lengths and principal point, (N, 2) pixels (for moving joint definitions in 3D and
    re-projecting the shift)."""

    pixels: np.ndarray
    camera_3d: np.ndarray
    focal: np.ndarray
    centre: np.ndarray

    def __len__(self) -> int:
        return len(self.pixels)


def load_h36m_views(cfg: WildConfig) -> CameraViews:
    """The training subjects' frames (``h36m_subjects`` minus ``val_subjects``, every
    ``h36m_stride``-th frame, all four cameras) for ``cfg.h36m_share``."""
    subjects = tuple(s for s in cfg.h36m_subjects if s not in cfg.val_subjects)
    if not subjects:
        raise ValueError(f"h36m_share {cfg.h36m_share} needs a Human3.6M training subject "
                         f"outside val_subjects {list(cfg.val_subjects)}")
    data = load_h36m(Path(cfg.data_root) / "h36m", subjects=subjects,
                     stride=cfg.h36m_stride, load_sh=False)
    lens = h36m_intrinsics(data)
    return CameraViews(data.pose_2d.astype(np.float32), data.pose_3d.astype(np.float32),
                       lens["f"].astype(np.float32), lens["c"].astype(np.float32))


def _split_clips(paths: Sequence[Path], every: int) -> tuple[list[Path], list[Path]]:
    """Sorted clips -> (train, held out): every ``every``-th clip is held out (0: none)."""
    paths = sorted(map(Path, paths))
    if every <= 0:
        return paths, []
    return ([p for i, p in enumerate(paths) if i % every != every - 1],
            [p for i, p in enumerate(paths) if i % every == every - 1])


def load_pose_pool(cfg: WildConfig) -> PosePool:
    """Load every 3D source ``cfg`` names (see the module docstring)."""
    root = Path(cfg.data_root)
    train, val, sources, notes = [], [], [], []
    subjects = tuple(s for s in cfg.h36m_subjects if s not in cfg.val_subjects)
    if subjects:
        train.append(load_h36m_mocap(root / "h36m", subjects, tolerance_mm=cfg.tolerance_mm))
        sources.append("h36m")
    if cfg.cmu or cfg.bandai:

        split = wild_mocap_split(root)
        for key in ("cmu", "bandai"):
            if not getattr(cfg, key):
                continue
            fit, held = _split_clips(split[f"train_{key}"], cfg.val_clip_every)
            if not fit:
                raise ValueError(f"no {key} training clips under {root}")
            train.append(load_bvh_mocap(fit, tolerance_mm=cfg.tolerance_mm))
            if held:
                val.append(load_bvh_mocap(held, tolerance_mm=cfg.tolerance_mm))
            sources.append(key)
            notes.append(f"{key}: {len(fit)} training clips, {len(held)} held out")
    if cfg.bvh_dirs:
        train.append(load_bvh_mocap(list(cfg.bvh_dirs), tolerance_mm=cfg.tolerance_mm))
        sources.append("bvh")
    if not train:
        raise ValueError("no 3D training poses: give h36m_subjects, cmu, bandai or bvh_dirs")
    measured = np.concatenate([np.broadcast_to(m.shared_joints, (len(m), 17)) for m in train])
    return PosePool(concatenate(train), concatenate(val) if val else None, sources,
                    [n for m in train + val for n in m.notes] + notes, measured)


def _usable(kp: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Rows with a torso (both hips and both shoulders) and at least 10 joints."""
    torso = [H36M17.index(j) for j in ("LHip", "RHip", "LShoulder", "RShoulder")]
    return valid[:, torso].all(1) & (valid.sum(1) >= 10) & np.isfinite(kp).all((1, 2))


def load_2d_pool(cfg: WildConfig) -> TwoDPool:
    """Load the 2D-only sources ``cfg`` names, as H36M17 pixels.  People without a torso
    or with fewer than 10 of the 17 joints are skipped with a count in the notes; a source
    with no usable person is a one-line ValueError."""
    root = Path(cfg.data_root)
    sets = []
    if cfg.mpii:

        sets.append(("mpii", load_mpii_2d(root / "mpii-2d" / "mpii_human_pose.csv",
                                                split="train")))
    if cfg.lsp:

        sets.append(("lsp", load_lsp_2d(root / "lsp-2d", split="train")))
    for f in cfg.coco_files:

        sets.append(("coco", read_keypoints(f)))
    kps, oks, sources, notes = [], [], [], []
    for key, ks in sets:
        kp, ok = convert_layout(ks.keypoints.astype(np.float32), ks.layout, H36M17, ks.valid)
        keep = _usable(kp, ok)
        if not keep.any():
            raise ValueError(f"{ks.source}: no usable person (a torso and >= 10 joints) "
                             f"among {len(kp)}")
        notes.append(f"{key} ({ks.source}): {int(keep.sum())} of {len(kp)} people used, "
                     f"{int((~keep).sum())} skipped (no torso or < 10 joints)")
        kps.append(kp[keep])
        oks.append(ok[keep])
        if key not in sources:
            sources.append(key)
    for n in notes:
        print(n, file=sys.stderr)
    if not kps:
        return TwoDPool(np.zeros((0, 17, 2), np.float32), np.zeros((0, 17), bool), [], notes)
    return TwoDPool(np.concatenate(kps), np.concatenate(oks), sources, notes)
