"""Skeleton definitions and joint-layout conversions: the one home of joint names.

Four layouts are defined:

* ``H36M17`` -- the 17-joint Human3.6M subset used by every lifter in wildpose (the default).
* ``MPII16`` -- the 16-joint stacked-hourglass / MPII order of the Human3.6M detections, which
  is also the order of MPII Human Pose's own annotations.
* ``COCO17`` -- the 17 COCO keypoints.
* ``LSP14`` -- the 14 Leeds Sports Pose joints.

A conversion between layouts is a linear map: each output joint is either *copied* from one
input joint, *synthesized* as an average of several (e.g. pelvis = mid-hips), or *missing*
(it cannot be made and is masked out).  Because it is linear, one matrix serves numpy and
torch, 2D and 3D alike, and a joint is valid exactly when every joint it draws on is valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Skeleton",
    "set_bone_lengths",
    "H36M17",
    "MPII16",
    "COCO17",
    "LSP14",
    "LAYOUTS",
    "get_layout",
    "LayoutConversion",
    "layout_conversion",
    "convert_layout",
    "flip_pose",
    "ZHOU_BONE_GROUPS",
    "SYMMETRIC_BONES",
    "OCCLUDABLE_LIMBS",
    "has_torso",
    "joint_confidence",
]


@dataclass(frozen=True)
class Skeleton:
    """A joint layout: names, a kinematic tree (if it has one) and left/right pairs.

    Attributes:
        name: layout id, e.g. ``"h36m17"``.
        joints: joint names in array order.
        parents: parent index per joint (-1 for the root); empty if the layout has no tree.
        edges: (a, b) index pairs to draw; for a tree these are (parent, child) bones.
        bone_names: one name per edge, e.g. ``"right upper leg"``.
        flip_pairs: (left, right) joint index pairs swapped by a horizontal mirror.
        aliases: other names :func:`get_layout` accepts.
        torso: the joint names that must all be present for a pose to have a torso (both
            hips and both shoulders); empty: judged after conversion to ``h36m17``.
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    edges: tuple[tuple[int, int], ...]
    bone_names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    aliases: tuple[str, ...] = field(default=())
    torso: tuple[str, ...] = field(default=())

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def root(self) -> int | None:
        """Index of the root joint (pelvis) or None for a layout without a tree."""
        return self.parents.index(-1) if self.parents else None

    def index(self, joint: str) -> int:
        """Index of a joint by name; raises a ValueError naming the layout if unknown."""
        try:
            return self.joints.index(joint)
        except ValueError:
            raise ValueError(f"joint {joint!r} is not in layout {self.name} "
                             f"(joints: {', '.join(self.joints)})") from None

    def bone(self, name: str) -> tuple[int, int]:
        """The (parent, child) joint indices of a bone by name."""
        try:
            return self.edges[self.bone_names.index(name)]
        except ValueError:
            raise ValueError(f"bone {name!r} is not in layout {self.name} "
                             f"(bones: {', '.join(self.bone_names)})") from None

    def flip_permutation(self) -> np.ndarray:
        """(J,) int index array that swaps left and right joints (for mirror augmentation)."""
        perm = np.arange(self.num_joints)
        for left, right in self.flip_pairs:
            perm[left], perm[right] = right, left
        return perm

    def mirror_bones(self) -> np.ndarray:
        """(B,) int index of each bone's mirror image in ``bone_names`` order (a bone on
        the body's midline, e.g. the spine, is its own)."""
        perm = self.flip_permutation()
        child_bone = {c: k for k, (_, c) in enumerate(self.edges)}
        return np.array([child_bone[int(perm[c])] for _, c in self.edges], np.int64)

    def bone_lengths(self, pose: Any) -> Any:
        """Lengths of all bones.

        Args:
            pose: (..., J, D) numpy array or torch tensor of joint positions.
        Returns:
            (..., B) lengths in the units of ``pose``, in ``bone_names`` order.
        """
        a = [e[0] for e in self.edges]
        b = [e[1] for e in self.edges]
        diff = pose[..., b, :] - pose[..., a, :]
        return (diff ** 2).sum(-1) ** 0.5

    def bones_from_root(self) -> list[tuple[int, int, int]]:
        """``(bone index, parent, child)`` for every bone of the tree, each bone after the
        one above it, whatever the joint numbering: the order to rebuild a pose outwards
        from the root."""
        placed, order = {self.root}, []
        todo = [(k, p, c) for k, (p, c) in enumerate(self.edges)]
        while todo:
            ready = [b for b in todo if b[1] in placed]
            if not ready:
                raise ValueError(f"layout {self.name} has bones not connected to its root")
            order += ready
            placed.update(c for _, _, c in ready)
            todo = [b for b in todo if b not in ready]
        return order


def _tree(name, joints, parents, bone_names, flip_pairs, aliases=(), torso=()):
    edges = tuple((p, c) for c, p in enumerate(parents) if p >= 0)
    assert len(edges) == len(bone_names), name
    return Skeleton(name, tuple(joints), tuple(parents), edges, tuple(bone_names),
                    tuple(flip_pairs), tuple(aliases), tuple(torso))


# Human3.6M 17-joint subset: indices [0,1,2,3,6,7,8,12,13,14,15,17,18,19,25,26,27] of the 32
# mocap joints.  "Neck/Nose" sits near the nose; "Head" near the top of the head.
H36M17 = _tree(
    "h36m17",
    ["Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax",
     "Neck/Nose", "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist"],
    [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15],
    ["right hip", "right upper leg", "right lower leg", "left hip", "left upper leg",
     "left lower leg", "lower spine", "upper spine", "neck", "head", "left shoulder",
     "left upper arm", "left lower arm", "right shoulder", "right upper arm", "right lower arm"],
    [(4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16)],
    aliases=("h36m", "human36m", "h36m-17"),
    torso=("LHip", "RHip", "LShoulder", "RShoulder"),
)

#: Indices of the 17 joints of H36M17 among Human3.6M's 32 mocap joints.
H36M32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)

# Stacked-hourglass detections on Human3.6M (3d-pose-baseline's SH_NAMES order), which is
# also MPII Human Pose's own annotation order.  The slots hold MPII's joints: 0-5 r ankle,
# r knee, r hip, l hip, l knee, l ankle; 6 "Hip" = MPII pelvis; 7 "Spine" = MPII thorax;
# 8 "Thorax" = MPII upper neck; 9 "Head" = MPII head top; 10-15 r wrist, r elbow,
# r shoulder, l shoulder, l elbow, l wrist.  So the names are 3d-pose-baseline's, not the
# anatomy: MPII's "Spine" slot sits at the top of the chest (Human3.6M's Thorax is near
# there) and its "Thorax" slot at the top of the neck.  The conversion to h36m17 copies by
# name, as 3d-pose-baseline did (a lifter trained on stacked-hourglass detections expects
# it); it is one of the joint-definition differences a lifter for any detector must absorb.
MPII16 = _tree(
    "mpii16",
    ["RFoot", "RKnee", "RHip", "LHip", "LKnee", "LFoot", "Hip", "Spine", "Thorax", "Head",
     "RWrist", "RElbow", "RShoulder", "LShoulder", "LElbow", "LWrist"],
    [1, 2, 6, 6, 3, 4, -1, 6, 7, 8, 11, 12, 8, 8, 13, 14],
    ["right lower leg", "right upper leg", "right hip", "left hip", "left upper leg",
     "left lower leg", "lower spine", "upper spine", "head", "right lower arm",
     "right upper arm", "right shoulder", "left shoulder", "left upper arm", "left lower arm"],
    [(3, 2), (4, 1), (5, 0), (13, 12), (14, 11), (15, 10)],
    aliases=("sh", "sh16", "mpii", "stacked-hourglass"),
    torso=("LHip", "RHip", "LShoulder", "RShoulder"),
)

_COCO_EDGES = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
               (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4))
COCO17 = Skeleton(
    "coco17",
    ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
     "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
     "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"),
    (),
    _COCO_EDGES,
    ("left lower leg", "left upper leg", "right lower leg", "right upper leg", "hips",
     "left torso", "right torso", "shoulders", "left upper arm", "right upper arm",
     "left lower arm", "right lower arm", "eyes", "left nose-eye", "right nose-eye",
     "left eye-ear", "right eye-ear"),
    ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    aliases=("coco",),
    torso=("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
)

# Leeds Sports Pose order.  LSP has no pelvis, so no joint tree: edges are for drawing.
# Its "Neck" is the top of the neck (MPII's upper neck), its "HeadTop" the top of the head.
_LSP_EDGES = ((0, 1), (1, 2), (5, 4), (4, 3), (2, 3), (2, 8), (3, 9), (8, 9), (8, 7), (7, 6),
              (9, 10), (10, 11), (12, 13), (8, 12), (9, 12))
LSP14 = Skeleton(
    "lsp14",
    ("RAnkle", "RKnee", "RHip", "LHip", "LKnee", "LAnkle", "RWrist", "RElbow", "RShoulder",
     "LShoulder", "LElbow", "LWrist", "Neck", "HeadTop"),
    (),
    _LSP_EDGES,
    ("right lower leg", "right upper leg", "left lower leg", "left upper leg", "hips",
     "right torso", "left torso", "shoulders", "right upper arm", "right lower arm",
     "left upper arm", "left lower arm", "head", "right neck", "left neck"),
    ((3, 2), (4, 1), (5, 0), (9, 8), (10, 7), (11, 6)),
    aliases=("lsp", "leeds"),
    torso=("LHip", "RHip", "LShoulder", "RShoulder"),
)

LAYOUTS: dict[str, Skeleton] = {s.name: s for s in (H36M17, MPII16, COCO17, LSP14)}


def get_layout(layout: str | Skeleton) -> Skeleton:
    """Look a layout up by name or alias (case-insensitive); raises ValueError if unknown."""
    if isinstance(layout, Skeleton):
        return layout
    key = str(layout).lower()
    for skel in LAYOUTS.values():
        if key == skel.name or key in skel.aliases:
            return skel
    raise ValueError(f"unknown joint layout {layout!r}; known: {', '.join(LAYOUTS)}")


#: Zhou et al.'s bone groups for the geometric loss (bone names of H36M17).
ZHOU_BONE_GROUPS: dict[str, tuple[str, ...]] = {
    "legs": ("right lower leg", "right upper leg", "left upper leg", "left lower leg"),
    "arms": ("right lower arm", "right upper arm", "left upper arm", "left lower arm"),
    "hips": ("right hip", "left hip"),
    "shoulders": ("right shoulder", "left shoulder"),
}

#: Joint pairs (H36M17 names, also in MPII16) that a detector tends to lose together, an
#: occluded forearm or shank: training drops them (wildpose.augment) and the robustness check
#: hides them (wildpose.evaluation.occlude_limbs).
OCCLUDABLE_LIMBS: tuple[tuple[str, str], ...] = (
    ("LElbow", "LWrist"), ("RElbow", "RWrist"), ("LKnee", "LFoot"), ("RKnee", "RFoot"))

#: Left/right bone pairs of H36M17 scored by the bone symmetry error (Zhou et al.'s table).
SYMMETRIC_BONES: dict[str, tuple[str, str]] = {
    "upper arm": ("left upper arm", "right upper arm"),
    "lower arm": ("left lower arm", "right lower arm"),
    "upper leg": ("left upper leg", "right upper leg"),
    "lower leg": ("left lower leg", "right lower leg"),
}


# ----------------------------------------------------------------------------- conversions
# Each recipe maps an output joint name to the input joint names it averages.  One name is a
# copy; several are a synthesis; an output joint with no recipe is missing.
_RECIPES: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("mpii16", "h36m17"): {j: (j,) for j in MPII16.joints},
    ("h36m17", "mpii16"): {j: (j,) for j in MPII16.joints},
    ("coco17", "h36m17"): {
        "Hip": ("left_hip", "right_hip"),
        "RHip": ("right_hip",), "RKnee": ("right_knee",), "RFoot": ("right_ankle",),
        "LHip": ("left_hip",), "LKnee": ("left_knee",), "LFoot": ("left_ankle",),
        # Spine = mid(pelvis, thorax) = mean of the four torso corners.
        "Spine": ("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
        "Thorax": ("left_shoulder", "right_shoulder"),
        "Neck/Nose": ("nose",),
        # COCO has no head top; the ears' midpoint is the nearest stand-in.
        "Head": ("left_ear", "right_ear"),
        "LShoulder": ("left_shoulder",), "LElbow": ("left_elbow",), "LWrist": ("left_wrist",),
        "RShoulder": ("right_shoulder",), "RElbow": ("right_elbow",),
        "RWrist": ("right_wrist",),
    },
    # LSP -> H36M17: 12 limb joints copied; Hip, Spine and Thorax synthesized as for COCO;
    # Neck/Nose stands in by LSP's neck (the top of the neck, some 50-80 mm below and behind
    # H36M's nose-level joint: a definition difference); Head copied from the head top.
    ("lsp14", "h36m17"): {
        "Hip": ("LHip", "RHip"),
        "RHip": ("RHip",), "RKnee": ("RKnee",), "RFoot": ("RAnkle",),
        "LHip": ("LHip",), "LKnee": ("LKnee",), "LFoot": ("LAnkle",),
        "Spine": ("LHip", "RHip", "LShoulder", "RShoulder"),
        "Thorax": ("LShoulder", "RShoulder"),
        "Neck/Nose": ("Neck",),
        "Head": ("HeadTop",),
        "LShoulder": ("LShoulder",), "LElbow": ("LElbow",), "LWrist": ("LWrist",),
        "RShoulder": ("RShoulder",), "RElbow": ("RElbow",), "RWrist": ("RWrist",),
    },
    ("h36m17", "coco17"): {
        "nose": ("Neck/Nose",),
        "left_shoulder": ("LShoulder",), "right_shoulder": ("RShoulder",),
        "left_elbow": ("LElbow",), "right_elbow": ("RElbow",),
        "left_wrist": ("LWrist",), "right_wrist": ("RWrist",),
        "left_hip": ("LHip",), "right_hip": ("RHip",),
        "left_knee": ("LKnee",), "right_knee": ("RKnee",),
        "left_ankle": ("LFoot",), "right_ankle": ("RFoot",),
    },
}


@dataclass(frozen=True)
class LayoutConversion:
    """A linear joint-layout conversion ``dst = weights @ src``.

    Attributes:
        src, dst: the two layouts.
        weights: (J_dst, J_src) float array; each row sums to 1 (or is all zero if missing).
        copied / synthesized / missing: output joint names by how they are made.
    """

    src: Skeleton
    dst: Skeleton
    weights: np.ndarray
    copied: tuple[str, ...]
    synthesized: tuple[str, ...]
    missing: tuple[str, ...]

    def describe(self) -> str:
        """A human-readable account of which joints are copied, synthesized or missing."""
        return (f"{self.src.name} -> {self.dst.name}: copied {len(self.copied)} "
                f"({', '.join(self.copied)}); synthesized {len(self.synthesized)} "
                f"({', '.join(self.synthesized) or '-'}); missing {len(self.missing)} "
                f"({', '.join(self.missing) or '-'})")


def layout_conversion(src: str | Skeleton, dst: str | Skeleton) -> LayoutConversion:
    """The conversion from layout ``src`` to layout ``dst`` (identity if they are the same)."""
    src, dst = get_layout(src), get_layout(dst)
    if src.name == dst.name:
        recipe = {j: (j,) for j in src.joints}
    elif (src.name, dst.name) in _RECIPES:
        recipe = _RECIPES[(src.name, dst.name)]
    elif (src.name, "h36m17") in _RECIPES and ("h36m17", dst.name) in _RECIPES:
        # Compose through H36M17, the hub layout.
        a, b = layout_conversion(src, H36M17), layout_conversion(H36M17, dst)
        w = b.weights @ a.weights
        return _from_weights(src, dst, w)
    else:
        raise ValueError(f"no conversion from layout {src.name} to {dst.name}")
    w = np.zeros((dst.num_joints, src.num_joints))
    for out_name, in_names in recipe.items():
        for n in in_names:
            w[dst.index(out_name), src.index(n)] += 1.0 / len(in_names)
    return _from_weights(src, dst, w)


def _from_weights(src: Skeleton, dst: Skeleton, w: np.ndarray) -> LayoutConversion:
    nonzero = (w != 0).sum(1)
    copied = tuple(dst.joints[i] for i in range(dst.num_joints) if nonzero[i] == 1)
    synth = tuple(dst.joints[i] for i in range(dst.num_joints) if nonzero[i] > 1)
    missing = tuple(dst.joints[i] for i in range(dst.num_joints) if nonzero[i] == 0)
    return LayoutConversion(src, dst, w, copied, synth, missing)


def convert_layout(keypoints: Any, src: str | Skeleton, dst: str | Skeleton,
                   mask: Any = None) -> tuple[Any, Any]:
    """Convert keypoints between joint layouts.

    Args:
        keypoints: (..., J_src, D) numpy array or torch tensor (any units, any D).
        src, dst: layout names or Skeletons.
        mask: optional (..., J_src) boolean validity; default: joints that are all finite.
    Returns:
        ``(converted, valid)``: (..., J_dst, D) positions (zeros where invalid) and the
        (..., J_dst) boolean validity: an output joint is valid iff every input joint it is
        made from is valid.
    """
    conv = layout_conversion(src, dst)
    if keypoints.shape[-2] != conv.src.num_joints:
        raise ValueError(f"keypoints have {keypoints.shape[-2]} joints but layout "
                         f"{conv.src.name} has {conv.src.num_joints}")
    is_torch = type(keypoints).__module__.startswith("torch")
    if is_torch:
        import torch  # only with torch input: numpy callers never import torch

        w = torch.as_tensor(conv.weights, dtype=keypoints.dtype, device=keypoints.device)
        finite = torch.isfinite(keypoints).all(-1)
        valid_in = finite if mask is None else (mask.bool() & finite)
        clean = torch.where(valid_in[..., None], keypoints, torch.zeros_like(keypoints))
        # Matrix products rather than einsum: the same sums, without einsum's overhead on
        # the small batches a trainer converts on every step.
        out = w @ clean
        used = torch.as_tensor(conv.weights != 0, device=keypoints.device)
        bad_in = (~valid_in).to(keypoints.dtype)
        valid = ((bad_in[..., None, :] @ used.T.to(keypoints.dtype))[..., 0, :] == 0) \
            & used.any(1)
        out = torch.where(valid[..., None], out, torch.zeros_like(out))
        return out, valid
    kp = np.asarray(keypoints, dtype=np.float64 if np.asarray(keypoints).dtype == np.float64
                    else np.float32)
    finite = np.isfinite(kp).all(-1)
    valid_in = finite if mask is None else (np.asarray(mask, bool) & finite)
    clean = np.where(valid_in[..., None], kp, 0)
    # Matrix products rather than einsum: the same sums, several times faster on the
    # millions of rows of a Human3.6M load.
    out = np.swapaxes(np.swapaxes(clean, -1, -2) @ conv.weights.T.astype(kp.dtype), -1, -2)
    used = conv.weights != 0
    # Counts of missing inputs per output joint (small integers, exact in float32).
    bad = (~valid_in).astype(np.float32) @ used.T.astype(np.float32)
    valid = (bad == 0) & used.any(1)
    out = np.where(valid[..., None], out, 0).astype(kp.dtype)
    return out, valid


def flip_pose(pose: Any, skeleton: str | Skeleton = "h36m17") -> Any:
    """Mirror poses horizontally: negate x and swap left and right joints.

    Valid for root-centred 2D keypoints and camera-frame 3D poses alike (a mirror about the
    vertical plane through the root).

    Args:
        pose: (..., J, D) numpy array or torch tensor, D >= 1, x first.
    Returns:
        the mirrored poses, same shape and kind.
    """
    perm = get_layout(skeleton).flip_permutation()
    if type(pose).__module__.startswith("torch"):
        import torch  # only with torch input: numpy callers never import torch

        perm = torch.as_tensor(perm, device=pose.device)
    out = pose[..., perm, :]  # advanced indexing copies, so the in-place negation is safe
    out[..., 0] = -out[..., 0]
    return out


def set_bone_lengths(pose: np.ndarray, lengths: np.ndarray,
                     skeleton: str | Skeleton = "h36m17") -> np.ndarray:
    """Give every bone a length while keeping its direction.

    The pose is rebuilt outwards from the root: each joint is placed at its parent's new
    position plus the old bone direction times the new length, so the root stays where it
    was and a limb's chain moves with its shortened or lengthened upper bones.

    Args:
        pose: (..., J, D) joint positions (e.g. mm); D >= 1.
        lengths: (..., B) or (B,) bone lengths in the units of ``pose``, in the order of
            ``skeleton.bone_names`` (that of :meth:`Skeleton.bone_lengths`).
    Returns:
        (..., J, D) float array; a bone of zero length keeps zero length, and NaN in a
        joint's input propagates to it and to the joints below it.
    """
    sk = get_layout(skeleton)
    if sk.root is None:
        raise ValueError(f"layout {sk.name} has no joint tree to set bone lengths on")
    pose = np.asarray(pose, dtype=np.float64)
    lengths = np.broadcast_to(np.asarray(lengths, np.float64),
                              pose.shape[:-2] + (len(sk.edges),))
    if pose.shape[-2] != sk.num_joints:
        raise ValueError(f"pose has {pose.shape[-2]} joints; layout {sk.name} has "
                         f"{sk.num_joints}")
    out = np.empty_like(pose)
    out[..., sk.root, :] = pose[..., sk.root, :]
    for k, p, c in sk.bones_from_root():
        v = pose[..., c, :] - pose[..., p, :]
        n = np.linalg.norm(v, axis=-1, keepdims=True)
        unit = np.divide(v, n, out=np.zeros_like(v), where=n > 0)
        unit[np.isnan(n[..., 0])] = np.nan  # a missing joint has no direction to keep
        out[..., c, :] = out[..., p, :] + unit * lengths[..., k, None]
    return out


def joint_confidence(confidence: Any, layout: str | Skeleton,
                     dst: str | Skeleton = "h36m17", valid: Any = None) -> np.ndarray:
    """Per-joint confidence of poses converted from ``layout`` to ``dst``.

    A joint copied from one input joint keeps that joint's confidence; a joint synthesized
    from several (e.g. H36M ``Hip`` = mid-hips) gets the minimum of theirs (it is only as
    sure as its least sure source); a joint ``dst`` cannot be made from ``layout`` gets 0.

    Args:
        confidence: (..., J_src) detector confidences in [0, 1] (or 1/0 validity).
        layout, dst: the input and output layouts.
        valid: optional (..., J_src) bool; an invalid input joint counts as confidence 0.
    Returns:
        (..., J_dst) float32 in [0, 1].
    """
    used = layout_conversion(layout, dst).weights != 0                 # (J_dst, J_src)
    conf = np.nan_to_num(np.asarray(confidence, np.float32), nan=0.0)
    if conf.shape[-1] != used.shape[1]:
        raise ValueError(f"confidence has {conf.shape[-1]} joints but layout "
                         f"{get_layout(layout).name} has {used.shape[1]}")
    if valid is not None:
        conf = np.where(np.asarray(valid, bool), conf, np.float32(0))
    conf = np.clip(conf, 0, 1)
    # min over each output joint's source joints; 1 where unused, so that it never wins.
    per_source = np.where(used, conf[..., None, :], np.float32(1))
    return np.where(used.any(1), per_source.min(-1), np.float32(0)).astype(np.float32)


def has_torso(valid: Any, layout: str | Skeleton) -> np.ndarray:
    """Whether each pose has a torso: every joint of the layout's ``torso`` (both hips and
    both shoulders) present; a layout without a ``torso`` is judged by the h36m17 torso of
    its conversion.

    Args:
        valid: (..., J) bool of present joints in ``layout``.
    Returns:
        (...,) bool.
    """
    sk = get_layout(layout)
    v = np.asarray(valid, bool)
    if v.shape[-1] != sk.num_joints:
        raise ValueError(f"validity has {v.shape[-1]} joints but layout {sk.name} has "
                         f"{sk.num_joints}")
    if not sk.torso:
        v = joint_confidence(v, sk, H36M17) > 0
        sk = H36M17
    return v[..., [sk.index(j) for j in sk.torso]].all(-1)
