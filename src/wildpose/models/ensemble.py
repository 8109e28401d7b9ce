"""An ensemble of lifters that read one input: their 3D outputs (mm) are averaged.

Independently trained lifters err differently, so their mean is closer to the truth than
the typical member (variance reduction); the cost is one forward pass per member.
:class:`wildpose.Lifter` prepares one input for the whole ensemble, so members must read the
same joints, normalized the same way; a video member may read other frames of the window
than its fellows (:mod:`wildpose.models.ensemble_input`).  Their widths, depths and training
may differ.
"""

from __future__ import annotations

import torch
from torch import nn

from .ensemble_input import member_frames, shared_input_config

__all__ = ["LifterEnsemble"]


class LifterEnsemble(nn.Module):
    """Lifters averaged: ``(B, [W,] J, 2)`` normalized keypoints and ``(B, [W,] J)`` validity
    in, ``(B, J, 3)`` mm out (the mean of the members' outputs), like each member.

    Args:
        members: residual-MLP lifters (:class:`~wildpose.models.lifter.ResidualMLPLifter`)
            that can share one input (:func:`shared_input_config`).  The ensemble reads
            ``config.window`` frames; each member is given its own frames of them.
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        configs = [m.config.to_dict() for m in members]
        self.config = shared_input_config(configs, [f"#{i}" for i in range(len(members))])
        self.members = nn.ModuleList(members)
        self.frames = [member_frames(c, self.config) for c in configs]

    def forward(self, keypoints: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(keypoints, valid) if f is None else
                            m(keypoints[:, f], valid[:, f])
                            for m, f in zip(self.members, self.frames)]).mean(0)
