"""The network of Ronchi et al. 2018 (:mod:`wildpose.methods.ronchi`): the residual MLP of
:mod:`wildpose.models.lifter` (its layers are imported, not copied) whose 3D output is in
normalized units (16 bones summing to 16) and which also predicts a positive camera scale.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..skeleton import H36M17
from .lifter import LifterConfig, _MLPTrunk  # the lifter's layers, reused

__all__ = ["RonchiNetConfig", "RonchiNet", "normalize_to_units", "N_BONES"]

N_BONES = len(H36M17.edges)  # 16
_PARENT = [e[0] for e in H36M17.edges]
_CHILD = [e[1] for e in H36M17.edges]
_SCALE_INIT = 0.45  # starting scale (learned): a pose of mean bone 1 spans ~2 units of RMS-1 2D

# ----------------------------------------------------------------------------- the model
#: Architecture of :class:`RonchiNet`: the residual MLP's hyper-parameters, one definition.
RonchiNetConfig = LifterConfig


def _total_bone_length(pose: torch.Tensor) -> torch.Tensor:
    d = pose[:, _CHILD] - pose[:, _PARENT]
    return ((d * d).sum(-1) + 1e-12).sqrt().sum(-1)


def normalize_to_units(pose: Any) -> Any:
    """Rescale (..., 17, 3) root-relative poses (numpy or torch) so their 16 bones sum to 16:
    the normalized units of :class:`RonchiNet`.  Used for the 3D targets of mixed and
    supervised training."""
    d = pose[..., _CHILD, :] - pose[..., _PARENT, :]
    total = ((d * d).sum(-1) ** 0.5).sum(-1)
    return pose * (N_BONES / total)[..., None, None]


class RonchiNet(_MLPTrunk):
    """Normalized 2D keypoints -> 3D pose in normalized units (root at 0) and a camera scale.

    ``predict(kp, valid)`` returns ``(pose (B, 17, 3) normalized units, scale (B,) > 0)``;
    ``forward(kp, valid)`` returns the pose in mm (``pose * mm_per_unit``), the contract of
    every wildpose lifter.  Inputs as for :class:`~wildpose.models.lifter.ResidualMLPLifter`.
    """

    def __init__(self, config: RonchiNetConfig | None = None):
        j = H36M17.num_joints
        super().__init__(config or RonchiNetConfig(), j * 3, (j - 1) * 3 + 1, "RonchiNet")
        with torch.no_grad():
            self.out.bias[-1] = math.log(math.expm1(_SCALE_INIT))  # softplus^-1
        self.register_buffer("mm_per_unit", torch.ones(1))

    def set_mm_per_unit(self, mean_total_bone_mm: float) -> None:
        """Report poses in mm with this total bone length (the Human3.6M training mean)."""
        self.mm_per_unit.fill_(float(mean_total_bone_mm) / N_BONES)

    def predict(self, keypoints: torch.Tensor, valid: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        b, j = keypoints.shape[:2]
        y = self._trunk(keypoints, valid)
        kp = keypoints.float()
        base = torch.cat([kp[:, 1:], kp.new_zeros(b, j - 1, 1)], -1)
        pose = torch.cat([kp.new_zeros(b, 1, 3), base + y[:, :-1].reshape(b, j - 1, 3)], 1)
        pose = pose * (N_BONES / _total_bone_length(pose).clamp_min(1e-6))[:, None, None]
        scale = nn.functional.softplus(y[:, -1]) + 1e-4
        return pose, scale

    def forward(self, keypoints: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, 17, 2) normalized keypoints, (B, 17) validity -> (B, 17, 3) mm, root = 0."""
        return self.predict(keypoints, valid)[0] * self.mm_per_unit
