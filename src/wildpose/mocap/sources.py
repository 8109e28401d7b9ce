"""Mocap sources for the dual-source method: Human3.6M 3D, BVH files, and plain arrays.

Every loader returns :class:`MocapPoses`: Human3.6M-17 poses in millimetres in one
**canonical body frame**, root-centred, scale-normalized and with near-duplicates removed.

The canonical frame uses the axes of a camera frame (x right, y down, z away from the viewer)
for a virtual camera level with the subject that the subject faces:

* gravity points along +y (up is -y);
* the subject faces -z (towards that camera) and their left is +x (the line from the right
  hip to the left hip points along +x: the "heading" is removed from every pose).

A virtual camera at azimuth ``a`` and elevation ``e`` then sees ``pose @ R.T`` with
``R = wildpose.geometry.rotation_from_euler(a, e)``.  Every change of axes here is a proper
rotation, so no pose is ever mirrored.

Axes of the sources (the ``up`` argument names the source's up direction):

* Human3.6M world coordinates are **z up** (``up="+z"``): canonical = (x, -z, y);
* CMU BVH files are **y up** (``up="+y"``), subject facing +z at rest, left = +x:
  canonical = (x, -y, -z);
* Bandai Namco BVH files are **y up** too (``up="+y"``), in centimetres, 30 fps: their
  skeleton is detected from its joint names (:func:`wildpose.mocap.bvh.detect_skeleton`);
* wildpose predictions and camera-frame arrays are **y down** (``up="-y"``): unchanged.

:func:`wild_mocap_split` names the BVH clips the ``wild`` lifter trains on and the held-out
clips of the unseen-motion test, by one rule.

Scale: each pose is multiplied so that the sum of its 16 H36M17 bone lengths equals
:data:`REFERENCE_BONE_SUM_MM`, the mean of Human3.6M's training subjects, so sources of
people of different sizes (and CMU's different skeleton) meet at one adult size in mm.

Near-duplicates (mocap runs at 50-120 Hz) are dropped greedily over time, per sequence: a
frame is kept when its mean per-joint distance to the last kept frame, after root-centering
and scale normalization, is at least ``tolerance_mm``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..camera import camera_to_world
from ..datasets.h36m import TRAIN_SUBJECTS, default_data_root, load_h36m
from ..geometry import rotation_from_euler
from ..skeleton import H36M17, get_layout
from .bvh import BVHError, bvh_to_h36m17, detect_skeleton, read_bvh

__all__ = ["MocapPoses", "REFERENCE_BONE_SUM_MM", "DEFAULT_TOLERANCE_MM", "UP_AXES",
           "to_canonical", "remove_heading", "normalize_scale", "remove_near_duplicates",
           "prepare_poses", "load_h36m_mocap", "load_bvh_mocap", "load_array_mocap", "load_mocap",
           "concatenate", "wild_mocap_split", "BANDAI_TEST_CONTENTS", "CMU_TEST_SUBJECT_EVERY"]

#: Mean over all frames of Human3.6M's training subjects S1,5,6,7,8 of the sum of the 16 H36M17
#: bone lengths, mm (per subject 4003-4355).
REFERENCE_BONE_SUM_MM = 4145.0

#: Default near-duplicate tolerance, mm (mean per-joint distance).
DEFAULT_TOLERANCE_MM = 20.0

#: Source up-axis -> rotation into the canonical frame (canonical = M @ x).  All det = +1.
UP_AXES: dict[str, np.ndarray] = {
    "-y": np.eye(3),
    "+y": np.diag([1.0, -1.0, -1.0]),
    "+z": np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]),
    "-z": np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]),
}


@dataclass
class MocapPoses:
    """Mocap poses ready for a dual-source library.

    Attributes:
        poses: (N, 17, 3) float32 H36M17 positions, mm, canonical frame (see the module
            docstring), root-centred, scale-normalized.
        sequence: (N,) int32 index into ``sequence_names`` of each pose.
        frame: (N,) int32 frame number within its sequence (in the source's frame rate).
        sequence_names: one description per sequence, e.g. ``"S1/Walking 1"`` or a BVH path.
        shared_joints: (17,) bool, joints the source measures as such (False: an
            approximation made from other joints, e.g. CMU's missing head top).
        notes: human-readable remarks (skipped sequences, counts before/after duplicates).
    """

    poses: np.ndarray
    sequence: np.ndarray
    frame: np.ndarray
    sequence_names: list[str]
    shared_joints: np.ndarray
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.poses)

    def describe(self) -> str:
        approx = [j for j, s in zip(H36M17.joints, self.shared_joints) if not s]
        return (f"{len(self)} poses from {len(self.sequence_names)} sequences"
                + (f"; approximated joints: {', '.join(approx)}" if approx else ""))


# ------------------------------------------------------------------------------- helpers
def to_canonical(poses: np.ndarray, up: str) -> np.ndarray:
    """Rotate (..., J, 3) poses from a source frame whose up axis is ``up`` ("+y", "-y",
    "+z", "-z") into the canonical frame's axes (up = -y).  Heading is left as it is."""
    if up not in UP_AXES:
        raise ValueError(f"unknown up axis {up!r}: use one of {', '.join(UP_AXES)}")
    return np.asarray(poses, np.float64) @ UP_AXES[up].T


def remove_heading(poses: np.ndarray) -> np.ndarray:
    """Rotate canonical-axes H36M17 poses about the vertical (y) axis so that the line from
    the right hip to the left hip points along +x (the subject faces -z).

    Args:
        poses: (N, 17, 3) root-centred, up = -y.
    Returns:
        (N, 17, 3) float64.
    """
    p = np.asarray(poses, np.float64)
    h = p[:, H36M17.index("LHip")] - p[:, H36M17.index("RHip")]
    rot = rotation_from_euler(np.arctan2(h[:, 2], h[:, 0]))   # (N, 3, 3) about y
    return p @ np.swapaxes(rot, -1, -2)


def normalize_scale(poses: np.ndarray, target: float = REFERENCE_BONE_SUM_MM
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Root-centre H36M17 poses and scale each so its bone lengths sum to ``target`` mm.

    Returns:
        ``(poses, scale)``: (N, 17, 3) float64 and the (N,) factors applied.
    """
    p = np.asarray(poses, np.float64)
    p = p - p[:, H36M17.root:H36M17.root + 1]
    total = H36M17.bone_lengths(p).sum(-1)
    if (total <= 0).any() or not np.isfinite(total).all():
        bad = np.flatnonzero(~(total > 0))
        raise ValueError(f"{len(bad)} pose(s) have no extent (all joints at one point or "
                         f"non-finite), e.g. row {int(bad[0])}")
    scale = target / total
    return p * scale[:, None, None], scale


def remove_near_duplicates(poses: np.ndarray, tolerance_mm: float,
                           sequence: np.ndarray | None = None) -> np.ndarray:
    """Greedy temporal de-duplication.

    Walks each sequence in order and keeps a pose when its mean per-joint distance (mm,
    after root-centering) to the last kept pose of the same sequence is at least
    ``tolerance_mm``; the first pose of a sequence is always kept.

    Args:
        poses: (N, J, 3) mm, in time order within each sequence.
        tolerance_mm: 0 keeps everything.
        sequence: optional (N,) sequence labels (default: one sequence).
    Returns:
        sorted (M,) int64 indices of the kept poses.
    """
    p = np.asarray(poses, np.float64)
    p = p - p[:, :1]
    n = len(p)
    if tolerance_mm <= 0 or n == 0:
        return np.arange(n)
    seq = np.zeros(n, np.int64) if sequence is None else np.asarray(sequence)
    keep, last, last_seq = [], None, None
    for i in range(n):  # a new sequence (never None) short-cuts the distance to None
        if seq[i] != last_seq or np.sqrt(((p[i] - last) ** 2).sum(-1)).mean() >= tolerance_mm:
            keep.append(i)
            last, last_seq = p[i], seq[i]
    return np.asarray(keep, np.int64)


def prepare_poses(poses: np.ndarray, up: str, sequence: np.ndarray | None = None,
                  frame: np.ndarray | None = None, sequence_names: list[str] | None = None,
                  shared_joints: np.ndarray | None = None,
                  tolerance_mm: float = DEFAULT_TOLERANCE_MM,
                  notes: list[str] | None = None, label: str = "mocap") -> MocapPoses:
    """Raw H36M17 poses (mm, source axes) -> :class:`MocapPoses`: canonical axes, heading
    removed, root-centred, scale-normalized, near-duplicates dropped."""
    p = np.asarray(poses, np.float64)
    if p.ndim != 3 or p.shape[1:] != (17, 3):
        raise ValueError(f"{label}: expected poses of shape (N, 17, 3) in H36M17 order, got "
                         f"{p.shape}")
    n = len(p)
    finite = np.isfinite(p).all((1, 2))
    notes = list(notes or [])
    if not finite.all():
        notes.append(f"{label}: dropped {int((~finite).sum())} poses with non-finite joints")
    seq = np.zeros(n, np.int32) if sequence is None else np.asarray(sequence, np.int32)
    frm = np.arange(n, dtype=np.int32) if frame is None else np.asarray(frame, np.int32)
    p, seq, frm = p[finite], seq[finite], frm[finite]
    if len(p):
        p, _ = normalize_scale(to_canonical(p, up))
        p = remove_heading(p)
    keep = remove_near_duplicates(p, tolerance_mm, seq)
    notes.append(f"{label}: kept {len(keep)} of {len(p)} poses (near-duplicate tolerance "
                 f"{tolerance_mm:g} mm)")
    names = sequence_names if sequence_names is not None else [label]
    shared = np.ones(17, bool) if shared_joints is None else np.asarray(shared_joints, bool)
    return MocapPoses(p[keep].astype(np.float32), seq[keep], frm[keep], list(names), shared,
                      notes)


# ------------------------------------------------------------------------------- loaders
def load_h36m_mocap(data_dir: str | os.PathLike | None = None,
                    subjects: Sequence[int] = TRAIN_SUBJECTS, stride: int = 1,
                    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
                    actions: Sequence[str] | None = None) -> MocapPoses:
    """Human3.6M 3D poses of some subjects (default the training subjects S1,5,6,7,8).

    Reads the world-frame joint positions (one pose per 50 fps frame, not per camera)
    through :func:`wildpose.datasets.h36m.load_h36m`.
    """
    data = load_h36m(data_dir, subjects=tuple(subjects), actions=actions, cameras=(1,),
                     stride=stride, load_sh=False)
    world = np.empty(data.pose_3d.shape, np.float64)
    for s in np.unique(data.subject):
        rows = data.subject == s
        cam = data.cameras[(int(s), 1)]
        world[rows] = camera_to_world(data.pose_3d[rows].astype(np.float64), cam.R, cam.T)
    keys = [f"S{s}/{a}" for s, a in zip(data.subject, data.action)]
    names, seq = np.unique(np.asarray(keys), return_inverse=True)
    return prepare_poses(world, "+z", seq, data.frame, [str(n) for n in names], None,
                         tolerance_mm, list(data.skipped),
                         label=f"Human3.6M S{','.join(str(s) for s in subjects)}")


def _bvh_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.suffix.lower() == ".bvh")
            if not found:
                raise FileNotFoundError(f"{p}: neither a Human3.6M directory (no cameras.h5) "
                                        f"nor a folder of .bvh files")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such BVH file or folder")
    return files


def load_bvh_mocap(paths: str | os.PathLike | Iterable[str | os.PathLike],
                   mapping: dict[str, tuple[str, ...]] | None = None,
                   unit_mm: float | None = None, up: str = "+y", stride: int = 1,
                   tolerance_mm: float = DEFAULT_TOLERANCE_MM,
                   approximate_joints: Iterable[str] | None = None) -> MocapPoses:
    """BVH files (or folders searched recursively for ``*.bvh``), mapped to H36M17.

    Args:
        paths: files or folders.
        mapping: {H36M17 joint: BVH joints averaged}; None (default): each file's skeleton
            is detected from its joint names (:func:`wildpose.mocap.bvh.detect_skeleton`:
            CMU's, cm-unit Bandai Namco's, ...) and mapped, scaled and completed by its
            :class:`~wildpose.mocap.bvh.BVHSkeleton`.
        unit_mm: millimetres per file unit; None: the detected skeleton's (CMU 56.444,
            Bandai 10), or CMU's with a given mapping.
        up: the files' up axis (CMU and Bandai: "+y").
        stride: keep every stride-th frame before de-duplication.
        approximate_joints: H36M17 joints the mapping only approximates (default: those of
            every detected skeleton, e.g.
            :data:`wildpose.mocap.bvh.CMU_APPROXIMATE_JOINTS`; none for a given mapping).
    A file that does not parse, cannot be read or lacks the mapped joints is skipped: a
    warning and a ``skipped ...`` entry of the returned notes name it (and the line).

    Raises:
        BVHError listing every file's problem when none of them could be read.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    files = _bvh_files(paths)
    parts, seqs, frames, names, failed = [], [], [], [], []
    approximate: set[str] = set()
    for f in files:
        # A folder of many clips keeps its good ones: a bad file is skipped and named
        # (in a warning and in the notes), as absent Human3.6M sequences are.
        try:
            bvh = read_bvh(f)
            idx = np.arange(0, bvh.num_frames, stride)
            if mapping is None:
                approximate.update(detect_skeleton(bvh).approximate)
            poses = bvh_to_h36m17(bvh, mapping, unit_mm, idx)
        except (BVHError, OSError, UnicodeDecodeError) as e:
            failed.append(" ".join(str(e).split()) if isinstance(e, BVHError)
                          else f"{f}: {type(e).__name__}: {' '.join(str(e).split())}")
            continue
        parts.append(poses)
        seqs.append(np.full(len(idx), len(names), np.int32))
        frames.append(idx.astype(np.int32))
        names.append(str(f))
    if approximate_joints is None:
        approximate_joints = approximate
    shared = np.array([j not in set(approximate_joints) for j in H36M17.joints])
    label = f"BVH ({len(names)} file{'s' * (len(names) != 1)})"
    if not parts:
        raise BVHError(f"no BVH file could be read ({len(files)} tried): {'; '.join(failed)}")
    if sum(len(p) for p in parts) == 0:
        raise BVHError(f"{', '.join(names)}: no frames")
    notes = [f"skipped {msg}" for msg in failed]
    for note in notes:
        warnings.warn(note, stacklevel=2)
    return prepare_poses(np.concatenate(parts), up, np.concatenate(seqs),
                         np.concatenate(frames), names, shared, tolerance_mm, notes=notes,
                         label=label)


def load_array_mocap(source: str | os.PathLike | np.ndarray, up: str = "-y",
                     tolerance_mm: float = DEFAULT_TOLERANCE_MM,
                     layout: str = "h36m17") -> MocapPoses:
    """Plain arrays: a ``.npy`` file or an ndarray of shape (N, 17, 3), H36M17 order, mm,
    one sequence in time order.  ``up`` is the array's up axis: "-y" (default) for
    camera-frame poses such as wildpose's own predictions, "+z" for Human3.6M world poses."""
    if get_layout(layout).name != H36M17.name:
        raise ValueError(f"mocap arrays must be in layout h36m17, not {layout}")
    if isinstance(source, np.ndarray):
        arr, label = source, "array"
    else:
        path = Path(source)
        if path.suffix.lower() != ".npy":
            raise ValueError(f"{path}: plain-array mocap must be a .npy file of shape "
                             f"(N, 17, 3) mm")
        arr = np.load(path, allow_pickle=False)
        label = str(path)
    return prepare_poses(arr, up, None, None, [label], None, tolerance_mm, label=label)


def load_mocap(sources: Any, subjects: Sequence[int] = TRAIN_SUBJECTS,
               tolerance_mm: float = DEFAULT_TOLERANCE_MM, stride: int = 1,
               array_up: str = "-y") -> MocapPoses:
    """Load and concatenate mocap from one or several sources.

    A source is: a Human3.6M directory (holding ``cameras.h5``, or its parent data folder)
    -> ``subjects`` of it; a ``.bvh`` file or a folder of them; a ``.npy`` file or an
    ndarray of (N, 17, 3) mm poses (up axis ``array_up``).
    """
    if isinstance(sources, (str, os.PathLike, np.ndarray)):
        sources = [sources]
    parts = []
    bvh_group: list[Path] = []
    for src in sources:
        if isinstance(src, np.ndarray):
            parts.append(load_array_mocap(src, array_up, tolerance_mm))
            continue
        p = Path(src)
        if (p / "cameras.h5").is_file() or (p / "h36m" / "cameras.h5").is_file():
            parts.append(load_h36m_mocap(p, subjects, stride, tolerance_mm))
        elif p.is_dir() or p.suffix.lower() == ".bvh":
            bvh_group.append(p)
        elif p.suffix.lower() == ".npy":
            parts.append(load_array_mocap(p, array_up, tolerance_mm))
        elif not p.exists():
            raise FileNotFoundError(f"mocap source {p} does not exist")
        else:
            raise ValueError(f"mocap source {p}: not a Human3.6M directory (no cameras.h5), "
                             f"a .bvh file or folder, or a .npy array")
    if bvh_group:
        parts.append(load_bvh_mocap(bvh_group, stride=stride, tolerance_mm=tolerance_mm))
    if not parts:
        raise ValueError("no mocap sources given")
    return concatenate(parts)


def concatenate(parts: Sequence[MocapPoses]) -> MocapPoses:
    """One :class:`MocapPoses` from several; a joint is shared only if shared in all."""
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [len(m.sequence_names) for m in parts])
    seqs = [m.sequence + int(offset) for m, offset in zip(parts, offsets)]
    return MocapPoses(np.concatenate([m.poses for m in parts]), np.concatenate(seqs),
                      np.concatenate([m.frame for m in parts]),
                      [name for m in parts for name in m.sequence_names],
                      np.logical_and.reduce([m.shared_joints for m in parts]),
                      [n for m in parts for n in m.notes])


# ------------------------------------------------------------------ train / test split
#: Bandai Namco contents held out for the unseen-motion test (every style of each).
BANDAI_TEST_CONTENTS = ("dance-short", "kick", "slash")

#: CMU subjects held out for the unseen-motion test: of the sorted subject numbers, every
#: 4th (the 4th, 8th, 12th, ...), with all their clips.
CMU_TEST_SUBJECT_EVERY = 4


def _bandai_content(path: Path) -> str:
    """``dataset-1_{content}_{style}_{id}.bvh`` -> content (styles and contents never hold
    "_")."""
    parts = path.stem.split("_")
    if len(parts) != 4:
        raise ValueError(f"{path}: not a Bandai Namco clip name "
                         f"(dataset-1_<content>_<style>_<id>.bvh)")
    return parts[1]


def _cmu_subject(path: Path) -> int:
    """CMU clip ``<subject>_<take>.bvh`` -> subject number."""
    head = path.stem.split("_")[0]
    if not head.isdigit():
        raise ValueError(f"{path}: not a CMU clip name (<subject>_<take>.bvh)")
    return int(head)


def wild_mocap_split(data_root: str | os.PathLike | None = None) -> dict[str, list[Path]]:
    """The BVH clips the ``wild`` lifter may train on and the held-out unseen-motion clips.

    Rules (fixed before any result was seen):

    * Bandai Namco (``<root>/bandai-mocap``): test = every clip whose content is in
      :data:`BANDAI_TEST_CONTENTS` (dance-short, kick, slash; all styles); train = the rest.
    * CMU (``<root>/cmu-mocap``): whole subjects held out: the sorted distinct subject
      numbers ``s[k]`` with ``k % 4 == 3`` are test subjects, all their clips test clips;
      train = the other subjects' clips.

    Args:
        data_root: the shared data folder (default: ``$WILDPOSE_DATA``, else
            ``../shared/data``).
    Returns:
        {"train_bandai", "test_bandai", "train_cmu", "test_cmu"}: sorted lists of paths.
    Raises:
        FileNotFoundError: one line naming a missing folder or a folder without clips.
    """
    root = Path(data_root) if data_root is not None else default_data_root()
    clips = {}
    for name in ("bandai-mocap", "cmu-mocap"):
        folder = root / name
        found = sorted(folder.glob("*.bvh")) if folder.is_dir() else []
        if not found:
            raise FileNotFoundError(f"{folder}: no .bvh clips here (set --data-dir or "
                                    f"WILDPOSE_DATA)")
        clips[name] = found
    bandai_test = [p for p in clips["bandai-mocap"]
                   if _bandai_content(p) in BANDAI_TEST_CONTENTS]
    subjects = sorted({_cmu_subject(p) for p in clips["cmu-mocap"]})
    held = set(subjects[CMU_TEST_SUBJECT_EVERY - 1::CMU_TEST_SUBJECT_EVERY])
    return {
        "train_bandai": [p for p in clips["bandai-mocap"] if p not in bandai_test],
        "test_bandai": bandai_test,
        "train_cmu": [p for p in clips["cmu-mocap"] if _cmu_subject(p) not in held],
        "test_cmu": [p for p in clips["cmu-mocap"] if _cmu_subject(p) in held],
    }
