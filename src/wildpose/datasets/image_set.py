"""Person crops with their 2D (and, for 3D-labelled ones, 3D and depth) labels, in memory:
what the image network (:mod:`wildpose.methods.zhou_image`) trains and is scored on, whether
rendered (:mod:`wildpose.methods.zhou_image.synthetic`) or real
(:mod:`wildpose.datasets.images`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import depth_targets
from ..normalization import normalize_2d
from ..skeleton import H36M17

__all__ = ["ImageSet", "image_set_from_renders"]


@dataclass
class ImageSet:
    """Rendered samples in memory.

    Attributes:
        images: (N, S, S, 3) uint8 RGB.
        joints_2d: (N, 17, 2) float32 pixels, H36M17 order (known even outside the image).
        pose_mm: (N, 17, 3) float32 root-relative camera-frame mm, or None (2D-only).
        depth: (N, 17) float32 root-relative depth targets, normalized 2D units, or None.
        visible: (N, 17) bool joints with a 2D label inside the image, or None (all of them;
            the renders).  Invisible joints get no heatmap target and are left out of L_geo;
            their ``joints_2d`` are meaningless on 2D-only sets, projections on 3D ones.
        group: (N,) str, the recording each sample comes from (real crops: a Human3.6M
            ``"S<subject>/<action>"`` sequence, else the image file), or None (the renders,
            each independent).  Validation holds out whole groups (:func:`prepare_image_data`).
    """

    images: np.ndarray
    joints_2d: np.ndarray
    pose_mm: np.ndarray | None = None
    depth: np.ndarray | None = None
    visible: np.ndarray | None = None
    group: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images)

    def pose_norm(self) -> np.ndarray:
        """(N, 17, 3) ``[normalize_2d(Y2D), depth]`` (3D samples only)."""
        norm, _, _ = normalize_2d(self.joints_2d, np.ones(self.joints_2d.shape[:2], bool))
        return np.concatenate([norm, self.depth[..., None]], -1).astype(np.float32)


def image_set_from_renders(arrays: dict[str, np.ndarray], keep_3d: bool) -> ImageSet:
    """Rendered arrays (``prerender``'s keys) -> :class:`ImageSet` with depth targets."""
    kp = np.asarray(arrays["joints_2d"], np.float32)
    if not keep_3d:
        return ImageSet(np.asarray(arrays["image"]), kp)
    cam = np.asarray(arrays["joints_3d"], np.float32)
    pose = cam - cam[:, H36M17.root:H36M17.root + 1]
    valid = np.ones(kp.shape[:2], bool)
    norm, _, _ = normalize_2d(kp, valid)
    depth, _ = depth_targets(pose, norm, valid)
    return ImageSet(np.asarray(arrays["image"]), kp, pose.astype(np.float32), depth)
