"""2D input normalization shared by every lifter: root-centred, scale-normalized keypoints.

Normalizing each pose by itself, rather than by dataset pixel statistics, makes a lifter
independent of image size, camera intrinsics and the person's distance, so one model serves
Human3.6M frames, COCO photos and users' own keypoints.  It uses no 3D at all, so it is the
same at training and test time.  Zhou et al.'s weak-perspective depth and Iqbal et al.'s
normalized 2D pose space are defined in these units.

A video lifter may instead normalize a whole window of frames with one transform
(:func:`normalize_window`), which keeps how the body moves and changes size within the window.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["normalize_2d", "normalize_window", "denormalize_2d", "WINDOW_NORMS"]

#: How a video lifter's input windows are normalized: each frame by :func:`normalize_2d`, or
#: each window by :func:`normalize_window` (``LifterConfig.window_norm``).
WINDOW_NORMS = ("frame", "window")


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
        import torch

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


def normalize_window(keypoints: Any, valid: Any, root: int = 0, eps: float = 1e-6):
    """Normalize each window of frames with one shared transform instead of frame by frame.

    The centre is the middle frame's (its root joint, as in :func:`normalize_2d`) and the
    scale is the median over the window's frames of each frame's RMS scale, so the result
    still says how the person moved across the image and grew or shrank (sitting down,
    walking towards the camera), which per-frame normalization throws away; the median
    keeps one frame's misdetected joint from rescaling the whole window.

    Args:
        keypoints: (..., W, J, 2) pixels (numpy or torch), the frames in time order; invalid
            joints may hold anything finite.
        valid: (..., W, J) bool.
    Returns:
        ``(normalized, center, scale)``: (..., W, J, 2) unitless keypoints (0 where
        invalid), (..., 2) the middle frame's centre in pixels and (...,) the shared scale
        in pixels (1 for a window with no valid joint at all).
    """
    _, center, scale = normalize_2d(keypoints, valid, root, eps)  # (..., W, 2), (..., W)
    mid = keypoints.shape[-3] // 2
    c = center[..., mid, :]
    if _is_torch(keypoints):
        import torch

        s = torch.where(valid.any(-1), scale, torch.full_like(scale, float("nan")))
        s = torch.nan_to_num(s.nanmedian(-1).values, nan=1.0)  # the lower median
        kp = torch.where(valid[..., None], keypoints, torch.zeros_like(keypoints))
        out = (kp - c[..., None, None, :]) / s[..., None, None, None]
        return out * valid[..., None].to(out.dtype), c, s
    kp = np.asarray(keypoints)
    if not np.issubdtype(kp.dtype, np.floating):
        kp = kp.astype(np.float64)
    valid = np.asarray(valid, bool)
    s = np.where(valid.any(-1), scale, np.nan)
    have = ~np.isnan(s).all(-1)
    s = np.where(have[..., None], s, 1.0)  # nanquantile warns on an all-NaN window
    # The lower median, as torch.nanmedian takes, so that both backends agree exactly.
    s = np.nanquantile(s, 0.5, axis=-1, method="lower").astype(kp.dtype)
    kp = np.where(valid[..., None], kp, 0)
    out = (kp - c[..., None, None, :]) / s[..., None, None, None] * valid[..., None]
    return out.astype(kp.dtype), c, s


def denormalize_2d(normalized: Any, center: Any, scale: Any) -> Any:
    """Inverse of :func:`normalize_2d`: (..., J, 2) unitless -> pixels."""
    return normalized * scale[..., None, None] + center[..., None, :]
