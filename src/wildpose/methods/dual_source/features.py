"""The normalized 2D pose space: virtual cameras over mocap poses, their orthographic
projections normalized as images' 2D are (the library's features)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ...camera import scaled_orthographic_project
from ...geometry import rotation_from_euler
from ...normalization import normalize_2d
from ...skeleton import H36M17, Skeleton, convert_layout, get_layout, layout_conversion

__all__ = ["FORMAT", "DEFAULT_AZIMUTHS", "DEFAULT_ELEVATIONS", "LayoutMismatchError",
           "virtual_cameras", "library_features"]


#: What a library's ``meta.json`` says it is, and the newest version this code reads.
FORMAT = "wildpose-dual-source-index"
FORMAT_VERSION = 1

#: Default virtual camera grid, degrees: every 30 degrees around the subject, and from level
#: to 30 degrees above (Human3.6M's cameras look down by 10-16 degrees).
DEFAULT_AZIMUTHS = tuple(float(a) for a in range(0, 360, 30))
DEFAULT_ELEVATIONS = (0.0, 15.0, 30.0)


class LayoutMismatchError(ValueError):
    """An index built for one joint layout used where another is required."""


def check_index_layout(root: Any, built: str, layout: str | Skeleton | None) -> None:
    """Raise :class:`LayoutMismatchError` unless ``layout`` (None: any) is ``built``, the
    layout the index at ``root`` was built for."""
    if layout is not None and get_layout(layout).name != built:
        name = get_layout(layout).name
        raise LayoutMismatchError(f"{root}: this index was built for joint layout {built} but "
                                  f"{name} is required; rebuild it with layout={name!r}")


def virtual_cameras(azimuths: Sequence[float] = DEFAULT_AZIMUTHS,
                    elevations: Sequence[float] = DEFAULT_ELEVATIONS,
                    rolls: Sequence[float] = (0.0,)) -> np.ndarray:
    """The grid of virtual cameras: (C, 3) azimuth, elevation, roll in radians (inputs in
    degrees), azimuth varying fastest."""
    az, el, ro = (np.deg2rad(np.asarray(x, np.float64).ravel())
                  for x in (azimuths, elevations, rolls))
    if not (len(az) and len(el) and len(ro)):
        raise ValueError("the camera grid needs at least one azimuth, elevation and roll")
    grid = np.stack(np.meshgrid(az, el, ro, indexing="ij"), -1)      # (A, E, R, 3)
    return grid.transpose(2, 1, 0, 3).reshape(-1, 3)


def _rotations(angles: np.ndarray) -> np.ndarray:
    a = np.asarray(angles, np.float64)
    return rotation_from_euler(a[..., 0], a[..., 1], a[..., 2])


def camera_frame_poses(poses: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Canonical-frame poses (..., 17, 3) seen from virtual cameras (..., 3) -> camera-frame
    poses (..., 17, 3) (x right, y down, z away from the camera), same units."""
    return np.asarray(poses, np.float64) @ np.swapaxes(_rotations(angles), -1, -2)


def library_features(poses: np.ndarray, angles: np.ndarray,
                     layout: str | Skeleton = H36M17) -> np.ndarray:
    """Normalized 2D features of canonical poses seen from virtual cameras.

    Args:
        poses: (..., 17, 3) canonical-frame H36M17 poses, mm.
        angles: (..., 3) camera azimuth, elevation, roll, radians (broadcast with ``poses``).
        layout: the joint layout of the features.
    Returns:
        (..., J * 2) float32: the orthographic projection, converted to ``layout`` and
        normalized by :func:`normalize_2d` (root-centred, unit RMS).
    """
    skel = get_layout(layout)
    p = np.asarray(poses, np.float64)
    rot = _rotations(angles)
    shape = np.broadcast_shapes(p.shape[:-2], rot.shape[:-2])
    xy = scaled_orthographic_project(np.broadcast_to(p, (*shape, *p.shape[-2:])),
                                     np.ones(shape), rotation=rot)
    if skel.name != H36M17.name:
        xy, _ = convert_layout(xy, H36M17, skel)
    norm, _, _ = normalize_2d(xy, np.ones(xy.shape[:-1], bool), root=skel.root)
    return norm.reshape(*shape, -1).astype(np.float32)


def _feature_weights(skel: Skeleton) -> np.ndarray:
    """(J_layout, 17) linear map from H36M17 joints to the feature layout's joints."""
    if skel.name == H36M17.name:
        return np.eye(17)
    conv = layout_conversion(H36M17, skel)
    if conv.missing:
        raise ValueError(f"an index cannot use layout {skel.name}: it needs joints that "
                         f"H36M17 mocap cannot give ({', '.join(conv.missing)})")
    if skel.root is None:
        raise ValueError(f"layout {skel.name} has no root joint to normalize on")
    return conv.weights
