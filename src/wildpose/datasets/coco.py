"""2D-only training samples from COCO-format keypoint files (e.g. ``coco-mini``, or a user's
own COCO json), in the H36M17 layout every wildpose lifter eats.

COCO has no pelvis, spine, thorax or head top: H36M17's ``Hip`` is the mid-hips, ``Spine``
the mean of the four torso corners, ``Thorax`` the mid-shoulders and ``Head`` the mid-ears
(see ``wildpose.skeleton``).  A synthesized joint is valid only if every COCO joint it is made
from is labelled.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from ..skeleton import H36M17
from .keypoint_files import read_keypoints

__all__ = ["load_coco_2d"]


def load_coco_2d(path: str | os.PathLike, min_valid_joints: int = 8, require_root: bool = True,
                 notes: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read the people of a COCO keypoint file as H36M17 2D samples.

    Args:
        path: a COCO keypoint json (full file, list of annotations or one annotation); any
            other file :func:`~wildpose.datasets.keypoint_files.read_keypoints` reads works too.
        min_valid_joints: people with fewer valid H36M17 joints are skipped.
        require_root: also skip people whose pelvis (both hips) is not labelled, since the
            2D normalization centres every pose on it.
        notes: if given, one line per kind of skip is appended (also issued as a warning).
    Returns:
        ``(keypoints, valid)``: (N, 17, 2) float32 pixels in H36M17 order (0 where invalid)
        and (N, 17) bool.
    Raises:
        ValueError: one line naming the file, for an unreadable file, a file with no persons,
            or a file whose persons are all skipped.
    """
    ks = read_keypoints(path)
    n_read = len(ks)
    h = ks.to_layout(H36M17)
    count = h.valid.sum(1)
    few = count < min_valid_joints
    no_root = ~h.valid[:, H36M17.root] & ~few if require_root else np.zeros_like(few)
    keep = ~few & ~no_root
    msgs = []
    if ks.skipped:
        msgs.append(f"{path}: skipped {len(ks.skipped)} malformed or empty annotation(s) "
                    f"(first: {ks.skipped[0]})")
    if few.any():
        msgs.append(f"{path}: skipped {int(few.sum())} of {n_read} person(s) with fewer than "
                    f"{min_valid_joints} valid H36M17 joints")
    if no_root.any():
        msgs.append(f"{path}: skipped {int(no_root.sum())} of {n_read} person(s) without "
                    f"both hips (no pelvis to centre on)")
    for m in msgs:
        warnings.warn(m, stacklevel=2)
    if notes is not None:
        notes.extend(msgs)
    if not keep.any():
        raise ValueError(f"{path}: no usable person: all {n_read} person(s) skipped (fewer "
                         f"than {min_valid_joints} valid joints"
                         f"{' or no pelvis' if require_root else ''})")
    kp = np.where(h.valid[keep][..., None], h.keypoints[keep], 0).astype(np.float32)
    return kp, h.valid[keep].copy()
