"""The pose library on disk: building it from mocap (a FAISS index of the features plus the
3D poses and cameras of its entries) and loading it."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

from ...mocap.sources import DEFAULT_TOLERANCE_MM, MocapPoses, load_mocap
from ...skeleton import H36M17, Skeleton, get_layout
from .features import (DEFAULT_AZIMUTHS, DEFAULT_ELEVATIONS, FORMAT, FORMAT_VERSION,
                       _feature_weights, check_index_layout, library_features, virtual_cameras)
from .library import PoseLibrary

__all__ = ["choose_index_type", "build_index", "load_index"]


#: Libraries up to this many entries get an exact index (IndexFlatL2); up to
#: ``_IVF_FLAT_MAX`` an IVF index with exact vectors; beyond, IVF with product quantization.
EXACT_MAX_ENTRIES = 200_000
_IVF_FLAT_MAX = 4_000_000


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
    import faiss  # slow to import: only building or reading an index needs it

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


def _progress(iterable, total: int, desc: str, enabled: bool):
    return tqdm(iterable, total=total, desc=desc, unit="chunk", leave=False) if enabled \
        else iterable


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
    import faiss  # slow to import: see _make_index

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
    check_index_layout(root, meta["layout"], layout)
    return PoseLibrary(root, meta, mmap)
