"""Zhou et al. 2017's image network: a stacked-hourglass 2D pose network plus depth regression.

:class:`HourglassNet` (Newell et al. 2016) maps a (B, C, S, S) image to one set of joint
heatmaps per stack, (B, J, S/4, S/4), with intermediate supervision, and returns each stack's
intermediate features.  :class:`DepthRegressor` is Zhou et al.'s depth module: it takes the
sum over stacks of the intermediate features and of the heatmaps (each projected to the
feature width by a 1x1 convolution) and regresses one depth per joint.  :class:`ZhouImageNet`
combines both; its 3D pose is ``Y3D = [Y2D, Ydep]`` with Y2D decoded from the last stack's
heatmaps (``wildpose.heatmaps``).

Depth units are whatever the training targets use.  wildpose's convention, shared with
:class:`~wildpose.models.depth_lifter.DepthLifter` and
:func:`wildpose.methods.zhou.depth_targets`, is the normalized units of the pose's 2D
(``wildpose.normalization.normalize_2d``: root-centred, unit RMS scale), root-relative.  Then
``[normalize_2d(Y2D), Ydep]`` is the weak-perspective pose that
:func:`wildpose.losses.geo_loss` (with canonical lengths in the same units) and
``DepthLifter.to_mm`` expect, and the paper's loss weights keep their meaning.

Parameter counts (``ZhouImageNet``, 17 joints, 3 input channels; the hourglass part alone in
brackets):

===========================================================  ====================
config                                                       params
===========================================================  ====================
default: 2 stacks, width 128, hourglass depth 4, 2 blocks    1,785,394 (1,664,290)
1 stack, width 64, depth 3                                     215,393   (182,609)
8 stacks, width 256, depth 4 (Newell et al.'s size)          25,926,296 (25,443,464)
===========================================================  ====================

Parameters do not depend on the input size.  The default takes about 0.62 GMAC per 128 px
image (0.16 at 64 px with depth 3), small enough to train on a CPU at 64-128 px.  The input
size is fixed by the config (the hourglass needs the S/4 map to halve ``depth`` times) and
checked on every call.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from torch import nn


__all__ = ["HourglassConfig", "ZhouImageConfig", "Residual", "Hourglass", "HourglassNet",
           "DepthRegressor", "ZhouImageNet", "ZhouImageOutput"]


@dataclass
class HourglassConfig:
    """Architecture of :class:`HourglassNet`.

    Attributes:
        num_joints: heatmap channels J (H36M17: 17).
        stacks: hourglasses in sequence, each supervised by its own heatmaps.
        width: feature channels inside the hourglasses.
        depth: downsamplings per hourglass (its lowest resolution is S / 4 / 2^depth).
        input_size: S, the side of the square input image in pixels; heatmaps are S / 4.
        in_channels: image channels (3 for RGB).
    """

    num_joints: int = 17
    stacks: int = 2
    width: int = 128
    depth: int = 4
    input_size: int = 128
    in_channels: int = 3

    def __post_init__(self) -> None:
        hm = self.input_size // 4
        if self.input_size % 4 or hm % (2 ** self.depth) or hm < 2 ** self.depth:
            raise ValueError(f"input_size {self.input_size} must be 4 * a multiple of "
                             f"2^depth = {2 ** self.depth}")
        if min(self.num_joints, self.stacks, self.width, self.depth, self.in_channels) < 1:
            raise ValueError(f"every size in {self} must be at least 1")
        if self.width % 2:
            raise ValueError(f"width must be even (residual bottlenecks halve it), not "
                             f"{self.width}")

    @property
    def heatmap_size(self) -> int:
        """Side of the heatmaps in cells (S / 4)."""
        return self.input_size // 4

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ZhouImageConfig(HourglassConfig):
    """Architecture of :class:`ZhouImageNet`: the hourglass fields plus the depth module.

    Attributes:
        depth_blocks: residual blocks of the depth module, each followed by 2x2 max-pooling.
        depth_pool: the depth module's last feature map is average-pooled to
            ``depth_pool x depth_pool`` before its fully connected layer (keeps some layout
            and makes the layer independent of the input size).
        root_joint: this joint's depth is 0 by construction (root-relative depth, H36M17's
            pelvis is 0); -1 regresses all J depths freely.
    """

    depth_blocks: int = 2
    depth_pool: int = 2
    root_joint: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.heatmap_size < 2 ** self.depth_blocks * self.depth_pool:
            raise ValueError(f"heatmaps of {self.heatmap_size} cells are too small for "
                             f"{self.depth_blocks} poolings to {self.depth_pool}x"
                             f"{self.depth_pool}")
        if not -1 <= self.root_joint < self.num_joints:
            raise ValueError(f"root_joint {self.root_joint} is not a joint index or -1")


# ----------------------------------------------------------------------------- blocks
class Residual(nn.Module):
    """Pre-activation bottleneck residual module: (B, c_in, H, W) -> (B, c_out, H, W)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        mid = max(c_out // 2, 1)
        self.body = nn.Sequential(
            nn.BatchNorm2d(c_in), nn.ReLU(inplace=True), nn.Conv2d(c_in, mid, 1),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, mid, 3, padding=1),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, c_out, 1))
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


class Hourglass(nn.Module):
    """One hourglass of ``depth`` levels: (B, width, h, w) -> (B, width, h, w), h and w
    divisible by 2^depth.  Each level keeps a full-resolution branch and adds the upsampled
    result of the next-coarser level, so every scale's information reaches the output."""

    def __init__(self, depth: int, width: int):
        super().__init__()
        self.skip = Residual(width, width)
        self.down = Residual(width, width)
        self.inner = Hourglass(depth - 1, width) if depth > 1 else Residual(width, width)
        self.up = Residual(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.up(self.inner(self.down(nn.functional.max_pool2d(x, 2))))
        return self.skip(x) + nn.functional.interpolate(low, scale_factor=2, mode="nearest")


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class HourglassNet(nn.Module):
    """Stacked hourglasses: (B, C, S, S) image -> per-stack heatmaps and features.

    The stem (7x7 stride-2 convolution, residual, max-pool, residuals) brings the image to
    S / 4.  Each stack's heatmaps are a 1x1 convolution of its features; between stacks, the
    features and heatmaps are projected back and added to the stack's input, so the next
    hourglass refines the previous estimate.

    Input images are expected in [0, 1] per channel and standardized inside with the buffers
    ``image_mean``/``image_std`` (C,), 0.5 and 0.25 unless set from training data, so a saved
    model carries its own input normalization.
    """

    def __init__(self, config: HourglassConfig | None = None):
        super().__init__()
        self.config = config or HourglassConfig()
        c = self.config
        w = c.width
        self.stem = nn.Sequential(
            nn.Conv2d(c.in_channels, w // 2, 7, stride=2, padding=3), nn.BatchNorm2d(w // 2),
            nn.ReLU(inplace=True), Residual(w // 2, w // 2), nn.MaxPool2d(2),
            Residual(w // 2, w // 2), Residual(w // 2, w))
        self.hourglasses = nn.ModuleList(Hourglass(c.depth, w) for _ in range(c.stacks))
        self.features = nn.ModuleList(
            nn.Sequential(Residual(w, w), _conv_bn_relu(w, w)) for _ in range(c.stacks))
        self.heads = nn.ModuleList(nn.Conv2d(w, c.num_joints, 1) for _ in range(c.stacks))
        self.merge_features = nn.ModuleList(nn.Conv2d(w, w, 1) for _ in range(c.stacks - 1))
        self.merge_heatmaps = nn.ModuleList(
            nn.Conv2d(c.num_joints, w, 1) for _ in range(c.stacks - 1))
        self.register_buffer("image_mean", torch.full((c.in_channels,), 0.5))
        self.register_buffer("image_std", torch.full((c.in_channels,), 0.25))

    def check_input(self, images: torch.Tensor) -> None:
        """Raise ValueError unless ``images`` is (B, C, S, S) for this config."""
        c = self.config
        want = (c.in_channels, c.input_size, c.input_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != want:
            raise ValueError(f"images must have shape (B, {want[0]}, {want[1]}, {want[2]}); "
                             f"got {tuple(images.shape)}")

    def forward(self, images: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(B, C, S, S) images in [0, 1] -> ``(heatmaps, features)``: lists of one
        (B, J, S/4, S/4) and one (B, width, S/4, S/4) tensor per stack, first to last."""
        self.check_input(images)
        x = (images - self.image_mean[:, None, None]) / self.image_std[:, None, None]
        x = self.stem(x)
        heatmaps, features = [], []
        for i in range(self.config.stacks):
            f = self.features[i](self.hourglasses[i](x))
            h = self.heads[i](f)
            features.append(f)
            heatmaps.append(h)
            if i < self.config.stacks - 1:
                x = x + self.merge_features[i](f) + self.merge_heatmaps[i](h)
        return heatmaps, features


class DepthRegressor(nn.Module):
    """Zhou et al.'s depth module: per-stack features and heatmaps -> per-joint depth.

    Its input is ``sum_s features_s + sum_s P_s(heatmaps_s)`` with P_s a 1x1 convolution
    from J to ``width`` channels; then ``depth_blocks`` x (residual, 2x2 max-pool), average
    pooling to ``depth_pool`` x ``depth_pool`` and a fully connected layer.
    """

    def __init__(self, config: ZhouImageConfig):
        super().__init__()
        self.config = c = config
        w = c.width
        self.project = nn.ModuleList(nn.Conv2d(c.num_joints, w, 1) for _ in range(c.stacks))
        self.blocks = nn.Sequential(*(nn.Sequential(Residual(w, w), nn.MaxPool2d(2))
                                      for _ in range(c.depth_blocks)))
        self.pool = nn.Sequential(nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                                  nn.AdaptiveAvgPool2d(c.depth_pool), nn.Flatten())
        n_out = c.num_joints - (1 if c.root_joint >= 0 else 0)
        self.out = nn.Linear(w * c.depth_pool ** 2, n_out)

    def forward(self, heatmaps: list[torch.Tensor], features: list[torch.Tensor]
                ) -> torch.Tensor:
        """Per-stack (B, J, h, w) heatmaps and (B, width, h, w) features -> (B, J) depth,
        in the units of the training targets; ``root_joint``'s depth is exactly 0."""
        x = sum(features) + sum(p(h) for p, h in zip(self.project, heatmaps))
        d = self.out(self.pool(self.blocks(x))).float()
        r = self.config.root_joint
        if r < 0:
            return d
        zero = d.new_zeros(len(d), 1)
        return torch.cat([d[:, :r], zero, d[:, r:]], 1)


class ZhouImageOutput(NamedTuple):
    """What :class:`ZhouImageNet` returns.

    Attributes:
        heatmaps: per stack, (B, J, S/4, S/4) (the last is the final estimate).
        features: per stack, (B, width, S/4, S/4) intermediate features.
        depth: (B, J) per-joint depth in the units of the training targets, root 0.
    """

    heatmaps: list[torch.Tensor]
    features: list[torch.Tensor]
    depth: torch.Tensor


class ZhouImageNet(nn.Module):
    """Zhou et al. 2017's image network: stacked hourglass + depth regression module.

    ``model(images)`` returns a :class:`ZhouImageOutput` (decoded to pixels and millimetres
    by :mod:`wildpose.methods.zhou_image.predictor`).  Saved and loaded by ``wildpose.zoo``
    (architecture ``"zhou_image"``).
    """

    def __init__(self, config: ZhouImageConfig | None = None):
        super().__init__()
        self.config = config or ZhouImageConfig()
        self.hourglass = HourglassNet(self.config)
        self.depth_head = DepthRegressor(self.config)

    def forward(self, images: torch.Tensor) -> ZhouImageOutput:
        """(B, C, S, S) images in [0, 1] -> heatmaps, features (per stack) and depth."""
        heatmaps, features = self.hourglass(images)
        return ZhouImageOutput(heatmaps, features, self.depth_head(heatmaps, features))
