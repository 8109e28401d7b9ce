"""Synthetic training images rendered from mocap poses.

Bodies are drawn from Human3.6M-17 poses (:mod:`wildpose.mocap.sources`, canonical body frame,
mm) through a random pinhole camera as shaded volumes: capsules for the limbs and ellipsoids
for the head and torso.  Every pixel casts a ray, so occlusion is exact (a per-pixel depth
buffer) and shading is Lambertian from the true surface normal.  Work is done per volume on
the pixels of its projected bounding box only, so a 128 px image takes a few milliseconds.

Two styles:

* ``"lab"``: a plain, slightly varying grey studio background, near-fixed clothes colours,
  standard limb thickness, light from the upper front;
* ``"wild"``: procedural textured and cluttered backgrounds (value noise, stripes, random
  shapes and sticks), random limb thickness within human ranges, random clothes and skin
  colours, random light direction and strength, small camera roll and looser framing.

Left and right are told apart the way clothes and faces tell them apart: each left or right
limb gets its own colour (slightly different in the lab, often fully independent in the
wild), and the head is skin-coloured on the face side and hair-coloured behind, so the
facing direction is visible.  No label is painted.

Conventions: camera frame x right, y down, z forward (mm); pixel (u, v) is the centre of
column u, row v, and ``u = f X / Z + c`` as in :func:`wildpose.camera.camera_to_pixels`
(no lens distortion).  The principal point is the image centre ``((W - 1) / 2, (H - 1) / 2)``
so that mirroring an image maps u to ``W - 1 - u``.  A camera is a
:class:`wildpose.camera.Camera` with ``X_cam = R (X - T) = R X + t``, ``t = -R T``.

Modules: :mod:`~wildpose.methods.zhou_image.synthetic_scene` (camera, colours, background),
:mod:`~wildpose.methods.zhou_image.synthetic_render` (drawing the body), and this one: the
dataset (:class:`SyntheticPoseDataset`) renders sample i on the fly from ``(seed, i)``,
and :func:`prerender` writes N samples to one ``.npz`` (resumable, in chunks).
:func:`build_splits` makes the lab / wild / test splits of Zhou et al.'s setting from the
shared data folder.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ...chunked import write_chunks
from ...mocap.sources import concatenate, load_bvh_mocap, load_h36m_mocap
from .synthetic_render import Render, render_pose
from .synthetic_scene import STYLES

__all__ = ["SyntheticPoseDataset", "prerender", "build_splits", "LAB_SUBJECTS", "WILD_SUBJECTS",
           "TEST_SUBJECTS"]


#: Human3.6M subjects whose poses make the lab, wild and test renders (:func:`build_splits`).
LAB_SUBJECTS = (1, 5, 6)
WILD_SUBJECTS = (7, 8)
TEST_SUBJECTS = (9, 11)


@dataclass
class SyntheticPoseDataset:
    """Images rendered on the fly from mocap poses; sample i is a pure function of
    ``(seed, i)``, so nothing but the poses is held in memory.

    Attributes:
        poses: (N, 17, 3) canonical-frame H36M17 poses, mm (``MocapPoses.poses``).
        style: "lab" or "wild".
        size: image side, px.
        seed: base seed.
        keep_3d: False withholds the 3D labels (``joints_3d`` all NaN), as for 2D-only data.
        length: number of samples (default: one per pose); sample i shows pose ``i % N``.
        name: a label for logs and files.
    """

    poses: np.ndarray
    style: str = "lab"
    size: int = 128
    seed: int = 0
    keep_3d: bool = True
    length: int | None = None
    name: str = "synthetic"
    _poses: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"unknown style {self.style!r}: use one of {', '.join(STYLES)}")
        p = np.asarray(getattr(self.poses, "poses", self.poses), np.float32)
        if p.ndim != 3 or p.shape[1:] != (17, 3) or len(p) == 0:
            raise ValueError(f"{self.name}: expected poses of shape (N, 17, 3) mm in H36M17 "
                             f"order, got {p.shape}")
        self._poses = p

    def __len__(self) -> int:
        return len(self._poses) if self.length is None else int(self.length)

    def render(self, i: int) -> Render:
        """The full :class:`Render` of sample i (3D kept or withheld as configured)."""
        if not 0 <= i < len(self):
            raise IndexError(f"{self.name}: sample {i} out of range 0..{len(self) - 1}")
        rng = np.random.default_rng([int(self.seed), int(i)])
        out = render_pose(self._poses[i % len(self._poses)], rng, self.size, self.style)
        if not self.keep_3d:
            out.joints_3d = np.full_like(out.joints_3d, np.nan)
        return out

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        """Sample i as arrays: ``image`` (S, S, 3) uint8, ``joints_2d`` (17, 2) float32 px,
        ``joints_3d`` (17, 3) float32 camera mm (NaN if withheld), ``visible`` (17,) bool,
        ``f``, ``c`` (2,) float32 px, ``R`` (3, 3), ``t`` (3,) mm float32, ``has_3d``."""
        r = self.render(int(i))
        return {"image": r.image, "joints_2d": r.joints_2d, "joints_3d": r.joints_3d,
                "visible": r.visible, "f": r.camera.f.astype(np.float32),
                "c": r.camera.c.astype(np.float32), "R": r.camera.R.astype(np.float32),
                "t": r.t.astype(np.float32), "has_3d": np.bool_(self.keep_3d)}

    def arrays(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Samples ``start..stop-1`` stacked: the arrays of :meth:`__getitem__` but
        ``has_3d``, each with a leading sample axis."""
        rows = [self[i] for i in range(start, stop)]
        return {k: np.stack([r[k] for r in rows]) for k in _ARRAY_KEYS}


_ARRAY_KEYS = ("image", "joints_2d", "joints_3d", "visible", "f", "c", "R", "t")


def prerender(dataset: SyntheticPoseDataset, path: str | os.PathLike, n: int | None = None,
              chunk: int = 1000, progress: bool = True) -> Path:
    """Render samples 0..n-1 of a dataset into one ``.npz``.

    Chunks are written to ``<path>.parts/`` as they finish, so an interrupted run resumes
    where it stopped when called again with the same dataset settings; the chunk folder is
    removed once the ``.npz`` is complete.

    The file holds ``image`` (n, S, S, 3) uint8, ``joints_2d`` (n, 17, 2) float32 px,
    ``joints_3d`` (n, 17, 3) float32 camera mm (NaN where withheld), ``visible`` (n, 17)
    bool, ``f``/``c`` (n, 2), ``R`` (n, 3, 3), ``t`` (n, 3) float32, ``pose_index`` (n,)
    int64, ``has_3d`` (n,) bool, and ``style``, ``size``, ``seed`` scalars.

    Returns:
        the path of the ``.npz``.
    """
    n = len(dataset) if n is None else int(n)
    path = Path(path).with_suffix(".npz")
    parts = path.with_name(path.name + ".parts")
    settings = {"style": dataset.style, "size": dataset.size, "seed": dataset.seed,
                "keep_3d": dataset.keep_3d, "n": n, "chunk": chunk,
                "poses": len(dataset._poses),
                "pose_sum": float(np.float64(dataset._poses.sum()).round(3))}
    files = write_chunks(parts, settings, n, chunk, dataset.arrays, f"render {dataset.name}",
                         progress)
    arrays = {k: [] for k in _ARRAY_KEYS}
    for part in files:
        with np.load(part) as z:
            for k in _ARRAY_KEYS:
                arrays[k].append(z[k])
    out = {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in arrays.items()}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **out, pose_index=np.arange(n) % len(dataset._poses),
             has_3d=np.full(n, dataset.keep_3d), style=dataset.style, size=dataset.size,
             seed=dataset.seed)
    os.replace(tmp, path)
    shutil.rmtree(parts)
    return path


def _require_dir(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path} does not exist")
    return path


def build_splits(data_root: str | os.PathLike, size: int = 128, seed: int = 0,
                 stride: int = 1, actions: Sequence[str] | None = None,
                 cmu: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
                 include_cmu: bool = True) -> dict[str, SyntheticPoseDataset]:
    """The three renders of Zhou et al.'s weak-supervision setting, from mocap.

    * ``"lab"``: Human3.6M S1, S5, S6 poses, lab style, 3D kept;
    * ``"wild"``: Human3.6M S7, S8 and CMU BVH poses, wild style, 3D withheld (NaN);
    * ``"test"``: Human3.6M S9, S11 poses, wild style, 3D kept for scoring.

    Args:
        data_root: the shared data folder holding ``h36m/`` and ``cmu-mocap/`` (or the
            ``h36m`` folder itself, with ``cmu`` given).
        size: image side, px; seed: base seed (each split gets its own stream).
        stride, actions: passed to :func:`wildpose.mocap.sources.load_h36m_mocap`.
        cmu: BVH files or folders (default ``<data_root>/cmu-mocap``).
        include_cmu: False leaves CMU out of the wild split.
    Raises:
        FileNotFoundError: a one-line message naming a missing data folder.
    """
    root = _require_dir(Path(data_root), "data folder")
    h36m = root / "h36m" if (root / "h36m").is_dir() else root
    if not (h36m / "cameras.h5").is_file():
        raise FileNotFoundError(f"Human3.6M data not found: {h36m} has no cameras.h5")
    wild = [load_h36m_mocap(h36m, WILD_SUBJECTS, stride, actions=actions)]
    if include_cmu:
        sources = [root / "cmu-mocap"] if cmu is None else (
            [cmu] if isinstance(cmu, (str, os.PathLike)) else list(cmu))
        for s in sources:
            _require_dir(Path(s), "CMU BVH mocap")
        wild.append(load_bvh_mocap(sources, stride=stride))
    lab = load_h36m_mocap(h36m, LAB_SUBJECTS, stride, actions=actions)
    test = load_h36m_mocap(h36m, TEST_SUBJECTS, stride, actions=actions)
    return {
        "lab": SyntheticPoseDataset(lab.poses, "lab", size, seed * 3 + 0, True, name="lab"),
        "wild": SyntheticPoseDataset(concatenate(wild).poses, "wild", size, seed * 3 + 1,
                                     False, name="wild"),
        "test": SyntheticPoseDataset(test.poses, "wild", size, seed * 3 + 2, True,
                                     name="test"),
    }
