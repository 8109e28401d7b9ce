"""Temporal filtering of keypoint sequences (videos, Human3.6M sequences).

A single-image lifter sees each frame alone, so a detector's frame-to-frame jitter goes
straight into the 3D.  When the frames come from a video, smoothing the 2D along time before
lifting removes much of that jitter.  :func:`smooth_sequences` is an offline, zero-lag
Gaussian filter (the whole sequence is known); the online filter for live video is
:class:`wildpose.predict.OneEuroFilter`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gaussian_kernel", "smooth_sequences"]


def gaussian_kernel(sigma: float) -> np.ndarray:
    """(2r+1,) normalized Gaussian weights, r = ceil(3 sigma); sigma in frames (> 0)."""
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 frames, got {sigma}")
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return k / k.sum()


def _smooth_one(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Smooth one sequence (T, ...) along axis 0, NaN entries left out of the averages.

    The ends are padded by point reflection (x[-k] = 2 x[0] - x[k]), which continues a
    straight-line motion, so a person moving at constant speed is not pulled back at the
    first and last frames as plain mirroring would do.
    """
    t, r = len(x), len(kernel) // 2
    if t < 2:
        return x.copy()
    # A sequence shorter than the kernel is padded by repeated reflection of what exists.
    pad = min(r, t - 1)
    head = 2 * x[:1] - x[pad:0:-1]
    tail = 2 * x[-1:] - x[-2:-pad - 2:-1]
    xp = np.concatenate([head, x, tail])
    k = kernel[r - pad:r + pad + 1]
    ok = np.isfinite(xp)
    vals = np.where(ok, xp, 0.0)
    num = np.zeros_like(x, dtype=np.float64)
    den = np.zeros_like(x, dtype=np.float64)
    for i, w in enumerate(k):
        num += w * vals[i:i + t]
        den += w * ok[i:i + t]
    out = num / np.where(den > 0, den, 1.0)
    # A missing value stays missing: smoothing should not invent a joint the detector lost.
    return np.where(np.isfinite(x), out, np.nan).astype(x.dtype)


def smooth_sequences(values: np.ndarray, sequence: np.ndarray, order: np.ndarray,
                     sigma: float) -> np.ndarray:
    """Gaussian-smooth rows of many sequences along time, each sequence on its own.

    Args:
        values: (N, ...) float, e.g. (N, J, 2) keypoints in pixels; NaN = missing.
        sequence: (N,) sequence label of each row (any type numpy can compare).
        order: (N,) time index of each row (e.g. the frame number); rows need not be sorted.
        sigma: standard deviation in rows of a sequence (frames; at 50 fps, sigma 5 is
            0.1 s).  0 returns a copy.
    Returns:
        (N, ...) smoothed values, in the rows' original order.
    """
    values = np.asarray(values)
    sequence, order = np.asarray(sequence), np.asarray(order)
    if len(sequence) != len(values) or len(order) != len(values):
        raise ValueError(f"{len(values)} rows of values but {len(sequence)} sequence labels "
                         f"and {len(order)} time indices")
    if sigma == 0:
        return values.copy()
    kernel = gaussian_kernel(sigma)
    out = np.empty_like(values)
    _, inverse = np.unique(sequence, return_inverse=True)
    for s in range(inverse.max() + 1 if len(inverse) else 0):
        rows = np.flatnonzero(inverse == s)
        rows = rows[np.argsort(order[rows], kind="stable")]
        out[rows] = _smooth_one(values[rows], kernel)
    return out
