"""A loaded pose library: k-nearest-neighbour retrieval of 2D poses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...normalization import normalize_2d
from ...skeleton import H36M17, Skeleton, convert_layout, get_layout
from .features import _feature_weights, camera_frame_poses

__all__ = ["PoseLibrary"]


def _apply_search_params(index, params: dict[str, int]) -> None:
    import faiss  # slow to import: only a library's search needs it

    if "nprobe" in params:
        faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])
    if "efSearch" in params:
        index.hnsw.efSearch = int(params["efSearch"])


def _read_faiss(path: Path, mmap: bool):
    """Read an index memory-mapped where this FAISS supports it; returns (index, mmapped)."""
    import faiss  # slow to import: see _apply_search_params

    for names in (("IO_FLAG_MMAP_IFC", "IO_FLAG_MMAP", "IO_FLAG_READ_ONLY"),
                  ("IO_FLAG_MMAP", "IO_FLAG_READ_ONLY"), ("IO_FLAG_MMAP",)) if mmap else ():
        if all(hasattr(faiss, n) for n in names):
            try:
                flag = int(np.bitwise_or.reduce([getattr(faiss, n) for n in names]))
                return faiss.read_index(str(path), flag), True
            except RuntimeError:
                continue
    return faiss.read_index(str(path)), False


class PoseLibrary:
    """An opened dual-source library: the FAISS index and the memory-mapped arrays."""

    def __init__(self, root: Path, meta: dict[str, Any], mmap: bool = True):
        self.root = root
        self.meta = meta
        self.layout = get_layout(meta["layout"])
        mode = "r" if mmap else None
        self.features = np.load(root / "features.npy", mmap_mode=mode)
        self.poses_3d = np.load(root / "poses_3d.npy", mmap_mode=mode)
        self.entry_pose = np.load(root / "entry_pose.npy", mmap_mode=mode)
        self.entry_camera = np.load(root / "entry_camera.npy", mmap_mode=mode)
        self.index, self.index_mmapped = _read_faiss(root / "index.faiss", mmap)
        n, dim = self.features.shape
        if (n != meta["num_entries"] or dim != 2 * self.layout.num_joints
                or self.index.ntotal != n or self.index.d != dim
                or len(self.entry_pose) != n or self.poses_3d.shape[1:] != (17, 3)):
            raise ValueError(f"{root}: library files are inconsistent (features "
                             f"{self.features.shape}, index {self.index.ntotal}x{self.index.d}, "
                             f"entries {len(self.entry_pose)}, poses {self.poses_3d.shape}, "
                             f"layout {self.layout.name}); rebuild it")
        self.search_params = dict(meta.get("search_params", {}))
        _apply_search_params(self.index, self.search_params)
        self.weights = _feature_weights(self.layout)
        self.shared_joints = np.array([j in set(meta.get("shared_joints", H36M17.joints))
                                       for j in H36M17.joints])

    def __len__(self) -> int:
        return int(self.meta["num_entries"])

    def set_search_params(self, **params: int) -> None:
        """e.g. ``nprobe=64`` (IVF) or ``efSearch=128`` (HNSW)."""
        self.search_params.update(params)
        _apply_search_params(self.index, self.search_params)

    def camera_poses(self, ids: np.ndarray) -> np.ndarray:
        """(...,) entry ids -> (..., 17, 3) float64 camera-frame poses (mm, root at 0)."""
        ids = np.asarray(ids, np.int64)
        return camera_frame_poses(self.poses_3d[self.entry_pose[ids.ravel()]],
                                  self.entry_camera[ids.ravel()]).reshape(*ids.shape, 17, 3)

    def _gather_features(self, ids: np.ndarray) -> np.ndarray:
        """Rows of the memory-mapped features, read in ascending order (disk-friendly)."""
        flat = np.asarray(ids, np.int64).ravel()
        order = np.argsort(flat, kind="stable")
        out = np.empty((len(flat), self.features.shape[1]), np.float32)
        out[order] = self.features[flat[order]]
        return out.reshape(*np.shape(ids), self.layout.num_joints, 2)

    def _masked_distances(self, q: np.ndarray, v: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Mean squared per-joint distance over visible joints after renormalizing each
        candidate on the query's visible joints (a no-op when all are visible); inf for
        invalid ids (-1)."""
        ok = ids >= 0
        cand = self._gather_features(np.where(ok, ids, 0))
        q32 = np.asarray(q, np.float32)
        partial = ~v.all(1)
        if partial.any():
            vv = np.broadcast_to(v[partial][:, None, :], cand[partial].shape[:-1])
            cand[partial], _, _ = normalize_2d(cand[partial], vv, root=self.layout.root)
        vf = v.astype(np.float32)
        d = (((cand - q32[:, None]) ** 2).sum(-1) * vf[:, None]).sum(-1) \
            / np.maximum(vf.sum(-1), 1)[:, None]
        return np.where(ok, d.astype(np.float64), np.inf)

    def _faiss_search(self, vectors: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(np.ascontiguousarray(vectors, np.float32), k)[1]

    def search_normalized(self, q: np.ndarray, valid: np.ndarray, k: int = 16,
                          candidates: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """k nearest entries of normalized queries, masked joints excluded.

        Each query fetches ``candidates`` entries from the index, which are re-ranked by the
        masked distance: the candidate is renormalized on the query's visible joints and
        the mean squared distance over those joints is taken.  A query with missing joints
        searches twice: with the missing joints at 0, then with them filled in from the best
        candidate of the first search (a second chance for the right neighbourhood).

        Args:
            q: (B, J, 2) normalized 2D poses in the library's layout (0 where invalid).
            valid: (B, J) bool.
        Returns:
            ``(ids, distances)``: (B, k) int64 entry ids and float64 masked distances,
            nearest first (id -1, distance inf where the library has fewer entries).
        """
        q = np.asarray(q, np.float64)
        v = np.asarray(valid, bool)
        b, j = v.shape
        k = int(min(k, len(self)))
        m = int(min(max(candidates, k), len(self)))
        ids = self._faiss_search(q.reshape(b, -1), m)
        d = self._masked_distances(q, v, ids)
        partial = ~v.all(1)
        if partial.any():
            rows = np.flatnonzero(partial)
            best = ids[rows, np.argmin(d[rows], 1)]
            best = np.where(best >= 0, best, 0)
            full = self._gather_features(best).astype(np.float64)
            _, c, s = normalize_2d(full, v[rows], root=self.layout.root)
            filled = (full - c[:, None]) / s[:, None, None]
            filled = np.where(v[rows, :, None], q[rows], filled)
            filled, _, _ = normalize_2d(filled, np.ones_like(v[rows]), root=self.layout.root)
            ids2 = self._faiss_search(filled.reshape(len(rows), -1), m)
            d2 = self._masked_distances(q[rows], v[rows], ids2)
            all_ids = np.concatenate([ids[rows], ids2], 1)
            all_d = np.concatenate([d[rows], d2], 1)
            # Drop duplicates (the same entry found twice).
            order = np.argsort(all_ids, 1, kind="stable")
            sid = np.take_along_axis(all_ids, order, 1)
            dup = np.zeros_like(sid, bool)
            dup[:, 1:] = sid[:, 1:] == sid[:, :-1]
            sd = np.where(dup, np.inf, np.take_along_axis(all_d, order, 1))
            top = np.argsort(sd, 1, kind="stable")[:, :m]
            ids_p = np.take_along_axis(sid, top, 1)
            d_p = np.take_along_axis(sd, top, 1)
            ids_p = np.where(np.isfinite(d_p), ids_p, -1)
            ids[rows], d[rows] = ids_p, d_p
        order = np.argsort(d, 1, kind="stable")[:, :k]
        return np.take_along_axis(ids, order, 1), np.take_along_axis(d, order, 1)

    def search(self, keypoints: Any, layout: str | Skeleton = "h36m17", valid: Any = None,
               k: int = 16, candidates: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """k nearest entries of 2D poses in pixels (any layout that converts to the
        library's).  Returns ``(ids, distances)`` as :meth:`search_normalized`."""
        q, v = self.normalize_queries(keypoints, layout, valid)
        return self.search_normalized(q, v, k, candidates)

    def normalize_queries(self, keypoints: Any, layout: str | Skeleton = "h36m17",
                          valid: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Pixels in ``layout`` -> ((N, J, 2) normalized, (N, J) valid) in the library's
        layout (missing or non-finite joints masked)."""
        skel = get_layout(layout)
        kp = np.asarray(keypoints, np.float64)
        if kp.ndim == 2:
            kp = kp[None]
        if kp.ndim != 3 or kp.shape[1:] != (skel.num_joints, 2):
            raise ValueError(f"keypoints of shape {np.shape(keypoints)} do not fit layout "
                             f"{skel.name}: expected (N, {skel.num_joints}, 2)")
        ok = np.isfinite(kp).all(-1)
        if valid is not None:
            ok &= np.asarray(valid, bool).reshape(ok.shape)
        kpl, okl = convert_layout(kp, skel, self.layout, ok)
        q, _, _ = normalize_2d(kpl, okl, root=self.layout.root)
        return q, okl
