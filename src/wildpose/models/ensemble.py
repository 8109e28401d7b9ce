"""An ensemble of lifters that read the same input: their 3D outputs (mm) are averaged.

Independently trained lifters err differently, so their mean is closer to the truth than
the typical member (variance reduction); the cost is one forward pass per member.  Members
must read the same input (joints, window, window step, window normalization), since
:class:`wildpose.Lifter` prepares one input for the whole ensemble; their widths, depths
and training may differ.
"""

from __future__ import annotations

import torch
from torch import nn

from .ensemble_input import shared_input_config

__all__ = ["LifterEnsemble"]


class LifterEnsemble(nn.Module):
    """Lifters averaged: ``(B, [W,] J, 2)`` normalized keypoints and ``(B, [W,] J)`` validity
    in, ``(B, J, 3)`` mm out (the mean of the members' outputs), like each member.

    Args:
        members: residual-MLP lifters (:class:`~wildpose.models.lifter.ResidualMLPLifter`)
            that read the same input (:func:`shared_input_config`).
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        configs = [m.config.to_dict() for m in members]
        self.config = shared_input_config(configs, [f"#{i}" for i in range(len(members))])
        self.members = nn.ModuleList(members)

    def forward(self, keypoints: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(keypoints, valid) for m in self.members]).mean(0)
