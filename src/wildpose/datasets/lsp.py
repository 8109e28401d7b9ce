"""Leeds Sports Pose 2D annotations (2D only, no 3D) as a :class:`KeypointSet`.

Reads ``lsp-2d/lsp_dataset_original_train.npz`` (images im0001-im1000, LSP's training half,
in the pixels of the original-resolution images) and ``lsp-2d/lsp_dataset_test.npz``
(im1001-im2000, LSP's test half, in the pixels of the small rescaled images).  Key ``part``
is (1000, 24, 3); only ``[:, :14]`` is filled, in LSP order (layout ``lsp14``); its third
column is 1 everywhere (LSP's visibility was not kept), so every joint is present with
confidence 1.  Key ``imgname`` (if present) gives the ids.

The two halves use different pixel scales: that is harmless because every consumer
normalizes each pose on its own (:func:`wildpose.normalization.normalize_2d`: root-centred,
unit RMS spread), but do not compare raw pixel sizes across the two files.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..skeleton import LSP14
from .h36m import default_data_root
from .keypoint_files import KeypointSet

__all__ = ["load_lsp_2d", "LSP_FILES", "LSP_SPLITS", "default_lsp_dir"]

#: File of each half of LSP.
LSP_FILES = {"train": "lsp_dataset_original_train.npz", "test": "lsp_dataset_test.npz"}
LSP_SPLITS = ("train", "test", "all")


def default_lsp_dir() -> Path:
    """``<data root>/lsp-2d`` (data root: ``$WILDPOSE_DATA``, else ``../shared/data``)."""
    return default_data_root() / "lsp-2d"


def _read_half(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(N, 14, 2) pixels, (N, 14) validity and ids of one LSP .npz file."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no LSP file here (set --data-dir or WILDPOSE_DATA)")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "part" not in z.files:
                raise ValueError(f"{path}: no 'part' entry (entries: {', '.join(z.files)})")
            part = z["part"]
            names = z["imgname"] if "imgname" in z.files else None
    except ValueError as e:
        if str(e).startswith(str(path)):
            raise
        raise ValueError(f"{path}: cannot read as a .npz archive ({e})") from None
    if part.ndim != 3 or part.shape[1] < LSP14.num_joints or part.shape[2] < 2 \
            or part.dtype.kind not in "fiu":
        raise ValueError(f"{path}: 'part' has shape {part.shape} and dtype {part.dtype}; "
                         f"expected numbers of shape (N, >=14, 2 or 3)")
    xy = part[:, :LSP14.num_joints, :2].astype(np.float64)
    valid = np.isfinite(xy).all(-1)
    if part.shape[2] >= 3:
        valid &= part[:, :LSP14.num_joints, 2] > 0
    ids = [str(n) for n in names] if names is not None and len(names) == len(part) \
        else [f"{path.stem}#{i}" for i in range(len(part))]
    return xy, valid, ids


def load_lsp_2d(data_dir: str | os.PathLike | None = None, split: str = "train"
                ) -> KeypointSet:
    """LSP's people as 2D keypoints in layout ``lsp14``.

    Args:
        data_dir: the folder holding the two .npz files (default :func:`default_lsp_dir`).
        split: "train" (im0001-im1000), "test" (im1001-im2000) or "all" (both, train
            first): LSP's own halves.
    Returns:
        :class:`KeypointSet`; ``source`` names the file(s) read.
    """
    if split not in LSP_SPLITS:
        raise ValueError(f"unknown LSP split {split!r}; use one of {', '.join(LSP_SPLITS)}")
    root = Path(data_dir) if data_dir is not None else default_lsp_dir()
    halves = ("train", "test") if split == "all" else (split,)
    parts = [_read_half(root / LSP_FILES[h]) for h in halves]
    xy = np.concatenate([p[0] for p in parts])
    valid = np.concatenate([p[1] for p in parts])
    ids = [i for p in parts for i in p[2]]
    kp = np.where(valid[..., None], xy, 0).astype(np.float32)
    return KeypointSet(kp, valid.astype(np.float32), valid, LSP14, ids,
                       ", ".join(str(root / LSP_FILES[h]) for h in halves))
