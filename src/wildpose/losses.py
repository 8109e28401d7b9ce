"""Training losses, one home for all methods.  Batched torch functions; shapes and units are
stated per function.  Sections: Zhou et al. (geometric), Ronchi et al. (relative depth)."""

from __future__ import annotations

import numpy as np
import torch

from .camera import scaled_orthographic_project
from .skeleton import H36M17, ZHOU_BONE_GROUPS, Skeleton

__all__ = ["geo_loss", "canonical_bone_lengths", "ranking_loss", "reprojection_loss",
           "limb_prior_loss", "left_right_bone_pairs"]


# ------------------------------------------------------------------ Zhou et al. 2017
def _zhou_group_bones(groups: dict[str, tuple[str, ...]], skeleton: Skeleton
                      ) -> list[list[int]]:
    """Bone indices (into ``skeleton.bone_names``) of each group."""
    out = []
    for bones in groups.values():
        for b in bones:
            skeleton.bone(b)  # a ValueError naming the layout for an unknown bone
        out.append([skeleton.bone_names.index(b) for b in bones])
    return out


def canonical_bone_lengths(poses, groups: dict[str, tuple[str, ...]] = ZHOU_BONE_GROUPS,
                           skeleton: Skeleton = H36M17):
    """Canonical bone lengths for :func:`geo_loss`: the mean length of each bone over data.

    Args:
        poses: (N, J, 3) numpy array or torch tensor of 3D poses (any unit); non-finite
            joints are ignored (a bone is averaged over the poses where it is finite).
        groups: bone groups that must be measurable (default ``ZHOU_BONE_GROUPS``).
        skeleton: the layout of ``poses`` (default ``H36M17``).
    Returns:
        (num_bones,) float64 numpy array in ``skeleton.bone_names`` order, unit of ``poses``.
        Raises a one-line ValueError if a bone needed by a group has no finite, positive
        mean length (e.g. no pose has both its joints).
    """
    if type(poses).__module__.startswith("torch"):
        poses = poses.detach().cpu().numpy()
    p = np.asarray(poses, np.float64)
    if p.ndim != 3 or p.shape[1:] != (skeleton.num_joints, 3):
        raise ValueError(f"poses must have shape (N, {skeleton.num_joints}, 3); got {p.shape}")
    lengths = skeleton.bone_lengths(p)                              # (N, E), NaN if missing
    finite = np.isfinite(lengths)
    count = finite.sum(0)
    mean = np.where(finite, lengths, 0.0).sum(0) / np.maximum(count, 1)
    mean[count == 0] = np.nan
    needed = sorted({e for bones in _zhou_group_bones(groups, skeleton) for e in bones})
    bad = [skeleton.bone_names[e] for e in needed if not (np.isfinite(mean[e]) and mean[e] > 0)]
    if bad:
        raise ValueError(f"cannot compute canonical bone lengths: no finite, positive length "
                         f"for bone(s) {', '.join(bad)} in {len(p)} pose(s)")
    return mean


def geo_loss(pose_3d: torch.Tensor, canonical_lengths, valid: torch.Tensor | None = None,
             groups: dict[str, tuple[str, ...]] = ZHOU_BONE_GROUPS,
             skeleton: Skeleton = H36M17, eps: float = 1e-12) -> torch.Tensor:
    """Zhou et al.'s geometric loss: bone-length ratios to a canonical skeleton should be
    equal within each bone group (legs, arms, hips, shoulders).

    For each group R_i with ratios r_e = l_e / lbar_e (l_e: the pose's bone length, lbar_e:
    the canonical one) and group mean rbar_i::

        L = sum_i 1/|R_i| sum_{e in R_i} (r_e - rbar_i)^2

    It is zero for any uniformly scaled canonical skeleton and invariant to rotations and
    translations of the pose.

    Args:
        pose_3d: (B, J, 3) poses, any unit (float; computed in float32 or wider).
        canonical_lengths: (num_bones,) canonical lengths in ``skeleton.bone_names`` order,
            same unit as ``pose_3d`` (see :func:`canonical_bone_lengths`); numpy or torch.
        valid: optional (B, J) bool; a bone with a missing endpoint is left out of its group,
            and a group with fewer than two bones left contributes 0.
        groups: {name: bone names} (default ``wildpose.skeleton.ZHOU_BONE_GROUPS``).
        skeleton: layout of ``pose_3d`` (default ``H36M17``).
        eps: added under the square root of each squared length, so the gradient stays
            finite at a zero-length bone.
    Returns:
        (B,) per-sample loss (unitless); the caller averages.
    """
    if pose_3d.dim() != 3 or pose_3d.shape[1:] != (skeleton.num_joints, 3):
        raise ValueError(f"pose_3d must have shape (B, {skeleton.num_joints}, 3); got "
                         f"{tuple(pose_3d.shape)}")
    pose = pose_3d if pose_3d.dtype in (torch.float32, torch.float64) else pose_3d.float()
    canon = torch.as_tensor(canonical_lengths, dtype=pose.dtype, device=pose.device)
    if canon.shape != (len(skeleton.edges),) or not bool((canon > 0).all()):
        raise ValueError(f"canonical_lengths must be {len(skeleton.edges)} positive bone "
                         f"lengths; got shape {tuple(canon.shape)}")
    parent = torch.tensor([e[0] for e in skeleton.edges], device=pose.device)
    child = torch.tensor([e[1] for e in skeleton.edges], device=pose.device)
    if valid is None:
        bone_ok = torch.ones(pose.shape[0], len(skeleton.edges), dtype=torch.bool,
                             device=pose.device)
    else:
        v = valid.to(device=pose.device, dtype=torch.bool)
        bone_ok = v[:, child] & v[:, parent]
        # Missing joints may hold anything (NaN included): zero them so no NaN reaches the
        # sums or the gradient.
        pose = torch.where(v[..., None], pose, torch.zeros_like(pose))
    sq = ((pose[:, child] - pose[:, parent]) ** 2).sum(-1)            # (B, E)
    ratio = (sq + eps).sqrt() / canon
    total = ratio.new_zeros(ratio.shape[0])
    for bones in _zhou_group_bones(groups, skeleton):
        r = ratio[:, bones]
        w = bone_ok[:, bones].to(ratio.dtype)
        n = w.sum(1)
        mean = (r * w).sum(1) / n.clamp_min(1.0)
        var = (((r - mean[:, None]) ** 2) * w).sum(1) / n.clamp_min(1.0)
        total = total + torch.where(n >= 2, var, torch.zeros_like(var))
    return total


# ------------------------------------------------------------------ Ronchi et al. 2018
# Relative-depth supervision: a ranking loss on predicted depths, reprojection under a
# scaled-orthographic camera whose scale the network predicts, the root at the origin, and a
# bone-length prior.  Every function returns the batch mean, or with reduction="none" one
# value per sample (per labelled pair for ranking_loss).


def _wide(x: torch.Tensor) -> torch.Tensor:
    """float32, or float64 if given (bf16/fp16 network outputs are widened)."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return values
    if reduction == "mean":
        return values.mean() if values.numel() else values.sum() * 0.0
    raise ValueError(f"reduction must be 'mean' or 'none', not {reduction!r}")


def ranking_loss(depth: torch.Tensor, i: torch.Tensor, j: torch.Tensor, label: torch.Tensor,
                 sample_index: torch.Tensor, multiplier: float = 1.0,
                 normalizer: torch.Tensor | float | None = None, eps: float = 1e-6,
                 reduction: str = "mean") -> torch.Tensor:
    """Pairwise ranking loss on predicted depths (Ronchi et al. 2018).

    For each labelled pair, with d = depth[s, j] - depth[s, i] (positive when joint i is
    predicted closer; ``label`` +1: i closer, -1: j closer, 0: same -- the convention of
    :mod:`wildpose.relative_depth`) and its batch-normalized value

        dn = multiplier * d / mean_over_the_batch's_pairs(|d|)

    the loss is ``log(1 + exp(-label * dn))`` for an order label and ``dn ** 2`` for "same".

    The normalization (default, as in the paper's code) divides by the mean absolute depth
    difference of all labelled pairs in the call (one number per batch, not detached), so the
    loss is unchanged by adding any constant to a pose's depths and by scaling every depth of
    the batch by one positive factor: it judges depth orders and relative depth gaps, never
    the pose's units.  A caller may instead pass its own per-batch ``normalizer`` -- e.g. the
    batch's mean bone length, which keeps the invariance to the poses' units but calibrates
    depth gaps against the skeleton's size rather than against each other.

    Args:
        depth: (B, J) predicted depths (camera z, any unit).
        i, j: (M,) joint indices; label: (M,) in {+1, -1, 0}; sample_index: (M,) batch row of
            each pair.
        multiplier: scales the normalized differences (the logistic's sharpness).
        normalizer: None (the batch's mean |d|), a positive scalar (tensor) in depth units, or
            a (B,) tensor: one normalizer per sample (e.g. each pose's own depth spread).
        eps: added to the normalizer (all-equal depths give 0 / eps = 0, not NaN).
    Returns:
        the mean over pairs (0 if M == 0), or (M,) per-pair losses with reduction="none".
    """
    d = _wide(depth)
    s = sample_index.long()
    diff = d[s, j.long()] - d[s, i.long()]
    if diff.numel() == 0:
        return _reduce(diff, reduction) if reduction == "none" else d.sum() * 0.0
    norm = diff.abs().mean() if normalizer is None else normalizer
    if isinstance(norm, torch.Tensor) and norm.dim() == 1:
        norm = norm[s]
    dn = multiplier * diff / (norm + eps)
    r = label.to(dn.dtype)
    per_pair = torch.where(r != 0, torch.nn.functional.softplus(-r * dn), dn * dn)
    return _reduce(per_pair, reduction)


def reprojection_loss(pose_3d: torch.Tensor, scale: torch.Tensor, keypoints_2d: torch.Tensor,
                      valid: torch.Tensor | None = None, eps: float = 1e-6,
                      reduction: str = "mean") -> torch.Tensor:
    """Reprojection error under a scaled-orthographic camera: the mean distance between the
    projection ``scale * pose_3d[..., :2]`` (:func:`wildpose.camera.scaled_orthographic_project`,
    no rotation, no translation: both poses are root-centred) and the 2D keypoints.

    Args:
        pose_3d: (B, J, 3) predicted poses, root at the origin (any unit).
        scale: (B,) predicted scales (2D units per 3D unit).
        keypoints_2d: (B, J, 2) root-centred 2D keypoints, e.g. of
            :func:`wildpose.normalization.normalize_2d`.
        valid: optional (B, J) bool; missing joints are left out of the mean.
        eps: the distance is ``sqrt(d^2 + eps^2)``, so its gradient stays finite at 0.
    Returns:
        the batch mean of each sample's mean joint distance (2D units), or (B,) with
        reduction="none"; a sample with no valid joint contributes 0.
    """
    pose = _wide(pose_3d)
    proj = scaled_orthographic_project(pose, scale.to(pose.dtype))
    dist = (((proj - keypoints_2d.to(pose.dtype)) ** 2).sum(-1) + eps * eps).sqrt()   # (B, J)
    if valid is None:
        per_sample = dist.mean(-1)
    else:
        w = valid.to(dist.dtype)
        per_sample = (dist * w).sum(-1) / w.sum(-1).clamp_min(1.0)
    return _reduce(per_sample, reduction)


def left_right_bone_pairs(skeleton: Skeleton = H36M17) -> list[tuple[int, int]]:
    """(left bone, right bone) index pairs of a layout, matched by name ("left X"/"right X").

    For H36M17: hips, upper legs, lower legs, shoulders, upper arms, lower arms (6 pairs).
    """
    names = skeleton.bone_names
    return [(b, names.index("right " + n[5:])) for b, n in enumerate(names)
            if n.startswith("left ") and "right " + n[5:] in names]


def limb_prior_loss(pose_3d: torch.Tensor, mean_ratios, symmetry_weight: float = 1.0,
                    skeleton: Skeleton = H36M17, eps: float = 1e-6,
                    reduction: str = "mean") -> torch.Tensor:
    """Bone-length prior: normalized bone lengths near the Human3.6M means, left = right.

    Each bone's length is normalized by the pose's total bone length (``f_b = l_b / sum l``;
    ratios to the whole skeleton rather than to one reference bone, so no single bone's error
    scales all the others).  With ``m_b`` the mean of ``f_b`` over the training poses::

        ratio term     = mean over bones of |f_b / m_b - 1|            (relative error)
        symmetry term  = mean over left/right pairs of |f_L - f_R| / ((m_L + m_R) / 2)
        loss           = ratio term + symmetry_weight * symmetry term

    Both are invariant to the pose's scale, rotation and translation.

    Args:
        pose_3d: (B, J, 3) poses (any unit).
        mean_ratios: (num_bones,) mean normalized lengths m_b (they sum to 1), in
            ``skeleton.bone_names`` order; numpy or torch.
        symmetry_weight: weight of the symmetry term.
        eps: bone lengths are ``sqrt(|d|^2 + eps^2)`` (finite gradients at zero length).
    Returns:
        the batch mean, or (B,) with reduction="none".
    """
    p = _wide(pose_3d)
    m = torch.as_tensor(mean_ratios, dtype=p.dtype, device=p.device)
    n_bones = len(skeleton.edges)
    if m.shape != (n_bones,) or not bool((m > 0).all()):
        raise ValueError(f"mean_ratios must be {n_bones} positive normalized bone lengths; "
                         f"got shape {tuple(m.shape)}")
    parent = [e[0] for e in skeleton.edges]
    child = [e[1] for e in skeleton.edges]
    length = (((p[:, child] - p[:, parent]) ** 2).sum(-1) + eps * eps).sqrt()   # (B, E)
    f = length / length.sum(-1, keepdim=True)
    per_sample = (f / m - 1.0).abs().mean(-1)
    pairs = left_right_bone_pairs(skeleton)
    if symmetry_weight and pairs:
        lb = [a for a, _ in pairs]
        rb = [b for _, b in pairs]
        sym = (f[:, lb] - f[:, rb]).abs() / (0.5 * (m[lb] + m[rb]))
        per_sample = per_sample + symmetry_weight * sym.mean(-1)
    return _reduce(per_sample, reduction)
