"""2D input normalization shared by every lifter: root-centred, scale-normalized keypoints.

Normalizing each pose by itself, rather than by dataset pixel statistics, makes a lifter
independent of image size, camera intrinsics and the person's distance, so one model serves
Human3.6M frames, COCO photos and users' own keypoints.  It uses no 3D at all, so it is the
same at training and test time.  Zhou et al.'s weak-perspective depth and Iqbal et al.'s
normalized 2D pose space are defined in these units.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["normalize_2d", "denormalize_2d"]


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def normalize_2d(keypoints: Any, valid: Any, root: int = 0, eps: float = 1e-6):
    """Centre 2D keypoints on the root joint and divide by their RMS distance from it.

    Args:
        keypoints: (..., J, 2) pixels (numpy or torch); invalid joints may hold anything.
        valid: (..., J) bool, which joints are present.
        root: index of the root joint (pelvis); if it is invalid the centroid of the valid
            joints is used instead.
    Returns:
        ``(normalized, center, scale)``: (..., J, 2) unitless keypoints (0 where invalid),
        (..., 2) centre in pixels and (...,) scale in pixels, so that
        ``keypoints = normalized * scale + center`` on valid joints.
    """
    if _is_torch(keypoints):
        import torch  # only with torch input: numpy callers never import torch

        w = valid.to(keypoints.dtype)[..., None]
        kp = torch.where(valid[..., None], keypoints, torch.zeros_like(keypoints))
        count = w.sum(-2).clamp_min(1.0)
        centroid = kp.sum(-2) / count
        center = torch.where(valid[..., root, None], kp[..., root, :], centroid)
        d2 = (((kp - center[..., None, :]) ** 2).sum(-1, keepdim=True) * w).sum(-2) / count
        scale = d2[..., 0].clamp_min(eps).sqrt()
        out = (kp - center[..., None, :]) / scale[..., None, None] * w
        return out, center, scale
    kp = np.asarray(keypoints)
    if not np.issubdtype(kp.dtype, np.floating):
        kp = kp.astype(np.float64)  # integer pixels: the result must not be cast back to int
    valid = np.asarray(valid, bool)
    w = valid[..., None].astype(kp.dtype)
    kp = np.where(valid[..., None], kp, 0)
    count = np.maximum(w.sum(-2), 1.0)
    centroid = kp.sum(-2) / count
    center = np.where(valid[..., root, None], kp[..., root, :], centroid)
    d2 = (((kp - center[..., None, :]) ** 2).sum(-1, keepdims=True) * w).sum(-2) / count
    scale = np.sqrt(np.maximum(d2[..., 0], eps))
    out = (kp - center[..., None, :]) / scale[..., None, None] * w
    return out.astype(kp.dtype), center, scale


def denormalize_2d(normalized: Any, center: Any, scale: Any) -> Any:
    """Inverse of :func:`normalize_2d`: (..., J, 2) unitless -> pixels."""
    return normalized * scale[..., None, None] + center[..., None, :]
