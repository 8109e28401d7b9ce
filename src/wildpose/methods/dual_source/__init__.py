"""Iqbal et al. 2017's dual-source method: mocap retrieval in a normalized 2D pose space,
then joint camera and 3D pose reconstruction.

Two independent sources meet here.  Mocap poses (:mod:`wildpose.mocap`, canonical body frame,
mm) are seen from a grid of virtual cameras (azimuth x elevation [x roll]); each view is
projected orthographically and normalized with :func:`wildpose.normalization.normalize_2d`
(root-centred, unit RMS scale) -- the *normalized 2D pose space* that images' 2D poses are
normalized into as well.  The views are indexed for k-nearest-neighbour search with FAISS.

At query time a 2D pose (any supported layout; missing joints masked) retrieves its k nearest
library entries, and the camera (rotation, scale, 2D translation: weak perspective) and the
3D pose (a linear combination of the retrieved poses) are estimated jointly by minimizing the
reprojection error with a bone-length term, by a few batched Levenberg-Marquardt steps.

Library on disk (a folder, see :func:`build_index` / :func:`load_index`)::

    meta.json          format, joint layout, counts, camera grid, index type, sources, ...
    index.faiss        the FAISS index of the normalized 2D features (read memory-mapped)
    features.npy       (N, 2J) float32 normalized 2D features (exact, for re-ranking)
    poses_3d.npy       (P, 17, 3) float32 canonical-frame H36M17 poses, mm
    entry_pose.npy     (N,) int32   the 3D pose of each entry
    entry_camera.npy   (N, 3) float32 its virtual camera: azimuth, elevation, roll (radians,
                       see wildpose.geometry.rotation_from_euler)

All arrays are opened with ``np.load(mmap_mode="r")``.
Modules: ``features`` (the normalized 2D pose space), ``index`` (building and loading a
library), ``library`` (retrieval), ``solver`` (Levenberg-Marquardt reconstruction),
``lifter`` (:class:`DualSourceLifter`).
"""

from .features import (DEFAULT_AZIMUTHS, DEFAULT_ELEVATIONS, FORMAT, LayoutMismatchError,
                       library_features, virtual_cameras)
from .index import build_index, choose_index_type, load_index
from .library import PoseLibrary
from .lifter import DualSourceLifter
from .solver import reconstruct, reconstruct_perspective

__all__ = ["FORMAT", "DEFAULT_AZIMUTHS", "DEFAULT_ELEVATIONS", "LayoutMismatchError",
           "virtual_cameras", "library_features", "choose_index_type", "build_index",
           "load_index", "PoseLibrary", "DualSourceLifter", "reconstruct",
           "reconstruct_perspective"]
