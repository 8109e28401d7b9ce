"""Export 3D pose sequences as BVH motion capture (Blender, Unity, MotionBuilder, ...).

:func:`write_bvh` turns a Human3.6M-17 sequence (camera-frame millimetres, as every wildpose
lifter outputs) into a BVH file with **a fixed skeleton and per-frame joint rotations**, the
form animation tools retarget onto their own characters:

* **Axes.**  BVH files are conventionally y-up.  Camera coordinates (x right, y down, z away
  from the camera) become ``X = x, Y = -y, Z = -z`` (a rotation by 180 degrees about x), so
  a person facing the camera faces +Z, their left is +X, and "up" is the camera's up.  In
  Blender's BVH importer keep the default "Forward -Z, Up Y".
* **Skeleton.**  Bone lengths are the mean over the sequence of each Human3.6M bone, averaged
  between left and right, so the rig is symmetric.  The rest pose is a T-pose: legs and spine
  vertical, arms straight out sideways.  Every bone of Human3.6M-17 hangs from a joint of its
  own, so six zero-length *helper joints* are added where Human3.6M has several bones leaving
  one joint: ``RPelvis``/``LPelvis``/``LowerBack`` at the pelvis and ``NeckBase``/``LCollar``/
  ``RCollar`` at the thorax (zero-length bones are standard in BVH; Blender gives them a small
  length on import).  Joint names are those of :data:`wildpose.H36M17` with ``Neck/Nose``
  written ``NeckNose``.
* **Rotations.**  The pelvis (root) and thorax rotations are the best-fitting rotation
  (rigid Procrustes, :func:`wildpose.geometry.procrustes_transform`) of their three bones;
  each other joint turns its bone by the smallest rotation from its rest direction (no
  twist about the bone: a single 3D point per joint does not define one).  Hands, feet and
  the head top carry no rotation.  With this, forward
  kinematics of the file reproduces every bone *direction* of the input exactly, and joint
  positions exactly when the input's bone lengths are constant.  Rotation channels are
  ``Zrotation Xrotation Yrotation`` in degrees (``R = Rz @ Rx @ Ry``), as in CMU's files.
* **Root motion.**  The root's position channels are the pelvis path from ``root_translation``
  (e.g. :class:`wildpose.predict.Person`'s), relative to the first frame, raised by the leg
  length so the first frame stands on the ground plane; without it the root stays put.
* **Missing frames.**  Frames whose pose is NaN (nobody detected) repeat the nearest frame
  that has one.

Units default to centimetres (``units="cm"``; "mm" and "m" are accepted): set Blender's
import scale to 0.01 for a life-size character in metres.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .geometry import procrustes_transform
from .skeleton import H36M17

__all__ = ["BVH_JOINTS", "BVHMotion", "poses_to_bvh", "bvh_text", "write_bvh", "euler_zxy"]

_UNITS = {"mm": 1.0, "cm": 0.1, "m": 0.001}

# Camera frame (x right, y down, z forward) -> BVH frame (X = x, Y = up, Z = towards camera).
_CAM_TO_BVH = np.diag([1.0, -1.0, -1.0])

_J = H36M17.index
_LEFT, _RIGHT, _UP, _DOWN = (1.0, 0, 0), (-1.0, 0, 0), (0, 1.0, 0), (0, -1.0, 0)

# (BVH name, parent BVH name, H36M17 joint at this joint's position, rest direction of the
#  offset from the parent, H36M17 bone whose length the offset has)
_SPEC: tuple[tuple[str, str | None, str, tuple, tuple[str, str] | None], ...] = (
    ("Hip", None, "Hip", (0, 0, 0), None),
    ("RPelvis", "Hip", "Hip", (0, 0, 0), None),
    ("RHip", "RPelvis", "RHip", _RIGHT, ("Hip", "RHip")),
    ("RKnee", "RHip", "RKnee", _DOWN, ("RHip", "RKnee")),
    ("RFoot", "RKnee", "RFoot", _DOWN, ("RKnee", "RFoot")),
    ("LPelvis", "Hip", "Hip", (0, 0, 0), None),
    ("LHip", "LPelvis", "LHip", _LEFT, ("Hip", "LHip")),
    ("LKnee", "LHip", "LKnee", _DOWN, ("LHip", "LKnee")),
    ("LFoot", "LKnee", "LFoot", _DOWN, ("LKnee", "LFoot")),
    ("LowerBack", "Hip", "Hip", (0, 0, 0), None),
    ("Spine", "LowerBack", "Spine", _UP, ("Hip", "Spine")),
    ("Thorax", "Spine", "Thorax", _UP, ("Spine", "Thorax")),
    ("NeckBase", "Thorax", "Thorax", (0, 0, 0), None),
    ("NeckNose", "NeckBase", "Neck/Nose", _UP, ("Thorax", "Neck/Nose")),
    ("Head", "NeckNose", "Head", _UP, ("Neck/Nose", "Head")),
    ("LCollar", "Thorax", "Thorax", (0, 0, 0), None),
    ("LShoulder", "LCollar", "LShoulder", _LEFT, ("Thorax", "LShoulder")),
    ("LElbow", "LShoulder", "LElbow", _LEFT, ("LShoulder", "LElbow")),
    ("LWrist", "LElbow", "LWrist", _LEFT, ("LElbow", "LWrist")),
    ("RCollar", "Thorax", "Thorax", (0, 0, 0), None),
    ("RShoulder", "RCollar", "RShoulder", _RIGHT, ("Thorax", "RShoulder")),
    ("RElbow", "RShoulder", "RElbow", _RIGHT, ("RShoulder", "RElbow")),
    ("RWrist", "RElbow", "RWrist", _RIGHT, ("RElbow", "RWrist")),
)

#: BVH joint names in file (depth-first) order.
BVH_JOINTS: tuple[str, ...] = tuple(s[0] for s in _SPEC)
_PARENT = tuple(-1 if s[1] is None else BVH_JOINTS.index(s[1]) for s in _SPEC)
_CHILDREN = {i: [c for c, p in enumerate(_PARENT) if p == i] for i in range(len(_SPEC))}
_H36M_OF = tuple(_J(s[2]) for s in _SPEC)
#: Joints whose rotation is fitted to all their bones (rigid Procrustes) rather than swung to
#: one.
_FRAME_JOINTS = ("Hip", "Thorax")
#: End sites: (joint, direction, fraction of the joint's own bone length).
_END_SITES = {"RFoot": ((0, 0, 1.0), 0.3), "LFoot": ((0, 0, 1.0), 0.3),
              "Head": (_UP, 0.5), "LWrist": (_LEFT, 0.3), "RWrist": (_RIGHT, 0.3)}


@dataclass
class BVHMotion:
    """A skeleton and its motion, ready to write.

    Attributes:
        names: joint names (:data:`BVH_JOINTS`); parents: parent index per joint (-1 root).
        offsets: (J, 3) rest offsets from the parent, mm, BVH axes.
        end_sites: {joint index: (3,) end-site offset, mm}.
        root_position: (F, 3) root position per frame, mm, BVH axes.
        rotations: (F, J, 3, 3) local rotation matrices.
        euler_zxy: (F, J, 3) the same as (Z, X, Y) angles in degrees, R = Rz @ Rx @ Ry.
        bone_lengths: {H36M17 bone (parent, child) joint names: length in mm}.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    end_sites: dict[int, np.ndarray]
    root_position: np.ndarray
    rotations: np.ndarray
    euler_zxy: np.ndarray
    bone_lengths: dict[tuple[str, str], float]


def _fill_missing(x: np.ndarray) -> np.ndarray:
    """Replace frames with any non-finite value by the nearest earlier (else later) finite
    frame.  ``x``: (F, ...).  Raises ValueError if no frame is finite."""
    ok = np.isfinite(x.reshape(len(x), -1)).all(1)
    if not ok.any():
        raise ValueError("no frame has a complete pose: nothing to export")
    idx = np.where(ok, np.arange(len(x)), -1)
    idx = np.maximum.accumulate(idx)          # last finite frame at or before each frame
    first = int(np.flatnonzero(ok)[0])
    idx[idx < 0] = first                      # leading gap: the first finite frame
    return x[idx]


def _normalize(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(F, 3, 3) smallest rotations taking unit vectors a (F, 3) to unit vectors b (F, 3)."""
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1)
    c = np.clip((a * b).sum(-1), -1.0, 1.0)
    # Opposite vectors: turn half a turn about any axis perpendicular to a.
    helper = np.where(np.abs(a[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]])
    perp = _normalize(np.cross(a, helper))
    k = np.where((s < 1e-9)[:, None], perp, axis / np.maximum(s, 1e-12)[:, None])
    angle = np.arctan2(s, c)
    angle = np.where((s < 1e-9) & (c > 0), 0.0, angle)
    K = np.zeros((len(a), 3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    K[:, 1, 0], K[:, 2, 0], K[:, 2, 1] = k[:, 2], -k[:, 1], k[:, 0]
    sa, ca = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3) + sa * K + (1 - ca) * (K @ K)


def euler_zxy(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations -> (..., 3) angles (z, x, y) in degrees with R = Rz Rx Ry."""
    x = np.arcsin(np.clip(R[..., 2, 1], -1.0, 1.0))
    y = np.arctan2(-R[..., 2, 0], R[..., 2, 2])
    z = np.arctan2(-R[..., 0, 1], R[..., 1, 1])
    # Gimbal lock (cos x = 0): only z + y (or z - y) is defined; put it all in z.
    lock = np.abs(R[..., 2, 1]) > 1 - 1e-9
    z = np.where(lock, np.arctan2(R[..., 1, 0], R[..., 0, 0]), z)
    y = np.where(lock, 0.0, y)
    return np.degrees(np.stack([z, x, y], -1))


def poses_to_bvh(poses: Any, root_translation: Any = None) -> BVHMotion:
    """Fit the fixed BVH skeleton and per-frame rotations to a pose sequence.

    Args:
        poses: (F, 17, 3) or (17, 3) H36M17 joint positions, camera-frame mm (root-relative
            or not); NaN frames repeat the nearest complete frame.
        root_translation: optional (F, 3) or (3,) pelvis positions, camera-frame mm (NaN rows
            allowed); None keeps the root in place.
    Returns:
        a :class:`BVHMotion` (lengths in mm).
    """
    p = np.asarray(poses, np.float64)
    if p.ndim == 2:
        p = p[None]
    if p.ndim != 3 or p.shape[1:] != (17, 3):
        raise ValueError(f"poses must have shape (F, 17, 3) in H36M17 order, got {p.shape}")
    valid = np.isfinite(p).all((1, 2))
    p = _fill_missing(p)
    p = (p - p[:, :1]) @ _CAM_TO_BVH.T                       # root-relative, BVH axes
    n = len(p)

    # Fixed skeleton: mean bone lengths over the frames that had a pose, left = right.
    lengths: dict[tuple[str, str], float] = {}
    for (a, b) in H36M17.edges:
        pair = (H36M17.joints[a], H36M17.joints[b])
        lengths[pair] = float(np.linalg.norm(p[valid, b] - p[valid, a], axis=-1).mean())
    for left, right in H36M17.flip_pairs:
        bl = (H36M17.joints[H36M17.parents[left]], H36M17.joints[left])
        br = (H36M17.joints[H36M17.parents[right]], H36M17.joints[right])
        lengths[bl] = lengths[br] = 0.5 * (lengths[bl] + lengths[br])
    offsets = np.zeros((len(_SPEC), 3))
    for j, (_, _, _, direction, bone) in enumerate(_SPEC):
        if bone is not None:
            offsets[j] = np.asarray(direction, np.float64) * lengths[bone]
    end_sites = {}
    for name, (direction, frac) in _END_SITES.items():
        j = BVH_JOINTS.index(name)
        end_sites[j] = np.asarray(direction, np.float64) * frac * lengths[_SPEC[j][4]]

    # Per-frame global rotations, parents first.
    G = np.empty((n, len(_SPEC), 3, 3))
    for j, name in enumerate(BVH_JOINTS):
        parent_rot = np.broadcast_to(np.eye(3), (n, 3, 3)) if _PARENT[j] < 0 else G[:, _PARENT[j]]
        kids = _CHILDREN[j]
        if name in _FRAME_JOINTS:
            # The bones of this joint: its helper children's single child, or its own child.
            rest, cur = [], []
            for c in kids:
                tip = _CHILDREN[c][0] if not offsets[c].any() else c
                rest.append(_normalize(offsets[tip]))
                cur.append(_normalize(p[:, _H36M_OF[tip]] - p[:, _H36M_OF[j]]))
            # A rotation about the joint: each set of unit bone directions is completed by
            # its mirror image through the origin, so the rigid fit has nothing to translate.
            rest_both = np.concatenate([rest, -np.array(rest)])
            cur_both = np.concatenate([np.stack(cur, 1), -np.stack(cur, 1)], 1)
            G[:, j] = procrustes_transform(np.broadcast_to(rest_both, cur_both.shape),
                                           cur_both, scale=False)[0]
        elif len(kids) == 1:
            c = kids[0]
            a = _normalize(np.einsum("fij,j->fi", parent_rot, offsets[c]))
            b = _normalize(p[:, _H36M_OF[c]] - p[:, _H36M_OF[j]])
            G[:, j] = _swing(a, b) @ parent_rot
        else:                                   # hands, feet, head top: no rotation
            G[:, j] = parent_rot
    local = np.empty_like(G)
    for j in range(len(_SPEC)):
        local[:, j] = G[:, j] if _PARENT[j] < 0 else \
            G[:, _PARENT[j]].transpose(0, 2, 1) @ G[:, j]

    leg = lengths[("RHip", "RKnee")] + lengths[("RKnee", "RFoot")]
    root = np.zeros((n, 3))
    if root_translation is not None:
        t = np.asarray(root_translation, np.float64)
        t = np.broadcast_to(t, (n, 3)) if t.ndim == 1 else t
        if t.shape != (n, 3):
            raise ValueError(f"root_translation must have shape ({n}, 3), got {t.shape}")
        if np.isfinite(t).all(1).any():
            t = _fill_missing(t) @ _CAM_TO_BVH.T
            root = t - t[:1]
    root = root + [0.0, leg, 0.0]
    return BVHMotion(BVH_JOINTS, _PARENT, offsets, end_sites, root, local, euler_zxy(local),
                     lengths)


def bvh_text(motion: BVHMotion, fps: float = 30.0, units: str = "cm") -> str:
    """The BVH file contents for ``motion`` (see :func:`write_bvh`)."""
    if units not in _UNITS:
        raise ValueError(f"units must be one of {', '.join(_UNITS)}, got {units!r}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    k = _UNITS[units]
    lines = ["HIERARCHY"]
    order: list[int] = []             # the joints in file order: their motion channels' order

    def emit(j: int, depth: int) -> None:
        ind, off = "\t" * depth, motion.offsets[j] * k
        order.append(j)
        lines.extend([f"{ind}{'ROOT' if motion.parents[j] < 0 else 'JOINT'} {motion.names[j]}",
                      f"{ind}{{", f"{ind}\tOFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}"])
        if motion.parents[j] < 0:
            lines.append(f"{ind}\tCHANNELS 6 Xposition Yposition Zposition "
                         f"Zrotation Xrotation Yrotation")
        else:
            lines.append(f"{ind}\tCHANNELS 3 Zrotation Xrotation Yrotation")
        kids = [c for c, p in enumerate(motion.parents) if p == j]
        for c in kids:
            emit(c, depth + 1)
        if not kids:
            e = motion.end_sites.get(j, np.zeros(3)) * k
            lines.extend([f"{ind}\tEnd Site", f"{ind}\t{{",
                          f"{ind}\t\tOFFSET {e[0]:.6f} {e[1]:.6f} {e[2]:.6f}", f"{ind}\t}}"])
        lines.append(f"{ind}}}")

    emit(0, 0)
    n = len(motion.root_position)
    lines += ["MOTION", f"Frames: {n}", f"Frame Time: {1.0 / fps:.8f}"]
    root = motion.root_position * k
    for f in range(n):
        vals = [*root[f]]
        for j in order:
            vals.extend(motion.euler_zxy[f, j])
        lines.append(" ".join(f"{v:.4f}" for v in vals))
    return "\n".join(lines) + "\n"


def write_bvh(path: str | os.PathLike, poses: Any, fps: float = 30.0,
              root_translation: Any = None, units: str = "cm") -> Path:
    """Write a Human3.6M-17 pose sequence as a BVH file (format in the module docstring).

    Args:
        path: output ``.bvh`` file (parent folders are created).
        poses: (F, 17, 3) or (17, 3) camera-frame positions in mm, H36M17 order (NaN frames
            repeat the nearest complete one).
        fps: frames per second of the sequence.
        root_translation: optional (F, 3) pelvis positions in camera-frame mm.
        units: "cm" (default), "mm" or "m".
    Returns:
        the path written.  Raises ValueError if no frame has a complete pose.
    """
    text = bvh_text(poses_to_bvh(poses, root_translation), fps=fps, units=units)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
