"""Zhou et al.'s weak-perspective depth lifter: normalized 2D keypoints -> per-joint depth.

Under a weak-perspective camera a root-relative 3D pose is ``[Y2D, Ydep]``: the image
coordinates themselves (up to one scale) plus a depth per joint.  :class:`DepthLifter`
predicts only the depth, in the units of the normalized 2D input (see
``wildpose.normalization``), so its output for a pose is ``[input x, input y, depth]``.  This
is what lets Zhou et al.'s geometric loss supervise 2D-only samples: it is applied to
``[ground-truth 2D, predicted depth]``.

Missing input joints have no 2D to copy (e.g. ``Neck/Nose`` with stacked-hourglass inputs, or
unlabelled COCO joints), so the head also predicts x, y per joint; those are used only where a
joint is missing (valid joints always keep their input x, y).  They are trained on joints
dropped by augmentation, whose 2D is known.

Millimetres: the weak-perspective scale (mm per normalized unit) cannot be observed from 2D
alone -- a large person far away and a small one nearby give the same input.  :meth:`to_mm`
therefore scales each pose so that its total bone length equals the total bone length of the
canonical (mean) training skeleton in mm, both stored as buffers.
"""

from __future__ import annotations

import torch

from ..skeleton import H36M17
from .lifter import LifterConfig, _MLPTrunk

__all__ = ["DepthLifter"]

_PARENT = tuple(e[0] for e in H36M17.edges)
_CHILD = tuple(e[1] for e in H36M17.edges)


class DepthLifter(_MLPTrunk):
    """Normalized 2D keypoints and validity -> ``[x, y, depth]`` per joint, normalized units.

    The trunk is the residual MLP of :class:`~wildpose.models.lifter.ResidualMLPLifter`,
    configured by the same :class:`~wildpose.models.lifter.LifterConfig`.  The head predicts
    the root-relative depth of the J - 1 non-root joints and a fill-in x, y for each joint;
    both are standardized with training statistics held as buffers.

    Buffers set from training data (:meth:`set_training_stats`): depth and 2D statistics, and
    the canonical skeleton's total bone length in mm (``total_bone_mm``) and in normalized
    units (``total_bone_norm``).
    """

    def __init__(self, config: LifterConfig | None = None):
        j = H36M17.num_joints
        super().__init__(config or LifterConfig(), j * 3, (j - 1) + 2 * j, "DepthLifter")
        self.register_buffer("depth_mean", torch.zeros(j - 1))
        self.register_buffer("depth_std", torch.ones(j - 1))
        self.register_buffer("xy_mean", torch.zeros(2 * j))   # flat (J * 2): kept in fp32
        self.register_buffer("xy_std", torch.ones(2 * j))
        self.register_buffer("total_bone_mm", torch.ones(1))
        self.register_buffer("total_bone_norm", torch.ones(1))

    @torch.no_grad()
    def set_training_stats(self, depth: torch.Tensor, keypoints: torch.Tensor,
                           canonical_mm: torch.Tensor, canonical_norm: torch.Tensor) -> None:
        """Set the buffers from training data only.

        Args:
            depth: (N, J) root-relative depth targets, normalized units.
            keypoints: (N, J, 2) normalized 2D of the same samples (all joints valid).
            canonical_mm, canonical_norm: (num_bones,) canonical bone lengths in mm and in
                normalized units (``wildpose.losses.canonical_bone_lengths``).
        """
        d = torch.as_tensor(depth, dtype=torch.float32)[:, 1:]
        xy = torch.as_tensor(keypoints, dtype=torch.float32).reshape(len(d), -1)
        self.depth_mean.copy_(d.mean(0))
        self.depth_std.copy_(d.std(0).clamp_min(1e-3))
        self.xy_mean.copy_(xy.mean(0))
        self.xy_std.copy_(xy.std(0).clamp_min(1e-3))
        self.total_bone_mm.fill_(float(torch.as_tensor(canonical_mm).sum()))
        self.total_bone_norm.fill_(float(torch.as_tensor(canonical_norm).sum()))

    def forward(self, keypoints: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, J, 2) normalized keypoints, (B, J) bool -> (B, J, 3) ``[x, y, depth]``.

        Normalized units, root at the origin: valid joints keep their input x, y; missing
        joints take the predicted x, y; the root's depth is 0.
        """
        b, j = keypoints.shape[:2]
        y = self._trunk(keypoints, valid)
        depth = y[:, :j - 1] * self.depth_std + self.depth_mean
        fill = (y[:, j - 1:] * self.xy_std + self.xy_mean).view(b, j, 2)
        xy = torch.where(valid[..., None], keypoints.float(), fill)
        xy = xy - xy[:, :1]  # root-relative even when the root itself was filled in
        return torch.cat([xy, torch.cat([depth.new_zeros(b, 1), depth], 1)[..., None]], -1)

    def to_mm(self, pose_norm: torch.Tensor) -> torch.Tensor:
        """Scale (B, J, 3) normalized poses to mm: each pose's total bone length becomes the
        canonical skeleton's total in mm.  A degenerate pose (total length ~0) falls back to
        the mean scale ``total_bone_mm / total_bone_norm``."""
        p = pose_norm.float()
        total = (p[:, _CHILD] - p[:, _PARENT]).norm(dim=-1).sum(-1)       # (B,)
        fallback = self.total_bone_mm / self.total_bone_norm
        ok = total > 1e-6 * self.total_bone_norm
        scale = torch.where(ok, self.total_bone_mm / total.clamp_min(1e-12), fallback)
        return p * scale[:, None, None]

    def lift_mm(self, keypoints: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``to_mm(forward(keypoints, valid))``: (B, J, 3) root-relative poses in mm."""
        return self.to_mm(self(keypoints, valid))
