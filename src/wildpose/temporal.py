"""Temporal filtering of keypoint sequences (videos, Human3.6M sequences).

A single-image lifter sees each frame alone, so a detector's frame-to-frame jitter goes
straight into the 3D.  When the frames come from a video, smoothing the 2D along time before
lifting removes much of that jitter.  :func:`smooth_sequences` is an offline, zero-lag
Gaussian filter (the whole sequence is known); the online filter for live video is
:class:`OneEuroFilter` (at the end of this module).  :func:`window_indices` gathers each frame's
neighbours for a lifter that looks at a window of frames (``LifterConfig.window``).
:func:`constant_bone_lengths` uses the other side of a video: one person's bones keep their
length in every frame, so each 3D frame's bones are set to the sequence's median lengths.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .skeleton import get_layout, set_bone_lengths

__all__ = ["gaussian_kernel", "smooth_sequences", "window_indices", "check_window_steps",
           "constant_bone_lengths", "OneEuroFilter"]


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


def window_indices(sequence: np.ndarray, order: np.ndarray, window: int, step: int = 1
                   ) -> np.ndarray:
    """Row indices of each row's temporal window within its own sequence.

    Args:
        sequence: (N,) sequence label of each row; order: (N,) time index (rows need not
            be sorted).
        window: frames per window (odd, >= 1); the row itself is the middle one.
        step: rows of the sequence between neighbouring window frames (>= 1), counted in
            the sequence's sorted rows, so at stride 1 on 50 fps data step 4 is 80 ms.
    Returns:
        (N, window) int64 indices into the N rows: entry k of row i is the row
        ``(k - window // 2) * step`` places from i in i's sequence.  Near either end the
        first or last row is repeated, so a window never crosses into another sequence
        (edge padding, as in VideoPose3D's temporal model).
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be an odd number of frames >= 1, got {window}")
    if step < 1:
        raise ValueError(f"window step must be >= 1 rows, got {step}")
    sequence, order = np.asarray(sequence), np.asarray(order)
    if len(order) != len(sequence):
        raise ValueError(f"{len(sequence)} sequence labels but {len(order)} time indices")
    n = len(sequence)
    if window == 1:  # a single-image lifter: each row alone, no sorting needed
        return np.arange(n, dtype=np.int64)[:, None]
    offsets = (np.arange(window) - window // 2) * step
    if n == 0:
        return np.zeros((0, window), np.int64)
    _, inverse = np.unique(sequence, return_inverse=True)
    # Sort by (sequence, time): each sequence becomes one contiguous run of positions.
    by_time = np.lexsort((order, inverse))
    seq_sorted = inverse[by_time]
    starts = np.flatnonzero(np.r_[True, seq_sorted[1:] != seq_sorted[:-1]])
    lengths = np.diff(np.r_[starts, n])
    first = np.repeat(starts, lengths)                  # (N,) per sorted position
    last = first + np.repeat(lengths, lengths) - 1
    pos = np.arange(n)[:, None] + offsets[None]
    pos = np.clip(pos, first[:, None], last[:, None])
    out = np.empty((n, window), np.int64)
    out[by_time] = by_time[pos]
    return out


def check_window_steps(steps: Any, name: str = "window_steps") -> tuple[int, ...]:
    """Steps (frames apart) to read a video lifter's window at, as a tuple of ints >= 1.

    Raises ValueError, naming ``name``, unless ``steps`` is one or more whole numbers >= 1.
    """
    try:
        values = [float(s) for s in np.atleast_1d(np.asarray(steps, dtype=object))]
    except (TypeError, ValueError):
        values = []
    if not values or any(not np.isfinite(v) or v != int(v) or v < 1 for v in values):
        raise ValueError(f"{name} must be whole numbers of frames >= 1, got {steps!r}")
    return tuple(int(v) for v in values)


def _median_per_sequence(values: np.ndarray, sequence: np.ndarray) -> np.ndarray:
    """(N, K) values -> (N, K) NaN-ignoring median over each row's sequence."""
    out = np.full_like(values, np.nan)
    _, inverse = np.unique(sequence, return_inverse=True)
    for s in range(inverse.max() + 1 if len(inverse) else 0):
        rows = inverse == s
        with warnings.catch_warnings():  # an all-NaN column is reported as NaN, not warned
            warnings.simplefilter("ignore", RuntimeWarning)
            out[rows] = np.nanmedian(values[rows], axis=0)
    return out


def constant_bone_lengths(poses: np.ndarray, sequence: np.ndarray,
                          skeleton: str = "h36m17", symmetric: bool = False) -> np.ndarray:
    """Video post-processing: every frame's bones set to their sequence's median length.

    A single-frame (or short-window) lifter guesses each frame's body size anew, so one
    person's forearm grows and shrinks along a video.  The median over the sequence is a
    steadier estimate of the person's bones; each frame keeps its bone directions
    (:func:`wildpose.skeleton.set_bone_lengths`).  It needs the whole sequence (offline).

    Args:
        poses: (N, J, 3) root-relative poses (mm); NaN rows stay NaN.
        sequence: (N,) sequence label of each row (rows need not be sorted).
        symmetric: also give a bone and its mirror image (left and right upper arm, ...)
            the mean of their two medians: a person's left and right bones are (nearly) the
            same length, as in Human3.6M's fitted skeletons, so each side's estimate helps
            the other's.  If one of the two has no median, both take the other's.
    Returns:
        (N, J, 3) poses in the dtype of ``poses``; a bone that has no median (NaN in every
        row of its sequence) keeps each row's own length.
    """
    poses, sequence = np.asarray(poses), np.asarray(sequence)
    if len(sequence) != len(poses):
        raise ValueError(f"{len(poses)} poses but {len(sequence)} sequence labels")
    layout = get_layout(skeleton)
    own = layout.bone_lengths(poses.astype(np.float64))
    median = _median_per_sequence(own, sequence)
    if symmetric:  # the pair's mean, or the one side that has a median
        mirror = median[:, layout.mirror_bones()]
        median = np.where(np.isnan(median), mirror,
                          np.where(np.isnan(mirror), median, (median + mirror) / 2))
    fixed = set_bone_lengths(poses, np.where(np.isfinite(median), median, own), skeleton)
    return fixed.astype(poses.dtype if poses.dtype.kind == "f" else np.float64)


# --------------------------------------------------------------------------- online filtering


class OneEuroFilter:
    """The One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) over arrays of any shape.

    A low-pass filter whose cut-off frequency rises with the signal's speed: jitter is
    smoothed while the signal is slow, lag stays small when it moves fast.  Each element is
    filtered independently.  Units: ``values / scale`` per second for ``beta``; `wildpose predict`'s
    video pipeline filters each track's 2D keypoints with ``scale`` = the image height, so ``beta`` is per
    image-height-per-second and the filter behaves the same at every resolution.

    Args:
        fps: samples per second.
        min_cutoff: cut-off (Hz) at rest; lower = smoother, more lag.
        beta: how fast the cut-off rises with speed.
        d_cutoff: cut-off (Hz) of the speed estimate.
        scale: values are divided by this before the speed is taken.
    """

    def __init__(self, fps: float, min_cutoff: float = 1.0, beta: float = 5.0,
                 d_cutoff: float = 1.0, scale: float = 1.0):
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps, self.min_cutoff, self.beta, self.d_cutoff = fps, min_cutoff, beta, d_cutoff
        self.scale = scale
        self.reset()

    def reset(self) -> None:
        """Forget the past (e.g. after frames with nobody in them)."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def _alpha(self, cutoff: Any) -> Any:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * self.fps)

    def __call__(self, x: Any) -> np.ndarray:
        """Filter the next sample.  A NaN element (e.g. a joint not seen in this frame) stays
        NaN and leaves that element's state untouched; an element seen for the first time
        (or again after NaN state) starts from its value."""
        x = np.asarray(x, np.float64) / self.scale
        if self._x is None or self._x.shape != x.shape:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            return x * self.scale
        seen = np.isfinite(x)
        fresh = seen & ~np.isfinite(self._x)
        self._x = np.where(fresh, x, self._x)
        self._dx = np.where(fresh, 0.0, self._dx)
        with np.errstate(invalid="ignore"):
            dx = (x - self._x) * self.fps
            a_d = self._alpha(self.d_cutoff)
            new_dx = a_d * dx + (1 - a_d) * self._dx
            a = self._alpha(self.min_cutoff + self.beta * np.abs(new_dx))
            new_x = a * x + (1 - a) * self._x
        self._dx = np.where(seen, new_dx, self._dx)
        self._x = np.where(seen, new_x, self._x)
        return np.where(seen, self._x, np.nan) * self.scale
