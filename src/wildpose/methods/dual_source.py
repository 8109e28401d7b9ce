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
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..camera import scaled_orthographic_project
from ..geometry import rotation_from_euler, rotation_matrix
from ..mocap.sources import DEFAULT_TOLERANCE_MM, MocapPoses, load_mocap
from ..normalization import normalize_2d
from ..skeleton import H36M17, Skeleton, convert_layout, get_layout, layout_conversion

__all__ = [
    "FORMAT",
    "DEFAULT_AZIMUTHS",
    "DEFAULT_ELEVATIONS",
    "LayoutMismatchError",
    "virtual_cameras",
    "library_features",
    "choose_index_type",
    "build_index",
    "load_index",
    "PoseLibrary",
    "DualSourceLifter",
    "reconstruct",
    "reconstruct_perspective",
]

FORMAT = "wildpose-dual-source-index"
FORMAT_VERSION = 1

#: Default virtual camera grid, degrees: every 30 degrees around the subject, and from level
#: to 30 degrees above (Human3.6M's cameras look down by 10-16 degrees).
DEFAULT_AZIMUTHS = tuple(float(a) for a in range(0, 360, 30))
DEFAULT_ELEVATIONS = (0.0, 15.0, 30.0)

#: Libraries up to this many entries get an exact index (IndexFlatL2); up to
#: ``_IVF_FLAT_MAX`` an IVF index with exact vectors; beyond, IVF with product quantization.
EXACT_MAX_ENTRIES = 200_000
_IVF_FLAT_MAX = 4_000_000


class LayoutMismatchError(ValueError):
    """An index built for one joint layout used where another is required."""


# ------------------------------------------------------------------------------ features
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


# ------------------------------------------------------------------------------ indexing
def choose_index_type(num_entries: int) -> str:
    """"flat" (exact) up to :data:`EXACT_MAX_ENTRIES`, "ivf" (IVF with exact vectors) up to
    4 million entries, "ivfpq" (IVF with 17-byte product-quantized codes) beyond."""
    if num_entries <= EXACT_MAX_ENTRIES:
        return "flat"
    if num_entries <= _IVF_FLAT_MAX:
        return "ivf"
    return "ivfpq"


def _nlist(n: int) -> int:
    """IVF list count: the power of two nearest 4 sqrt(N), 64..65536."""
    return int(min(65536, max(64, 2 ** round(math.log2(4 * math.sqrt(max(n, 1)))))))


def _default_search_params(kind: str, nlist: int) -> dict[str, int]:
    if kind in ("ivf", "ivfpq"):
        return {"nprobe": int(min(nlist, max(16, nlist // 64)))}
    if kind == "hnsw":
        return {"efSearch": 96}
    return {}


def _make_index(kind: str, dim: int, n: int):
    import faiss

    if kind == "flat":
        return faiss.IndexFlatL2(dim), {}
    if kind in ("ivf", "ivfpq"):
        nlist = _nlist(n)
        quantizer = faiss.IndexFlatL2(dim)
        if kind == "ivf":
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_L2)
        else:
            m = next(m for m in (dim // 2, dim // 4, dim, 1) if m > 0 and dim % m == 0)
            index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8)
        return index, {"nlist": nlist}
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32)
        index.hnsw.efConstruction = 80
        return index, {"M": 32}
    raise ValueError(f"unknown index type {kind!r}: use auto, flat, ivf, ivfpq or hnsw")


def _apply_search_params(index, params: dict[str, int]) -> None:
    import faiss

    if "nprobe" in params:
        faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])
    if "efSearch" in params:
        index.hnsw.efSearch = int(params["efSearch"])


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="chunk", leave=False)


def build_index(sources: Any, out_path: str | os.PathLike,
                azimuths: Sequence[float] = DEFAULT_AZIMUTHS,
                elevations: Sequence[float] = DEFAULT_ELEVATIONS,
                rolls: Sequence[float] = (0.0,), *,
                subjects: Sequence[int] | None = None,
                tolerance_mm: float = DEFAULT_TOLERANCE_MM, stride: int = 1,
                layout: str | Skeleton = H36M17, index_type: str = "auto",
                jitter: bool = True, seed: int = 0, max_poses: int | None = None,
                chunk_entries: int = 131072, overwrite: bool = False,
                progress: bool = True) -> Path:
    """Build a dual-source pose library and write it to the folder ``out_path``.

    Args:
        sources: a :class:`~wildpose.mocap.MocapPoses`, or what
            :func:`wildpose.mocap.load_mocap` accepts: a Human3.6M directory, BVH files or
            folders, ``.npy`` arrays (N, 17, 3) mm, or a list of them.
        out_path: the library folder to create.
        azimuths, elevations, rolls: the virtual camera grid, degrees.
        subjects: Human3.6M subjects for Human3.6M sources (default S1,5,6,7,8).
        tolerance_mm: near-duplicate tolerance (mean per-joint distance), mm.
        stride: keep every stride-th mocap frame before de-duplication.
        layout: joint layout of the 2D features ("h36m17", or "mpii16" for an index that
            stacked-hourglass detections match without conversion).
        index_type: "auto" (by size, :func:`choose_index_type`), "flat", "ivf", "ivfpq",
            "hnsw".
        jitter: shift each pose's azimuths by one random offset within the azimuth step
            (a jittered grid: neighbouring poses fill in the views between grid angles).
        seed: for the jitter, the IVF training sample and ``max_poses`` sampling.
        max_poses: keep at most this many mocap poses (a random subset).
        chunk_entries: entries computed and added per step (bounds the memory used).
        overwrite: replace an existing library folder.
        progress: show tqdm progress bars.
    Returns:
        the library folder.
    """
    import faiss

    started = time.perf_counter()
    final = Path(out_path)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        if not overwrite:
            raise FileExistsError(f"{final} already exists (pass overwrite=True to replace it)")
        if not (final / "meta.json").is_file():
            raise FileExistsError(f"{final} exists and is not a wildpose dual-source library: "
                                  f"not overwriting it")
    # Built in a sibling folder and renamed at the end: an interrupted build leaves no
    # half-written library behind.
    out = final.parent / f".{final.name}.building"
    if out.exists():
        shutil.rmtree(out)
    skel = get_layout(layout)
    _feature_weights(skel)   # validates the layout
    mocap = sources if isinstance(sources, MocapPoses) else load_mocap(
        sources, **({"subjects": tuple(subjects)} if subjects else {}),
        tolerance_mm=tolerance_mm, stride=stride)
    rng = np.random.default_rng(seed)
    poses = np.asarray(mocap.poses, np.float32)
    if max_poses is not None and len(poses) > max_poses:
        keep = np.sort(rng.choice(len(poses), max_poses, replace=False))
        poses = poses[keep]
    if len(poses) == 0:
        raise ValueError("no mocap poses to index")
    grid = virtual_cameras(azimuths, elevations, rolls)
    n_pose, n_cam = len(poses), len(grid)
    n = n_pose * n_cam
    dim = 2 * skel.num_joints
    kind = choose_index_type(n) if index_type == "auto" else index_type
    az_sorted = np.unique(np.mod(np.deg2rad(np.asarray(azimuths, float)), 2 * np.pi))
    step = (np.diff(np.r_[az_sorted, az_sorted[0] + 2 * np.pi]).min()
            if len(az_sorted) > 1 else 0.0)
    offsets = (rng.uniform(-step / 2, step / 2, n_pose) if jitter and step > 0
               else np.zeros(n_pose))

    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "poses_3d.npy", poses)
    feats = np.lib.format.open_memmap(out / "features.npy", "w+", np.float32, (n, dim))
    entry_pose = np.lib.format.open_memmap(out / "entry_pose.npy", "w+", np.int32, (n,))
    entry_cam = np.lib.format.open_memmap(out / "entry_camera.npy", "w+", np.float32, (n, 3))
    per_chunk = max(1, chunk_entries // n_cam)
    starts = range(0, n_pose, per_chunk)
    for p0 in _progress(starts, len(starts), "projecting mocap poses", progress):
        p1 = min(n_pose, p0 + per_chunk)
        ang = np.broadcast_to(grid, (p1 - p0, n_cam, 3)).copy()
        ang[..., 0] += offsets[p0:p1, None]
        f = library_features(poses[p0:p1, None], ang, skel)
        e0, e1 = p0 * n_cam, p1 * n_cam
        feats[e0:e1] = f.reshape(-1, dim)
        entry_pose[e0:e1] = np.repeat(np.arange(p0, p1, dtype=np.int32), n_cam)
        entry_cam[e0:e1] = ang.reshape(-1, 3)
    feats.flush(), entry_pose.flush(), entry_cam.flush()

    index, index_params = _make_index(kind, dim, n)
    train_s = 0.0
    if not index.is_trained:
        t0 = time.perf_counter()
        n_train = int(min(n, max(40 * index_params["nlist"], 100_000), 1_000_000))
        rows = np.sort(rng.choice(n, n_train, replace=False))
        if progress:
            from tqdm.auto import tqdm

            tqdm.write(f"training the {kind} index ({index_params['nlist']} lists) on "
                       f"{n_train} of {n} entries", file=sys.stderr)
        index.train(np.ascontiguousarray(feats[rows]))
        train_s = time.perf_counter() - t0
    starts = range(0, n, chunk_entries)
    for e0 in _progress(starts, len(starts), f"indexing ({kind})", progress):
        index.add(np.ascontiguousarray(feats[e0:e0 + chunk_entries]))
    faiss.write_index(index, str(out / "index.faiss"))
    del feats, entry_pose, entry_cam

    pose_rms = float(np.sqrt((poses.astype(np.float64) ** 2).sum(-1).mean()))
    meta = {
        "format": FORMAT, "version": FORMAT_VERSION,
        "layout": skel.name, "joints": list(skel.joints), "pose_layout": H36M17.name,
        "num_entries": n, "num_poses": n_pose, "num_cameras": n_cam, "feature_dim": dim,
        "index_type": kind, "index_params": index_params,
        "search_params": _default_search_params(kind, index_params.get("nlist", 0)),
        "azimuths_deg": [float(a) for a in np.ravel(azimuths)],
        "elevations_deg": [float(e) for e in np.ravel(elevations)],
        "rolls_deg": [float(r) for r in np.ravel(rolls)],
        "azimuth_jitter": bool(jitter and step > 0), "seed": seed,
        "tolerance_mm": tolerance_mm, "stride": stride,
        "shared_joints": [j for j, s in zip(H36M17.joints, mocap.shared_joints) if s],
        "pose_rms_mm": pose_rms,
        "sources": {"description": mocap.describe(), "sequences": len(mocap.sequence_names),
                    "notes": list(mocap.notes)[-50:]},
        "faiss_version": faiss.__version__,
        "build_seconds": round(time.perf_counter() - started, 3),
        "train_seconds": round(train_s, 3),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    if final.exists():
        shutil.rmtree(final) if final.is_dir() else final.unlink()
    out.rename(final)
    return final


def _read_faiss(path: Path, mmap: bool):
    """Read an index memory-mapped where this FAISS supports it; returns (index, mmapped)."""
    import faiss

    if mmap:
        flags = []
        for names in (("IO_FLAG_MMAP_IFC", "IO_FLAG_MMAP", "IO_FLAG_READ_ONLY"),
                      ("IO_FLAG_MMAP", "IO_FLAG_READ_ONLY"), ("IO_FLAG_MMAP",)):
            if all(hasattr(faiss, n) for n in names):
                flags.append(int(np.bitwise_or.reduce([getattr(faiss, n) for n in names])))
        for flag in flags:
            try:
                return faiss.read_index(str(path), flag), True
            except RuntimeError:
                continue
    return faiss.read_index(str(path)), False


def load_index(path: str | os.PathLike, layout: str | Skeleton | None = None,
               mmap: bool = True) -> "PoseLibrary":
    """Open a library written by :func:`build_index`.

    Args:
        path: the library folder.
        layout: the joint layout the caller needs; an index built for another layout is
            rejected with :class:`LayoutMismatchError`.  None accepts any.
        mmap: memory-map the arrays (and the FAISS index where supported).
    """
    root = Path(path)
    meta_path = root / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{root}: not a wildpose dual-source library (no meta.json); "
                                f"build one with `wildpose index build`")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{root}: meta.json is not a {FORMAT} description")
    if meta.get("version", 0) > FORMAT_VERSION:
        raise ValueError(f"{root}: library format version {meta['version']} is newer than "
                         f"this wildpose reads ({FORMAT_VERSION})")
    if layout is not None and get_layout(layout).name != meta["layout"]:
        raise LayoutMismatchError(
            f"{root}: this index was built for joint layout {meta['layout']} but "
            f"{get_layout(layout).name} is required; rebuild it with layout="
            f"{get_layout(layout).name!r}")
    return PoseLibrary(root, meta, mmap)


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
                             f"{self.features.shape}, index {self.index.ntotal}x{self.index.d}, entries "
                             f"{len(self.entry_pose)}, poses {self.poses_3d.shape}, layout "
                             f"{self.layout.name}); rebuild it")
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
        _, ids = self.index.search(np.ascontiguousarray(vectors, np.float32), k)
        return ids

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


# ------------------------------------------------------------------------ reconstruction
def _skew_rows(z: np.ndarray) -> np.ndarray:
    """d(x, y of (I + [delta]x) z)/d delta: (..., 2, 3) for points z (..., 3)."""
    x, y, w = z[..., 0], z[..., 1], z[..., 2]
    zero = np.zeros_like(x)
    return np.stack([np.stack([zero, w, -y], -1), np.stack([-w, zero, x], -1)], -2)


def _lm_step(jac: np.ndarray, r: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """One batched Levenberg-Marquardt step: (B, M, P) Jacobian, (B, M) residuals, (B,)
    damping -> (B, P) parameter update (Marquardt's diagonal scaling)."""
    jact = jac.transpose(0, 2, 1)
    jtj = jact @ jac
    jtr = (jact @ r[..., None])[..., 0]
    diag = np.diagonal(jtj, axis1=1, axis2=2)
    lhs = jtj + (mu[:, None] * (diag + 1e-9))[..., None] * np.eye(jac.shape[-1])
    return -np.linalg.solve(lhs, jtr[..., None])[..., 0]


def _fill_shape_rows(jac: np.ndarray, row0: int, d: np.ndarray, ln: np.ndarray,
                     dy: np.ndarray, cb: float, cp: float) -> None:
    """Jacobian rows of the bone-length and prior terms w.r.t. the k combination weights
    (the first k parameters), from row ``row0`` on: d|D_b|/dw_i = u_b . dY_ib for the
    combined bones D (B, nb, 3) of lengths ln (B, nb) and neighbour bones dy (B, k, nb, 3);
    then cp * I for the prior."""
    k, nb = dy.shape[1], dy.shape[2]
    u = d / np.maximum(ln, 1e-9)[..., None]
    jac[:, row0:row0 + nb, :k] = cb * np.swapaxes((dy * u[:, None]).sum(-1), 1, 2)
    jac[:, row0 + nb:row0 + nb + k, :k] = cp * np.eye(k)


def _keep_better(ok: np.ndarray, new: Any, old: Any) -> Any:
    """Per batch row: ``new`` where ``ok`` (B,) else ``old``; arrays or tuples of arrays."""
    if isinstance(old, tuple):
        return tuple(_keep_better(ok, a, b) for a, b in zip(new, old))
    return np.where(ok.reshape((-1,) + (1,) * (np.ndim(old) - 1)), new, old)


def reconstruct(q: np.ndarray, valid: np.ndarray, neighbours: np.ndarray,
                weights0: np.ndarray | None = None, feature_weights: np.ndarray | None = None,
                iterations: int = 8, bone_weight: float = 1.0, prior_weight: float = 0.5,
                pose_rms_mm: float = 450.0, root: int = 0, return_camera: bool = False
                ) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
    """Joint weak-perspective camera and 3D pose fit to normalized 2D poses, batched.

    Minimizes, over the combination weights ``w`` (k), a rotation ``R``, a scale ``s`` and a
    2D translation ``t`` per query::

        sum_j v_j |s (R X)_xy,j + t - q_j|^2                          reprojection
        + (bone_weight / pose_rms)^2 sum_b (|X_b| - L_b)^2            bone lengths
        + prior_weight^2 |w - w0|^2                                    stay near the prior

    with ``X = sum_i w_i Y_i`` (the retrieved poses in their own virtual camera frames) and
    ``L_b`` the ``w0``-weighted bone lengths of the retrieved poses, by Levenberg-Marquardt
    steps (R updated multiplicatively with :func:`wildpose.geometry.rotation_matrix`).

    Args:
        q: (B, J, 2) normalized 2D poses (feature layout), 0 where invalid.
        valid: (B, J) bool.
        neighbours: (B, k, 17, 3) retrieved camera-frame H36M17 poses, mm, root at 0.
        weights0: (B, k) prior combination weights (default uniform 1/k).
        feature_weights: (J, 17) map from H36M17 joints to the feature layout (default I).
        iterations: LM steps.
        pose_rms_mm: typical RMS joint distance from the root, mm (unit of the bone term).
        return_camera: also return the fit ``{"weights": (B, k), "rotation": (B, 3, 3),
            "scale": (B,) normalized units per mm, "translation": (B, 2) normalized units}``.
    Returns:
        (B, 17, 3) float64 camera-frame poses, mm, root at 0 (x right, y down, z forward)
        [, the camera dict].
    """
    y = np.asarray(neighbours, np.float64)
    bsz, k = y.shape[:2]
    wf = np.eye(17) if feature_weights is None else np.asarray(feature_weights, np.float64)
    yf = y if feature_weights is None else np.einsum("fj,bkjc->bkfc", wf, y)   # (B, k, J, 3)
    vw = np.asarray(valid, np.float64)
    sq = np.sqrt(vw)[..., None]                                 # (B, J, 1)
    q = np.where(np.asarray(valid, bool)[..., None], np.asarray(q, np.float64), 0.0)
    w0 = np.full((bsz, k), 1.0 / k) if weights0 is None else np.asarray(weights0, np.float64)
    parents = np.array([p for p, _ in H36M17.edges])
    children = np.array([c for _, c in H36M17.edges])
    dy = y[:, :, children] - y[:, :, parents]                   # (B, k, nb, 3)
    target = np.einsum("bk,bkn->bn", w0, np.linalg.norm(dy, axis=-1))
    cb = bone_weight / pose_rms_mm
    cp = prior_weight
    nb = len(parents)
    jn = q.shape[1]
    npar = k + 6

    def fit_st(zf):
        """Closed-form s, t for fixed camera-frame points (weighted LS on visible joints)."""
        cnt = np.maximum(vw.sum(1), 1)[:, None]
        zm = (zf[..., :2] * vw[..., None]).sum(1) / cnt
        qm = (q * vw[..., None]).sum(1) / cnt
        zc, qc = zf[..., :2] - zm[:, None], q - qm[:, None]
        s = (vw[..., None] * zc * qc).sum((1, 2)) / np.maximum(
            (vw[..., None] * zc * zc).sum((1, 2)), 1e-12)
        return s, qm - s[:, None] * zm

    def combine(w, a):
        """sum_i w_i a_i: (B, k), (B, k, ...) -> (B, ...) as one batched matmul."""
        return (w[:, None, :] @ a.reshape(bsz, k, -1)).reshape(a.shape[:1] + a.shape[2:])

    def residuals(w, rot, s, t):
        rk = yf @ np.swapaxes(rot, -1, -2)[:, None]             # neighbours, rotated
        zf = combine(w, rk)
        rp = sq * (s[:, None, None] * zf[..., :2] + t[:, None] - q)
        d = combine(w, dy)
        ln = np.linalg.norm(d, axis=-1)
        rb = cb * (ln - target)
        rw = cp * (w - w0)
        return rp, rb, rw, rk, zf, d, ln

    def cost(parts):
        rp, rb, rw = parts[:3]
        return (rp ** 2).sum((1, 2)) + (rb ** 2).sum(1) + (rw ** 2).sum(1)

    w = w0.copy()
    rot = np.broadcast_to(np.eye(3), (bsz, 3, 3)).copy()
    zf0 = combine(w, yf)
    s, t = fit_st(zf0)
    parts = residuals(w, rot, s, t)
    cur = cost(parts)
    mu = np.full(bsz, 1e-3)
    for _ in range(iterations):
        rp, rb, rw, rk, zf, d, ln = parts
        jac = np.zeros((bsz, 2 * jn + nb + k, npar))
        # reprojection rows
        jw = sq[:, None] * s[:, None, None, None] * rk[..., :2]          # (B, k, J, 2)
        jac[:, :2 * jn, :k] = jw.reshape(bsz, k, 2 * jn).transpose(0, 2, 1)
        jd = sq[..., None] * s[:, None, None, None] * _skew_rows(zf)     # (B, J, 2, 3)
        jac[:, :2 * jn, k:k + 3] = jd.reshape(bsz, 2 * jn, 3)
        jac[:, :2 * jn, k + 3] = (sq * zf[..., :2]).reshape(bsz, 2 * jn)
        jt = np.broadcast_to(np.eye(2), (bsz, jn, 2, 2)) * sq[..., None]
        jac[:, :2 * jn, k + 4:k + 6] = jt.reshape(bsz, 2 * jn, 2)
        _fill_shape_rows(jac, 2 * jn, d, ln, dy, cb, cp)
        step = _lm_step(jac, np.concatenate([rp.reshape(bsz, -1), rb, rw], 1), mu)
        w_n, rot_n = w + step[:, :k], rotation_matrix(step[:, k:k + 3]) @ rot
        s_n = s + step[:, k + 3]
        t_n = t + step[:, k + 4:k + 6]
        parts_n = residuals(w_n, rot_n, s_n, t_n)
        new = cost(parts_n)
        ok = np.isfinite(new) & (new < cur)
        w, rot, s, t, parts, cur = _keep_better(ok, (w_n, rot_n, s_n, t_n, parts_n, new),
                                                (w, rot, s, t, parts, cur))
        mu = np.where(ok, mu * 0.3, mu * 10.0)
    out = combine(w, y) @ np.swapaxes(rot, -1, -2)
    out = out - out[:, root:root + 1]
    if return_camera:
        return out, {"weights": w, "rotation": rot, "scale": s, "translation": t}
    return out


def _skew3(z: np.ndarray) -> np.ndarray:
    """d((I + [delta]x) z)/d delta = -[z]x: (..., 3, 3) for points z (..., 3)."""
    x, y, w = z[..., 0], z[..., 1], z[..., 2]
    zero = np.zeros_like(x)
    return np.stack([np.stack([zero, w, -y], -1), np.stack([-w, zero, x], -1),
                     np.stack([y, -x, zero], -1)], -2)


def reconstruct_perspective(uv: np.ndarray, valid: np.ndarray, neighbours: np.ndarray,
                            weights0: np.ndarray | None = None,
                            feature_weights: np.ndarray | None = None, iterations: int = 8,
                            bone_weight: float = 1.0, prior_weight: float = 0.5,
                            pose_rms_mm: float = 450.0, root: int = 0, feature_root: int = 0
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Joint *full-perspective* camera and 3D pose fit, for cameras with known intrinsics.

    The weak-perspective fit of :func:`reconstruct` on the normalized query gives the start
    (its scale s and 2D shift t become the depth ``T_z = 1 / (sigma s)`` and ``T_xy``), then
    Levenberg-Marquardt steps minimize, over the combination weights, the rotation and the 3D
    translation ``T`` (mm)::

        sum_j v_j |(P_j,xy / P_j,z - uv_j) / sigma|^2 + bone and prior terms as reconstruct,

    with ``P = R X + T`` and ``sigma`` the query's RMS spread in ``uv`` (so the reprojection
    term has the same units as in :func:`reconstruct`).  Steps that would put a joint behind
    the camera are refused.

    Args:
        uv: (B, J, 2) normalized image coordinates ``(pixels - c) / f`` in the feature layout
            (see :func:`wildpose.camera.pixels_to_normalized`; undistorted if need be).
        valid, neighbours, weights0, feature_weights, iterations, bone_weight, prior_weight,
            pose_rms_mm, root: as :func:`reconstruct`.
        feature_root: the root joint of the feature layout (where ``uv`` is centred).
    Returns:
        ``(poses, root_translation)``: (B, 17, 3) float64 camera-frame poses, mm, root at 0;
        (B, 3) the root's camera coordinates, mm (its depth follows from the retrieved
        mocap's body size, which the 2D alone cannot tell).
    """
    uv = np.asarray(uv, np.float64)
    v = np.asarray(valid, bool)
    y = np.asarray(neighbours, np.float64)
    bsz, k = y.shape[:2]
    qn, centre, sigma = normalize_2d(np.where(v[..., None], uv, 0.0), v, root=feature_root)
    _, cam = reconstruct(qn, v, y, weights0, feature_weights, iterations, bone_weight,
                         prior_weight, pose_rms_mm, root=0, return_camera=True)
    sigma = np.maximum(sigma, 1e-12)
    s_uv = np.maximum(sigma * cam["scale"], 1e-9)          # 1 / depth, per mm
    tz = 1.0 / s_uv
    txy = (sigma[:, None] * cam["translation"] + centre) * tz[:, None]
    trans = np.concatenate([txy, tz[:, None]], 1)          # (B, 3) mm
    w, rot = cam["weights"], cam["rotation"]
    w0 = np.full((bsz, k), 1.0 / k) if weights0 is None else np.asarray(weights0, np.float64)

    wf = np.eye(17) if feature_weights is None else np.asarray(feature_weights, np.float64)
    yf = y if feature_weights is None else np.einsum("fj,bkjc->bkfc", wf, y)
    vw = v.astype(np.float64)
    sq = (np.sqrt(vw) / sigma[:, None])[..., None]          # (B, J, 1)
    uvz = np.where(v[..., None], uv, 0.0)
    parents = np.array([a for a, _ in H36M17.edges])
    children = np.array([b for _, b in H36M17.edges])
    dy = y[:, :, children] - y[:, :, parents]
    target = np.einsum("bk,bkn->bn", w0, np.linalg.norm(dy, axis=-1))
    cb, cp = bone_weight / pose_rms_mm, prior_weight
    nb, jn, npar = len(parents), uv.shape[1], k + 6

    def combine(ww, a):
        return (ww[:, None, :] @ a.reshape(bsz, k, -1)).reshape(a.shape[:1] + a.shape[2:])

    def residuals(ww, rr, tt):
        rk = yf @ np.swapaxes(rr, -1, -2)[:, None]
        zf = combine(ww, rk)
        pts = zf + tt[:, None]
        pz = pts[..., 2]
        rp = sq * (pts[..., :2] / np.where(pz > 1.0, pz, 1.0)[..., None] - uvz)
        d = combine(ww, dy)
        ln = np.linalg.norm(d, axis=-1)
        return rp, cb * (ln - target), cp * (ww - w0), rk, zf, pts, d, ln

    def cost(parts):
        rp, rb, rw, pts = parts[0], parts[1], parts[2], parts[5]
        c = (rp ** 2).sum((1, 2)) + (rb ** 2).sum(1) + (rw ** 2).sum(1)
        behind = ((pts[..., 2] <= 1.0) & v).any(1)
        return np.where(behind, np.inf, c)

    parts = residuals(w, rot, trans)
    cur = cost(parts)
    mu = np.full(bsz, 1e-3)
    for _ in range(iterations):
        rp, rb, rw, rk, zf, pts, d, ln = parts
        pz = np.where(pts[..., 2] > 1.0, pts[..., 2], 1.0)
        a = np.zeros((bsz, jn, 2, 3))                       # d(projection)/dP, weighted
        a[..., 0, 0] = a[..., 1, 1] = 1.0 / pz
        a[..., 0, 2] = -pts[..., 0] / pz ** 2
        a[..., 1, 2] = -pts[..., 1] / pz ** 2
        a *= sq[..., None]
        jac = np.zeros((bsz, 2 * jn + nb + k, npar))
        jac[:, :2 * jn, :k] = np.einsum("bjcd,bkjd->bjck", a, rk).reshape(bsz, 2 * jn, k)
        jac[:, :2 * jn, k:k + 3] = (a @ _skew3(zf)).reshape(bsz, 2 * jn, 3)
        jac[:, :2 * jn, k + 3:] = a.reshape(bsz, 2 * jn, 3)
        _fill_shape_rows(jac, 2 * jn, d, ln, dy, cb, cp)
        step = _lm_step(jac, np.concatenate([rp.reshape(bsz, -1), rb, rw], 1), mu)
        w_n, rot_n = w + step[:, :k], rotation_matrix(step[:, k:k + 3]) @ rot
        t_n = trans + step[:, k + 3:]
        parts_n = residuals(w_n, rot_n, t_n)
        new = cost(parts_n)
        ok = np.isfinite(new) & (new < cur)
        w, rot, trans, parts, cur = _keep_better(ok, (w_n, rot_n, t_n, parts_n, new),
                                                 (w, rot, trans, parts, cur))
        mu = np.where(ok, mu * 0.3, mu * 10.0)
    out = combine(w, y) @ np.swapaxes(rot, -1, -2)
    root_pos = out[:, root]
    return out - root_pos[:, None], trans + root_pos


# ------------------------------------------------------------------------------- lifter
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
            if layout is not None and get_layout(layout).name != index.layout.name:
                raise LayoutMismatchError(
                    f"{index.root}: this index was built for joint layout {index.layout.name}"
                    f" but {get_layout(layout).name} is required")
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
        out = res.pose if self.mode == "reconstruct" else res.nearest
        out = out.astype(np.float32)
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
            from ..camera import pixels_to_normalized

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
