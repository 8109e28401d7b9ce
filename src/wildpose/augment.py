"""Training-time augmentation of (normalized 2D, 3D) pairs, batched in torch.

All randomness comes from an explicit ``torch.Generator`` so training is reproducible and can
resume mid-epoch.
"""

from __future__ import annotations

import numpy as np
import torch

from .settings import AugmentConfig  # the strengths are a config section; defined there
from .skeleton import H36M17, OCCLUDABLE_LIMBS, Skeleton, flip_pose

__all__ = ["AugmentConfig", "augment_batch", "transplant_errors", "random_bone_factors",
           "rescale_bones", "DetectorModel", "move_joint_definitions", "detector_errors",
           "cut_at_border", "mirror_samples", "mpii_slot_meanings"]


# Joint groups a detector tends to lose together (H36M17 indices): the lower half of each
# limb, and the head (nose and head top are both unlabelled on people seen from behind or
# wearing helmets, which is common in COCO).
_LIMB_ENDS = tuple(tuple(H36M17.joints.index(j) for j in group)
                   for group in OCCLUDABLE_LIMBS + (("Neck/Nose", "Head"),))


def mirror_samples(flip: torch.Tensor, kp: torch.Tensor, valid: torch.Tensor,
                   pose_3d: torch.Tensor | None = None, skeleton: Skeleton = H36M17
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The samples where ``flip`` is True mirrored horizontally, the others as they are.

    Positions go through :func:`wildpose.skeleton.flip_pose` (x negated, left and right
    swapped), validity through :meth:`wildpose.skeleton.Skeleton.flip_permutation`.

    Args:
        flip: (B,) bool.
        kp: (B, ..., J, 2) root-centred 2D; valid: (B, ..., J) bool; pose_3d: (B, ..., J, 3)
            mm or None (e.g. (B, W, J, 3): a video lifter's window mirrors as one sample).
    Returns:
        ``(kp, valid, pose_3d)``, same shapes.
    """
    def rows(x: torch.Tensor) -> torch.Tensor:
        return flip.view((len(flip),) + (1,) * (x.ndim - 1))

    perm = torch.as_tensor(skeleton.flip_permutation(), device=valid.device)
    kp = torch.where(rows(kp), flip_pose(kp, skeleton), kp)
    valid = torch.where(rows(valid), valid[..., perm], valid)
    if pose_3d is not None:
        pose_3d = torch.where(rows(pose_3d), flip_pose(pose_3d, skeleton), pose_3d)
    return kp, valid, pose_3d


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
            kp, valid, pose_3d = mirror_samples(flip, kp, valid, pose_3d, skeleton)
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


# ------------------------------------------------------------ a detector model (issue 28)
# Detectors define joints differently from Human3.6M's mocap (an MPII "thorax" sits in the
# Spine slot after conversion, COCO hips are wider and higher, a head top is not a head
# centre), add errors proportional to the person's size, confuse left and right, lose
# joints they are unsure of and never see what lies beyond the image border.  These
# functions draw such differences per sample, so that a lifter trained on exact mocap
# projections meets them in training rather than first at test time.


class DetectorModel:
    """Strengths of the simulated detector (all per sample, drawn uniformly up to these).

    Attributes:
        definitions: scale of the joint-definition offsets of :func:`move_joint_definitions`
            (1 = the ranges documented there; 0 = Human3.6M's own definitions).
        jitter_mm: std of a fixed 3D offset per joint and sample, mm (where on a limb a
            detector puts "the ankle"), drawn before projection.
        noise_max: 2D noise std, uniform in [0, noise_max] per sample, as a fraction of
            the person's size (the diagonal of the keypoints' bounding box).
        outlier_prob: probability that a joint jumps (std 0.25 of the person's size).
        swap_prob: probability that one limb (arm, leg, or a single joint pair) has its
            left and right joints swapped.
        drop_prob: probability that a joint is dropped as unsure; a jumped joint is
            dropped with probability 0.5 (a detector's low confidence on its errors).
        drop_limb_prob: probability that one lower limb (or the face) is dropped whole.
        cut_prob: probability that an image border cuts the person (:func:`cut_at_border`).
        ankles: the ankles' definition range of :func:`move_joint_definitions`.
    """

    def __init__(self, definitions: float = 1.0, jitter_mm: float = 15.0,
                 noise_max: float = 0.02, outlier_prob: float = 0.01,
                 swap_prob: float = 0.03, drop_prob: float = 0.02,
                 drop_limb_prob: float = 0.1, cut_prob: float = 0.1, ankles: float = 0.0):
        for name, v in (("definitions", definitions), ("jitter_mm", jitter_mm),
                        ("noise_max", noise_max), ("ankles", ankles)):
            if not v >= 0:
                raise ValueError(f"detector model {name} must be >= 0, got {v}")
        for name, v in (("outlier_prob", outlier_prob), ("swap_prob", swap_prob),
                        ("drop_prob", drop_prob), ("drop_limb_prob", drop_limb_prob),
                        ("cut_prob", cut_prob)):
            if not 0 <= v <= 1:
                raise ValueError(f"detector model {name} must be in [0, 1], got {v}")
        self.definitions, self.jitter_mm, self.noise_max = definitions, jitter_mm, noise_max
        self.outlier_prob, self.swap_prob = outlier_prob, swap_prob
        self.drop_prob, self.drop_limb_prob, self.cut_prob = drop_prob, drop_limb_prob, cut_prob
        self.ankles = ankles


def _uniform(lo: float, hi: float, shape: tuple[int, ...], gen: torch.Generator
             ) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=gen)


_J = {name: H36M17.joints.index(name) for name in H36M17.joints}


def move_joint_definitions(pose: torch.Tensor, strength: float, gen: torch.Generator,
                           ankles: float = 0.0) -> torch.Tensor:
    """Move H36M17 joints to where other detectors define them, per sample (3D, mm).

    Ranges at ``strength`` 1 (each drawn uniformly, per sample; fractions of body
    segments so that they suit any body size):

    * hips: wider by -10..+40 % of the hip width and raised by -5..+20 % of the
      pelvis-thorax distance (MPII/COCO annotate the hip's outline, not the joint centre);
    * pelvis: the new hips' midpoint (half the samples) or moved up with them;
    * Spine slot: -20..+100 % of the way to the thorax (an MPII thorax lands there);
    * Thorax slot: -20..+70 % of the way to the nose (MPII's upper neck);
    * Neck/Nose slot: -10..+30 % of the way to the head;
    * Head slot: -30..+50 % of the nose-head distance further out (a head top, an ear
      midpoint);
    * shoulders: -10..+15 % further out from the thorax;
    * ankles (only if ``ankles`` > 0): ``-0.2 * ankles .. ankles`` of the way up to the
      knee (Human3.6M's foot joint sits below the ankle that photo annotators click).

    Args:
        pose: (B, 17, 3) H36M17 positions, mm, any frame.
        strength: multiplies every range (0 returns a copy of ``pose``).
        ankles: the largest upward move of the ankles, as a fraction of the shin, before
            ``strength``; at 0 nothing is drawn for them (older recipes keep their random
            stream).
    Returns:
        (B, 17, 3) moved positions.
    """
    b = pose.shape[0]
    out = pose.clone()
    if strength <= 0:
        return out

    def draw(lo: float, hi: float) -> torch.Tensor:
        return _uniform(lo * strength, hi * strength, (b, 1), gen).to(pose)

    j = _J
    pelvis, thorax = pose[:, j["Hip"]], pose[:, j["Thorax"]]
    up = thorax - pelvis
    mid = 0.5 * (pose[:, j["LHip"]] + pose[:, j["RHip"]])
    half = 0.5 * (pose[:, j["LHip"]] - pose[:, j["RHip"]])
    wider, higher = draw(-0.10, 0.40), draw(-0.05, 0.20)
    out[:, j["LHip"]] = mid + half * (1 + wider) + up * higher
    out[:, j["RHip"]] = mid - half * (1 + wider) + up * higher
    midpoint = torch.rand(b, 1, generator=gen).to(pose) < 0.5
    out[:, j["Hip"]] = torch.where(midpoint, 0.5 * (out[:, j["LHip"]] + out[:, j["RHip"]]),
                                   pelvis + up * higher)
    nose, head = pose[:, j["Neck/Nose"]], pose[:, j["Head"]]
    spine = pose[:, j["Spine"]]
    out[:, j["Spine"]] = spine + draw(-0.20, 1.00) * (thorax - spine)
    out[:, j["Thorax"]] = thorax + draw(-0.20, 0.70) * (nose - thorax)
    out[:, j["Neck/Nose"]] = nose + draw(-0.10, 0.30) * (head - nose)
    out[:, j["Head"]] = head + draw(-0.30, 0.50) * (head - nose)
    out_sh = draw(-0.10, 0.15)[:, :, None]
    sh = [j["LShoulder"], j["RShoulder"]]
    out[:, sh] = pose[:, sh] + out_sh * (pose[:, sh] - thorax[:, None])
    if ankles > 0:
        up = draw(-0.2 * ankles, ankles)            # one definition for both feet
        for foot, knee in (("LFoot", "LKnee"), ("RFoot", "RKnee")):
            out[:, j[foot]] = pose[:, j[foot]] + up * (pose[:, j[knee]] - pose[:, j[foot]])
    return out


def mpii_slot_meanings(pose: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """H36M17 positions with the Spine and Thorax slots moved to what the MPII16 layout
    reports in them (see :data:`wildpose.skeleton.MPII16`): its "Spine" slot holds MPII's
    thorax (the top of the chest, Human3.6M's Thorax) and its "Thorax" slot the upper neck,
    drawn 30-90 % of the way from the thorax to the Neck/Nose joint per sample.

    Args:
        pose: (B, 17, D) H36M17 positions (D = 2 pixels or 3 mm).
    Returns:
        (B, 17, D) positions; the other joints unchanged.
    """
    out = pose.clone()
    thorax, nose = pose[:, _J["Thorax"]], pose[:, _J["Neck/Nose"]]
    out[:, _J["Spine"]] = thorax
    up = _uniform(0.3, 0.9, (pose.shape[0], 1), gen).to(pose)
    out[:, _J["Thorax"]] = thorax + up * (nose - thorax)
    return out


# Left/right joint groups a detector confuses, as (left joints, right joints).
_SWAPS = tuple((tuple(_J[f"L{n}"] for n in names), tuple(_J[f"R{n}"] for n in names))
               for names in (("Shoulder", "Elbow", "Wrist"), ("Hip", "Knee", "Foot"),
                             ("Elbow", "Wrist"), ("Knee", "Foot"), ("Wrist",), ("Foot",)))
_LOSABLE = _LIMB_ENDS


def detector_errors(px: torch.Tensor, valid: torch.Tensor, model: DetectorModel,
                    gen: torch.Generator, skeleton: Skeleton = H36M17
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Detector-like errors on 2D keypoints: noise scaled by the person's size, jumping
    joints, left/right swaps of a limb, and confidence-driven dropping of joints and limbs.

    Args:
        px: (B, J, 2) pixels in ``skeleton`` (H36M17 for swaps and limb drops).
        valid: (B, J) bool.
    Returns:
        ``(px, valid)``: the disturbed pixels and the joints still present.
    """
    b, nj = valid.shape
    big = torch.tensor(1e9, dtype=px.dtype)
    lo = torch.where(valid[..., None], px, big).amin(1)
    hi = torch.where(valid[..., None], px, -big).amax(1)
    size = (hi - lo).norm(dim=-1).clamp_min(1.0)[:, None, None]              # (B, 1, 1)
    sigma = torch.rand(b, 1, 1, generator=gen) * model.noise_max
    px = px + torch.randn(px.shape, generator=gen) * sigma * size
    jump = torch.rand(b, nj, generator=gen) < model.outlier_prob
    px = px + torch.randn(px.shape, generator=gen) * 0.25 * size * jump[..., None]
    if skeleton is H36M17 and model.swap_prob > 0:
        hit = torch.rand(b, generator=gen) < model.swap_prob
        which = torch.randint(len(_SWAPS), (b,), generator=gen)
        perm = torch.arange(nj).repeat(b, 1)
        for i, (left, right) in enumerate(_SWAPS):
            rows = hit & (which == i)
            for a, c in zip(left, right):
                perm[rows, a], perm[rows, c] = c, a
        px = torch.gather(px, 1, perm[..., None].expand(-1, -1, 2))
        valid = torch.gather(valid, 1, perm)
    drop = torch.rand(b, nj, generator=gen) < model.drop_prob
    drop |= jump & (torch.rand(b, nj, generator=gen) < 0.5)
    if skeleton is H36M17 and model.drop_limb_prob > 0:
        hit = torch.rand(b, generator=gen) < model.drop_limb_prob
        which = torch.randint(len(_LOSABLE), (b,), generator=gen)
        for i, ends in enumerate(_LOSABLE):
            for jj in ends:
                drop[:, jj] |= hit & (which == i)
    return px, valid & ~drop


def cut_at_border(px: torch.Tensor, valid: torch.Tensor, prob: float, gen: torch.Generator
                  ) -> torch.Tensor:
    """An image border through the person: with probability ``prob`` a sample loses every
    joint beyond a straight border (the bottom one half the time, else the top, left or
    right), placed at 35-95 % of the person's extent from the opposite side.

    Args:
        px: (B, J, 2) pixels (image y down); valid: (B, J) bool.
    Returns:
        (B, J) bool validity with the joints outside the image removed.
    """
    b = px.shape[0]
    hit = torch.rand(b, generator=gen) < prob
    side = torch.where(torch.rand(b, generator=gen) < 0.5, torch.full((b,), 3),
                       torch.randint(3, (b,), generator=gen))     # 0 left, 1 right, 2 top, 3 bottom
    axis = (side >= 2).long()                                     # 0: x, 1: y
    coord = torch.gather(px, 2, axis.view(b, 1, 1).expand(-1, px.shape[1], 1))[..., 0]
    big = torch.tensor(1e9, dtype=px.dtype)
    lo = torch.where(valid, coord, big).amin(1, keepdim=True)
    hi = torch.where(valid, coord, -big).amax(1, keepdim=True)
    frac = _uniform(0.35, 0.95, (b, 1), gen).to(px)
    far = (side % 2 == 1)[:, None]                                # right or bottom border
    line = torch.where(far, lo + frac * (hi - lo), hi - frac * (hi - lo))
    outside = torch.where(far, coord > line, coord < line)
    return valid & ~(outside & hit[:, None])
