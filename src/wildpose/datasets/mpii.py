"""MPII Human Pose 2D annotations (2D only, no 3D) as a :class:`KeypointSet`.

Reads the flat CSV copy ``mpii-2d/mpii_human_pose.csv`` of the data folder: one row per
annotated person, columns ``ID, NAME`` (image file), 16 joints as ``<joint>_X, <joint>_Y``
pixels in MPII order (= layout ``mpii16``: see :data:`wildpose.skeleton.MPII16` for which MPII
joint each slot holds), then ``Scale``, ``Activity`` and ``Category``.

* A joint is missing when both its coordinates are -1 (MPII's marker).  Other negative
  values are real positions just outside the image and are kept.  There are no visibility
  flags: a present joint has confidence 1.
* Split, by image: an image is in "val" when ``zlib.crc32(NAME) % 10 == 0`` (about 10 % of
  the images, the same on every machine and Python version), else in "train".  "all" is
  every row.
"""

from __future__ import annotations

import csv
import os
import zlib
from pathlib import Path

import numpy as np

from ..skeleton import MPII16
from .h36m import default_data_root
from .keypoint_files import KeypointSet

__all__ = ["load_mpii_2d", "mpii_split", "MPII_SPLITS", "default_mpii_path"]

MPII_SPLITS = ("train", "val", "all")

#: Column name prefixes of the 16 joints, in the CSV's (= MPII16's) order.
_MPII_COLUMNS = ("r ankle", "r knee", "r hip", "l hip", "l knee", "l ankle", "pelvis", "thorax",
                 "upper neck", "head top", "r wrist", "r elbow", "r shoulder", "l shoulder",
                 "l elbow", "l wrist")


def default_mpii_path() -> Path:
    """``<data root>/mpii-2d/mpii_human_pose.csv`` (data root: ``$WILDPOSE_DATA``, else
    ``../shared/data``)."""
    return default_data_root() / "mpii-2d" / "mpii_human_pose.csv"


def mpii_split(image_names: list[str]) -> np.ndarray:
    """(N,) str array "train" / "val" per image name: "val" iff crc32(name) % 10 == 0."""
    return np.array(["val" if zlib.crc32(n.encode("utf-8")) % 10 == 0 else "train"
                     for n in image_names])


def load_mpii_2d(path: str | os.PathLike | None = None, split: str = "train") -> KeypointSet:
    """MPII's annotated people as 2D keypoints in layout ``mpii16``.

    Args:
        path: the CSV (default :func:`default_mpii_path`).
        split: "train", "val" or "all" (see the module docstring for the rule).
    Returns:
        :class:`KeypointSet` with ids ``"<NAME> / <ID>"``, ``image_files`` the image names,
        and ``meta["activity"]``, ``meta["category"]`` and ``meta["scale"]`` (person height
        / 200 px, as text) per row.  Missing joints are invalid (coordinates 0).
    Raises:
        FileNotFoundError / ValueError: one line naming the file and the problem (missing
        file, wrong header, a row that is not numbers, an unknown split, no rows).
    """
    if split not in MPII_SPLITS:
        raise ValueError(f"unknown MPII split {split!r}; use one of {', '.join(MPII_SPLITS)}")
    p = Path(path) if path is not None else default_mpii_path()
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no MPII annotation CSV here (set --data-dir or "
                                f"WILDPOSE_DATA)")
    with open(p, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{p}: empty file, expected an MPII CSV header")
    header = [h.strip() for h in rows[0]]
    coords = [f"{j}_{a}" for j in _MPII_COLUMNS for a in ("X", "Y")]
    need = ["ID", "NAME", *coords, "Scale", "Activity", "Category"]
    absent = [c for c in need if c not in header]
    if absent:
        raise ValueError(f"{p}: not an MPII CSV: columns {', '.join(absent[:4])}"
                         f"{' ...' if len(absent) > 4 else ''} are missing")
    col = {c: header.index(c) for c in need}
    body = [r for r in rows[1:] if any(v.strip() for v in r)]
    short = next((i for i, r in enumerate(body) if len(r) < len(header)), None)
    if short is not None:
        raise ValueError(f"{p}: row {short + 2} has {len(body[short])} fields, expected "
                         f"{len(header)}")
    if not body:
        raise ValueError(f"{p}: no annotation rows")
    try:
        xy = np.array([[float(r[col[c]]) for c in coords] for r in body], np.float64)
    except ValueError as e:
        raise ValueError(f"{p}: a joint coordinate is not a number ({e})") from None
    xy = xy.reshape(len(body), MPII16.num_joints, 2)
    names = [r[col["NAME"]] for r in body]
    valid = ~(xy == -1).all(-1) & np.isfinite(xy).all(-1)
    people = KeypointSet(np.where(valid[..., None], xy, 0).astype(np.float32),
                         valid.astype(np.float32), valid, MPII16,
                         [f"{r[col['NAME']]} / {r[col['ID']]}" for r in body], str(p),
                         image_files=names, meta={k.lower(): [r[col[k]] for r in body]
                                                  for k in ("Activity", "Category", "Scale")})
    return people if split == "all" else people.select(mpii_split(names) == split)
