"""Training-time augmentation of (normalized 2D, 3D) pairs, batched in torch.

All randomness comes from an explicit ``torch.Generator`` so training is reproducible and can
resume mid-epoch.
"""

from __future__ import annotations

import numpy as np
import torch

from .skeleton import H36M17, OCCLUDABLE_LIMBS, Skeleton, flip_pose

__all__ = ["AugmentConfig", "augment_batch", "transplant_errors", "random_bone_factors",
           "rescale_bones"]


class AugmentConfig:
    """Augmentation strengths.

    Attributes:
        flip_prob: probability of a horizontal mirror (x -> -x, left/right swapped).
        noise_max: 2D noise std is drawn per sample uniformly in [0, noise_max], in units of
            the normalized pose (1 = the pose's RMS joint distance from the root); detector
            errors of 8 px on a 100 px pose are 0.08.
        drop_prob: probability that each joint (other than the root) is marked missing.
        drop_limb_prob: probability that one group of joints (elbow+wrist, knee+ankle, or
            nose+head) is marked missing, as when a detector misses an occluded arm.
    """

    def __init__(self, flip_prob: float = 0.5, noise_max: float = 0.0, drop_prob: float = 0.0,
                 drop_limb_prob: float = 0.0):
        self.flip_prob = flip_prob
        self.noise_max = noise_max
        self.drop_prob = drop_prob
        self.drop_limb_prob = drop_limb_prob


# Joint groups a detector tends to lose together (H36M17 indices): the lower half of each
# limb, and the head (nose and head top are both unlabelled on people seen from behind or
# wearing helmets, which is common in COCO).
_LIMB_ENDS = tuple(tuple(H36M17.joints.index(j) for j in group)
                   for group in OCCLUDABLE_LIMBS + (("Neck/Nose", "Head"),))


def augment_batch(kp: torch.Tensor, valid: torch.Tensor, pose_3d: torch.Tensor | None,
                  cfg: AugmentConfig, gen: torch.Generator,
                  skeleton: Skeleton = H36M17) -> tuple[torch.Tensor, torch.Tensor,
                                                       torch.Tensor | None]:
    """Augment a batch.

    Args:
        kp: (B, J, 2) normalized 2D keypoints; valid: (B, J) bool; pose_3d: (B, J, 3) mm or None
            (or (B, W, J, 3), a video lifter's targets for every frame of its window).
            A video lifter's windows, (B, W, J, 2) and (B, W, J), are augmented as one
            sample each: one mirror and one noise level for all W frames, and a dropped limb
            stays dropped through the window (an occlusion lasts); single joints drop
            frame by frame.
    Returns:
        augmented ``(kp, valid, pose_3d)``; kp is 0 wherever valid is False.
    """
    b = kp.shape[0]
    per_sample = (b,) + (1,) * (kp.ndim - 2)  # broadcasts a per-sample draw over W, J
    dev = kp.device
    if cfg.flip_prob > 0:
        flip = torch.rand(b, generator=gen).to(dev) < cfg.flip_prob
        if flip.any():
            kp = torch.where(flip.view(*per_sample, 1), flip_pose(kp, skeleton), kp)
            perm = torch.as_tensor(skeleton.flip_permutation(), device=dev)
            valid = torch.where(flip.view(per_sample), valid[..., perm], valid)
            if pose_3d is not None:  # (B, J, 3), or (B, W, J, 3) targets of a whole window
                pose_3d = torch.where(flip.view((b,) + (1,) * (pose_3d.ndim - 1)),
                                      flip_pose(pose_3d, skeleton), pose_3d)
    if cfg.noise_max > 0:
        sigma = torch.rand(b, 1, 1, generator=gen).to(dev) * cfg.noise_max
        kp = kp + torch.randn(kp.shape, generator=gen).to(dev) * sigma.view(*per_sample, 1)
    if cfg.drop_prob > 0 or cfg.drop_limb_prob > 0:
        drop = torch.rand(valid.shape, generator=gen).to(dev) < cfg.drop_prob
        if cfg.drop_limb_prob > 0 and skeleton is H36M17:
            which = torch.randint(len(_LIMB_ENDS), (b,), generator=gen).to(dev)
            hit = torch.rand(b, generator=gen).to(dev) < cfg.drop_limb_prob
            for i, ends in enumerate(_LIMB_ENDS):
                rows = (hit & (which == i)).view(per_sample[:-1])  # over W
                for jj in ends:
                    drop[..., jj] |= rows
        root = skeleton.root or 0
        drop[..., root] = False
        valid = valid & ~drop
    kp = kp * valid[..., None].to(kp.dtype)
    return kp, valid, pose_3d


def transplant_errors(kp: torch.Tensor, valid: torch.Tensor,
                      truth: tuple[torch.Tensor, torch.Tensor],
                      donor: tuple[torch.Tensor, torch.Tensor],
                      donor_truth: tuple[torch.Tensor, torch.Tensor],
                      hit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Give samples another sample's detector error: ``truth + (donor - donor_truth)``.

    A lifter trained on one detector's outputs learns that detector's errors on the
    training people and poses; moving each error onto another sample's ground truth shows
    it the same kinds of error on other bodies.  All keypoints are normalized (the units of
    ``wildpose.normalization``), so an error measured on one pose fits another.

    Args:
        kp, valid: (B, ..., J, 2) detections and (B, ..., J) validity, returned where
            ``hit`` is False.
        truth: ground-truth 2D and validity of the same samples, same shapes.
        donor, donor_truth: detections and ground truth of the samples whose errors are
            taken, same shapes.
        hit: (B,) bool, which samples to change.
    Returns:
        ``(kp, valid)``; a changed joint is valid only if it is valid in all three sources
        (and is 0 where not).
    """
    (kg, vg), (kd, vd), (kdg, vdg) = truth, donor, donor_truth
    ok = vg & vd & vdg
    moved = torch.where(ok[..., None], kg + (kd - kdg), torch.zeros_like(kg))
    shape = (len(hit),) + (1,) * (kp.ndim - 1)
    return (torch.where(hit.view(shape), moved, kp),
            torch.where(hit.view(shape[:-1]), ok, valid))


def random_bone_factors(batch: int, max_change: float, gen: torch.Generator,
                        skeleton: Skeleton = H36M17) -> torch.Tensor:
    """Random body proportions: one length factor per bone, uniform in
    ``[1 - max_change, 1 + max_change]``, the same for a bone and its mirror image.

    Training subjects are a handful of bodies; giving their poses other limb proportions
    shows the lifter bodies it has not seen.  Left and right share a factor because people
    are close to symmetric (an asymmetric body would teach the lifter asymmetric bones).

    Returns:
        (batch, B) float32 factors in ``skeleton.bone_names`` order.
    """
    if not 0 <= max_change < 1:
        raise ValueError(f"max_change must be in [0, 1), got {max_change}")
    # Each bone takes the factor of the lower-numbered of itself and its mirror image.
    same = np.minimum(np.arange(len(skeleton.edges)), skeleton.mirror_bones()).tolist()
    draw = 1 + (2 * torch.rand(batch, len(skeleton.edges), generator=gen) - 1) * max_change
    return draw[:, same]


def rescale_bones(pose: np.ndarray | torch.Tensor, factors: np.ndarray | torch.Tensor,
                  skeleton: Skeleton = H36M17) -> np.ndarray | torch.Tensor:
    """Multiply each bone's length by a factor, keeping its direction and the root in place.

    Args:
        pose: (..., J, 3) positions, mm (absolute camera coordinates stay absolute: the root
            does not move, so the body stays where the camera saw it); numpy or torch.
        factors: (..., B) factors in ``skeleton.bone_names`` order, broadcast over ``pose``.
    Returns:
        (..., J, 3) positions, mm: float64 numpy for numpy input, ``pose``'s dtype for a
        torch tensor (the trainer passes float32 tensors: the batch's bodies are made on
        every step, and float64 numpy was the slower way).
    """
    # The same as set_bone_lengths(pose, lengths * factors): scaling a bone's vector keeps
    # its direction, and needs no lengths (this runs on every training batch).
    if isinstance(pose, torch.Tensor):
        factors = torch.as_tensor(factors, dtype=pose.dtype, device=pose.device)
        shape = torch.broadcast_shapes(pose.shape, factors.shape[:-1] + (1, 1))
        out = pose.new_empty(shape)
    else:
        pose = np.asarray(pose, np.float64)
        factors = np.asarray(factors, np.float64)
        out = np.empty(np.broadcast_shapes(pose.shape, factors.shape[:-1] + (1, 1)))
    out[..., skeleton.root, :] = pose[..., skeleton.root, :]
    for k, parent, child in skeleton.bones_from_root():
        out[..., child, :] = out[..., parent, :] + (
            pose[..., child, :] - pose[..., parent, :]) * factors[..., k, None]
    return out
