"""Residual MLP lifter (Martinez et al. 2017): normalized 2D keypoints -> root-relative 3D."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass

import torch
from torch import nn


__all__ = ["LifterConfig", "ResidualMLPLifter", "Dropout"]


@dataclass
class LifterConfig:
    """Architecture of :class:`ResidualMLPLifter`.

    Attributes:
        num_joints: joints in and out (H36M17: 17; the root is predicted as the origin).
        width: hidden units per layer.
        blocks: residual blocks, each two Linear-BatchNorm-ReLU-Dropout layers.
        dropout: dropout probability.
        window: frames the lifter sees (odd): 1 for a single image; W > 1 for a video
            lifter that reads the W frames around the one it lifts.
        window_step: frames between the window's frames (e.g. 4 at 50 fps: 80 ms apart);
            the window spans ``(window - 1) * window_step + 1`` frames.
    """

    num_joints: int = 17
    width: int = 1024
    blocks: int = 2
    dropout: float = 0.25
    window: int = 1
    window_step: int = 1

    def __post_init__(self) -> None:
        if self.window < 1 or self.window % 2 == 0 or self.window_step < 1:
            raise ValueError(f"window must be odd and >= 1 and window_step >= 1, got "
                             f"window {self.window}, window_step {self.window_step}")

    def to_dict(self) -> dict:
        return asdict(self)


class Dropout(nn.Module):
    """Dropout with a cheaper random mask: the same layer as ``nn.Dropout(p)``, up to ``p``
    being rounded to a multiple of 1/65536.

    On a CPU, ``nn.Dropout``'s Bernoulli draw (one random number per unit) costs more than
    the matmul of a 1024-wide bf16 layer.  Here each random 64-bit word gives three 16-bit
    numbers (its top 16 bits are left out, since ``random_`` over [0, 2^48) is uniform on
    exactly the low 48), so the mask costs a third of the draws.  The global torch generator
    is used, as ``nn.Dropout`` does, so training stays reproducible and resumable.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self._threshold = round(p * 65536)  # a unit is dropped when its number is below

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self._threshold == 0:
            return x
        if x.device.type != "cpu":  # a GPU draws Bernoulli masks cheaply
            return nn.functional.dropout(x, self.p, True)
        n = x.numel()
        words = torch.empty((n + 2) // 3, dtype=torch.int64).random_(0, 2 ** 48)
        low = slice(0, 3) if sys.byteorder == "little" else slice(1, 4)
        numbers = words.view(torch.int16).view(-1, 4)[:, low].reshape(-1)[:n]
        # int16 is signed: the numbers run over [-32768, 32768), so the threshold shifts
        keep = numbers.view(x.shape) >= self._threshold - 32768
        return x * keep.to(x.dtype) * (65536 / (65536 - self._threshold))

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _layer(n_in: int, n_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.ReLU(inplace=True),
                         Dropout(dropout))


class _Block(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.body = nn.Sequential(_layer(width, width, dropout), _layer(width, width, dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _MLPTrunk(nn.Module):
    """The residual MLP's layers (``inp``, ``blocks``, ``out``) on flattened keypoints and
    validity flags, shared by the lifters built on it."""

    def __init__(self, config: LifterConfig, n_in: int, n_out: int, single_frame: str = ""):
        super().__init__()
        self.config = c = config
        if single_frame and (c.num_joints != 17 or c.window != 1):
            raise ValueError(f"{single_frame} lifts single frames (window 1) of the 17 H36M17 "
                             f"joints, not window {c.window} of {c.num_joints} joints")
        self.inp = _layer(n_in, c.width, c.dropout)
        self.blocks = nn.Sequential(*[_Block(c.width, c.dropout) for _ in range(c.blocks)])
        self.out = nn.Linear(c.width, n_out)

    def _trunk(self, keypoints: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, ..., J, 2) keypoints and (B, ..., J) validity -> (B, n_out) float32."""
        b = keypoints.shape[0]
        x = torch.cat([keypoints.reshape(b, -1), valid.reshape(b, -1).to(keypoints.dtype)], 1)
        return self.out(self.blocks(self.inp(x))).float()


class ResidualMLPLifter(_MLPTrunk):
    """Normalized 2D keypoints and their validity -> root-relative 3D joint positions in mm.

    The input is the pose of ``wildpose.normalization.normalize_2d`` (root-centred, unit RMS
    scale) plus a 0/1 validity flag per joint, so missing joints are explicit rather than
    zeros the network must guess about.  The output is standardized by training-set 3D
    statistics held as buffers (training data only, never test data) and returned in mm.

    With ``config.window`` W > 1 it is a video lifter: it reads the W frames around the
    frame it lifts (see :func:`wildpose.temporal.window_indices`), each frame normalized on
    its own, which averages out a detector's jitter.
    """

    def __init__(self, config: LifterConfig | None = None):
        c = config or LifterConfig()
        n_out = (c.num_joints - 1) * 3
        super().__init__(c, c.num_joints * 3 * c.window, n_out)
        self.register_buffer("out_mean", torch.zeros(n_out))
        self.register_buffer("out_std", torch.ones(n_out))

    def set_output_stats(self, pose_3d: torch.Tensor) -> None:
        """Standardize outputs with (N, J, 3) root-relative training poses in mm."""
        flat = pose_3d[:, 1:].reshape(len(pose_3d), -1).to(self.out_mean)
        self.out_mean.copy_(flat.mean(0))
        self.out_std.copy_(flat.std(0).clamp_min(1e-3))

    def _outputs_mm(self, keypoints: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, ..., J, 2) keypoints and validity -> the output layer in mm, (B, n_out)."""
        return self._trunk(keypoints, valid) * self.out_std + self.out_mean

    def forward(self, keypoints: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, J, 2) normalized keypoints, (B, J) bool validity -> (B, J, 3) mm, root = 0.

        A video lifter (window W > 1) takes (B, W, J, 2) and (B, W, J), the frames in time
        order, and returns the middle frame's pose.
        """
        b, j = keypoints.shape[0], self.config.num_joints
        y = self._outputs_mm(keypoints, valid)
        return torch.cat([y.new_zeros(b, 1, 3), y.view(b, j - 1, 3)], 1)
