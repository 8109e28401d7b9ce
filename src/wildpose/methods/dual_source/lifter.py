"""The dual-source lifter: retrieval then reconstruction, for pixels in any layout."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...camera import pixels_to_normalized
from ...skeleton import Skeleton, convert_layout, get_layout
from .features import check_index_layout
from .index import load_index
from .library import PoseLibrary
from .solver import reconstruct, reconstruct_perspective

__all__ = ["DualSourceLifter"]


@dataclass
class _Result:
    pose: np.ndarray
    nearest: np.ndarray
    ids: np.ndarray
    distances: np.ndarray
    lifted: np.ndarray
    root_translation: np.ndarray   # (N, 3) mm, NaN unless intrinsics were given


def _intrinsics_arrays(intrinsics: Any, n: int) -> dict[str, np.ndarray]:
    """``{"f": (N, 2), "c": (N, 2)[, "k": (N, 3), "p": (N, 2)]}`` from a dict whose values
    are per-pose or shared (a :class:`wildpose.camera.Camera` works too)."""
    get = (lambda key: intrinsics.get(key)) if isinstance(intrinsics, dict) else \
        (lambda key: getattr(intrinsics, key, None))
    out = {}
    for key, width in (("f", 2), ("c", 2), ("k", 3), ("p", 2)):
        a = get(key)
        if a is None:
            if key in ("f", "c"):
                raise ValueError(f"intrinsics lack {key!r} (focal lengths 'f' and principal "
                                 f"point 'c', pixels, are required)")
            continue
        a = np.asarray(a, np.float64)
        if a.shape == (width,):
            a = np.broadcast_to(a, (n, width))
        if a.shape != (n, width) or not np.isfinite(a).all():
            raise ValueError(f"intrinsics {key!r} of shape {np.shape(get(key))}: expected "
                             f"({width},) or ({n}, {width}) finite values")
        out[key] = a
    if (out["f"] <= 0).any():
        raise ValueError("intrinsics 'f' must be positive (pixels)")
    return out


class DualSourceLifter:
    """Lift 2D poses by mocap retrieval and joint camera/pose reconstruction.

    Usable wherever a :class:`wildpose.Lifter` is (``lift`` and ``info``), e.g. with
    :func:`wildpose.evaluate_h36m`.

    Args:
        index: a :class:`PoseLibrary` or a library folder.
        k: neighbours combined in the reconstruction.
        candidates: entries fetched from the index per query before masked re-ranking.
        mode: "reconstruct" (default) or "nearest" (the nearest entry's pose alone).
        iterations, bone_weight, prior_weight: see :func:`reconstruct`.
        min_valid_joints: queries with fewer visible joints are not lifted (NaN rows).
        batch_size: queries per batch.
        layout: the index layout required (None: any); see :func:`load_index`.
        search_params: FAISS search parameters, e.g. ``{"nprobe": 64}``.
        prior, prior_tau: the combination weights the reconstruction starts from and is
            pulled towards: "distance" (default) weighs neighbour i by
            ``exp(-(d_i - d_1) / (prior_tau * mean_i d_i))`` of its masked 2D distance
            ``d_i``; "uniform" weighs all k alike.
        init: a learned lifter (anything with ``lift(keypoints, layout=..., valid=...)``, e.g.
            :class:`wildpose.Lifter`) whose pose joins the retrieved ones as an extra basis
            pose carrying ``init_weight`` of the prior weight: the reconstruction starts at
            the learned pose and the library pulls it towards real mocap (its bone lengths and
            the span of the retrieved poses).  ``init_weight=1`` keeps the learned pose as the
            prior; 0 leaves it out.

    With intrinsics (``lift(..., intrinsics={"f": ..., "c": ...})``) the camera is fitted
    under full perspective (:func:`reconstruct_perspective`) and the root translation is
    returned by :meth:`lift_detailed`; without, under weak perspective.  ``perspective=True``
    asks callers that know the cameras (:func:`wildpose.evaluation.lift_h36m`) to pass them.
    """

    def __init__(self, index: PoseLibrary | str | os.PathLike, k: int = 24,
                 candidates: int = 64, mode: str = "reconstruct", iterations: int = 8,
                 bone_weight: float = 1.0, prior_weight: float = 0.5,
                 min_valid_joints: int = 6, batch_size: int = 2048,
                 layout: str | Skeleton | None = None,
                 search_params: dict[str, int] | None = None, prior: str = "distance",
                 prior_tau: float = 0.2, init: Any = None, init_weight: float = 0.5,
                 perspective: bool = False):
        if init is not None and not callable(getattr(init, "lift", None)):
            raise ValueError(f"init must be a lifter with a .lift method, not {type(init)}")
        if not 0.0 <= init_weight <= 1.0:
            raise ValueError(f"init_weight must be in [0, 1], got {init_weight}")
        self.init, self.init_weight = init, float(init_weight)
        #: evaluation code passes each sample's intrinsics when this is set
        self.perspective = bool(perspective)
        if prior not in ("uniform", "distance"):
            raise ValueError(f"unknown prior {prior!r}: use 'uniform' or 'distance'")
        self.prior, self.prior_tau = prior, float(prior_tau)
        if isinstance(index, PoseLibrary):
            check_index_layout(index.root, index.layout.name, layout)
            self.library = index
        else:
            self.library = load_index(index, layout=layout)
        if mode not in ("reconstruct", "nearest"):
            raise ValueError(f"unknown mode {mode!r}: use 'reconstruct' or 'nearest'")
        if search_params:
            self.library.set_search_params(**search_params)
        self.k, self.candidates, self.mode = int(k), int(candidates), mode
        self.iterations, self.bone_weight, self.prior_weight = iterations, bone_weight, \
            prior_weight
        self.min_valid_joints, self.batch_size = int(min_valid_joints), int(batch_size)

    def _prior_weights(self, d: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """(B, k) prior combination weights from the masked distances."""
        if self.prior == "uniform":
            w = ok.astype(np.float64)
        else:
            dd = np.where(ok, d, np.inf)
            tau = self.prior_tau * np.maximum(np.nanmean(np.where(ok, d, np.nan), 1), 1e-12)
            w = np.exp(-(dd - dd[:, :1]) / tau[:, None])
        return w / w.sum(1, keepdims=True)

    @property
    def info(self) -> dict[str, Any]:
        m = self.library.meta
        return {"name": f"dual-source:{self.library.root.name}", "method": "dual-source",
                "mode": self.mode, "index": str(self.library.root),
                "layout": m["layout"], "entries": m["num_entries"], "poses": m["num_poses"],
                "cameras": m["num_cameras"], "index_type": m["index_type"],
                "search_params": dict(self.library.search_params),
                "index_mmapped": self.library.index_mmapped, "k": self.k,
                "candidates": self.candidates, "iterations": self.iterations,
                "prior": self.prior, "prior_tau": self.prior_tau,
                "bone_weight": self.bone_weight, "prior_weight": self.prior_weight,
                "init": None if self.init is None else getattr(self.init, "info", {}).get(
                    "name", type(self.init).__name__),
                "init_weight": self.init_weight if self.init is not None else None,
                "camera_model": "perspective" if self.perspective else "weak perspective",
                "shared_joints": m.get("shared_joints"), "sources": m.get("sources")}

    def lift(self, keypoints: Any, layout: str | Skeleton = "h36m17",
             valid: Any = None, intrinsics: Any = None) -> np.ndarray:
        """Lift 2D keypoints to root-relative 3D.

        Args:
            keypoints: (N, J, 2) or (J, 2) pixels in ``layout``; NaN marks a missing joint.
            layout: the input's joint layout (converted to the library's).
            valid: optional (N, J) bool of present joints.
            intrinsics: optional camera intrinsics for a full-perspective fit: a dict (or a
                :class:`wildpose.camera.Camera`) with ``f`` and ``c`` (pixels) and optionally
                the distortion ``k`` (3,), ``p`` (2,); each shared (2,)/(3,) or per pose.
        Returns:
            (N, 17, 3) float32 camera-frame mm relative to the pelvis, H36M17 order (x right,
            y down, z away from the camera); (17, 3) for one pose.  Rows with fewer than
            ``min_valid_joints`` visible joints are NaN, with a warning naming them.
        """
        single = np.ndim(keypoints) == 2
        if single and valid is not None:
            valid = np.asarray(valid)[None]
        res = self.lift_detailed(keypoints, layout, valid, intrinsics)
        out = (res.pose if self.mode == "reconstruct" else res.nearest).astype(np.float32)
        return out[0] if single else out

    def lift_detailed(self, keypoints: Any, layout: str | Skeleton = "h36m17",
                      valid: Any = None, intrinsics: Any = None) -> _Result:
        """Everything of one pass: ``pose`` (reconstruction), ``nearest`` (the nearest
        entry's camera-frame pose), ``ids``/``distances`` (N, k) of the retrieved entries,
        ``lifted`` (N,) bool and ``root_translation`` (N, 3) mm (with intrinsics only); rows
        not lifted are NaN / -1."""
        lib = self.library
        kp = np.asarray(keypoints, np.float64)
        if kp.ndim == 2:
            kp = kp[None]
        q, v = lib.normalize_queries(kp, layout, valid)
        n = len(q)
        uv = None
        if intrinsics is not None:
            intr = _intrinsics_arrays(intrinsics, n)
            skel = get_layout(layout)
            ok = np.isfinite(kp).all(-1)
            if valid is not None:
                ok &= np.asarray(valid, bool).reshape(ok.shape)
            uv_in = pixels_to_normalized(np.where(ok[..., None], kp, 0.0), intr["f"],
                                         intr["c"], intr.get("k"), intr.get("p"),
                                         distortion="k" in intr and "p" in intr)
            uv, _ = convert_layout(uv_in, skel, lib.layout, ok)
        init_pose = None
        if self.init is not None and self.init_weight > 0:
            init_pose = np.asarray(self.init.lift(kp, layout=layout, valid=valid), np.float64)
            init_pose = init_pose - init_pose[:, :1]
        root_t = np.full((n, 3), np.nan)
        k = min(self.k, len(lib))
        pose = np.full((n, 17, 3), np.nan)
        nearest = np.full((n, 17, 3), np.nan)
        ids = np.full((n, k), -1, np.int64)
        dist = np.full((n, k), np.nan)
        lifted = v.sum(1) >= self.min_valid_joints
        if (~lifted).any():
            rows = np.flatnonzero(~lifted)
            warnings.warn(f"{len(rows)} pose(s) have fewer than {self.min_valid_joints} "
                          f"visible joints and were not lifted (rows {rows[:10].tolist()}"
                          f"{' ...' if len(rows) > 10 else ''})", stacklevel=3)
        good = np.flatnonzero(lifted)
        pose_rms = float(lib.meta.get("pose_rms_mm", 450.0))
        for i in range(0, len(good), self.batch_size):
            rows = good[i:i + self.batch_size]
            qi, vi = q[rows], v[rows]
            bi, di = lib.search_normalized(qi, vi, k, self.candidates)
            ok = bi >= 0
            y = lib.camera_poses(np.where(ok, bi, 0))
            ids[rows], dist[rows] = bi, di
            nearest[rows] = y[:, 0]
            if self.mode == "reconstruct":
                w0 = self._prior_weights(di, ok)
                if init_pose is not None:
                    y = np.concatenate([init_pose[rows][:, None], y], 1)
                    w0 = np.concatenate([np.full((len(rows), 1), self.init_weight),
                                         (1.0 - self.init_weight) * w0], 1)
                if uv is None:
                    pose[rows] = reconstruct(qi, vi, y, w0, lib.weights, self.iterations,
                                             self.bone_weight, self.prior_weight, pose_rms)
                else:
                    pose[rows], root_t[rows] = reconstruct_perspective(
                        uv[rows], vi, y, w0, lib.weights, self.iterations, self.bone_weight,
                        self.prior_weight, pose_rms, feature_root=lib.layout.root)
        return _Result(pose, nearest, ids, dist, lifted, root_t)
