"""Cost of the dual-source pose library against its size: build time, memory, query latency
and recall@k of the approximate index against exact search.

    python benchmarks/dual_source_scale.py [--sizes 1e4 1e5 1e6 1e7] [--queries 1000]
        [--index-types auto] [--data-dir ../shared/data/h36m] [--work-dir out/dual_source_scale]
        [--simulate-above N] [--keep] [--threads T] [--out F.json]

For each target size N a library of about N normalized 2D poses is built on disk: Human3.6M
S1,5,6,7,8 poses (near-duplicates dropped at --tolerance mm; synthetic poses if the data is
absent) seen from a virtual camera grid of --elevations x A azimuths, with A = 12 or, when
there are too few poses, as many as needed to reach N.  Index types: "auto" picks exact
search up to 2e5 entries, IVF with exact vectors up to 4e6, IVF-PQ beyond
(``wildpose.methods.dual_source.choose_index_type``); others can be listed.

Measured per size: build time (projection, IVF training, adding), bytes on disk, resident
memory after building and after loading + querying, query latency in ms per pose for (a) the
raw FAISS search, (b) search + exact masked re-ranking, (c) the full ``DualSourceLifter.lift``
(search + reconstruction), each on one batch of --queries poses (Human3.6M S9 ground-truth
2D, or projections of library poses with noise), and recall@1/10/k of (a) and (b) against
exact brute-force search over all N features.  Sizes above --simulate-above are not built:
their figures are extrapolated by a power law through the two largest measured sizes and
flagged ``"simulated": true``.  Results go to ``benchmarks/results/dual_source_scale_*.json``.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np

import _common


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=float, nargs="+", default=[1e4, 1e5, 1e6, 1e7])
    p.add_argument("--index-types", nargs="+", default=["auto"],
                   choices=("auto", "flat", "ivf", "ivfpq", "hnsw"))
    p.add_argument("--queries", type=int, default=1000, help="query batch size")
    p.add_argument("--k", type=int, default=24, help="neighbours (recall@k, reconstruction)")
    p.add_argument("--candidates", type=int, default=64)
    p.add_argument("--data-dir", default=f"{_common.DEFAULT_DATA_ROOT}/h36m")
    p.add_argument("--work-dir", default="out/dual_source_scale")
    p.add_argument("--elevations", type=float, nargs="+", default=[0.0, 15.0, 30.0])
    p.add_argument("--tolerance", type=float, default=20.0)
    p.add_argument("--simulate-above", type=float, default=None,
                   help="extrapolate sizes above this instead of building them")
    p.add_argument("--keep", action="store_true", help="keep the built libraries")
    p.add_argument("--threads", type=int, default=None, help="FAISS threads (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    return p.parse_args(argv)


def rss_mib() -> float:
    """Current resident set size of this process, MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def pose_pool(args) -> tuple[np.ndarray, str]:
    """Canonical mocap poses to build libraries from, and where they came from."""
    try:
        from wildpose.mocap import load_h36m_mocap

        m = load_h36m_mocap(args.data_dir, tolerance_mm=args.tolerance)
        return m.poses, f"Human3.6M S1,5,6,7,8 ({m.describe()})"
    except (FileNotFoundError, OSError) as e:
        print(f"Human3.6M not available ({e}); using synthetic poses", file=sys.stderr)
        rng = np.random.default_rng(args.seed)
        base = rng.normal(0, 300, (1, 17, 3))
        poses = base + rng.normal(0, 80, (200_000, 17, 3))
        return (poses - poses[:, :1]).astype(np.float32), "synthetic (Gaussian) poses"


def query_batch(args, pool: np.ndarray) -> tuple[np.ndarray, str]:
    """(Q, 17, 2) pixel queries in H36M17 order."""
    rng = np.random.default_rng(args.seed + 1)
    try:
        from wildpose.datasets.h36m import load_h36m

        data = load_h36m(args.data_dir, subjects=(9,), stride=5, load_sh=False)
        rows = rng.choice(len(data), min(args.queries, len(data)), replace=False)
        return data.pose_2d[rows].astype(np.float64), "Human3.6M S9 ground-truth 2D"
    except (FileNotFoundError, OSError):
        from wildpose.geometry import rotation_from_euler

        p = pool[rng.choice(len(pool), args.queries)]
        rot = rotation_from_euler(rng.uniform(0, 2 * np.pi, args.queries),
                                  rng.uniform(0, 0.5, args.queries))
        xy = (p @ np.swapaxes(rot, -1, -2))[..., :2] * 0.3 + 500
        return xy + rng.normal(0, 3, xy.shape), "noisy projections of library poses"


def exact_knn(features: np.ndarray, q: np.ndarray, k: int, chunk: int = 1_000_000):
    """Brute-force k nearest rows of ``features`` (memory-mapped, in chunks)."""
    import faiss

    best_d = np.full((len(q), k), np.inf, np.float32)
    best_i = np.full((len(q), k), -1, np.int64)
    for s in range(0, len(features), chunk):
        xb = np.ascontiguousarray(features[s:s + chunk])
        d, i = faiss.knn(q, xb, min(k, len(xb)))
        d = np.concatenate([best_d, d], 1)
        i = np.concatenate([best_i, i + s], 1)
        order = np.argsort(d, 1, kind="stable")[:, :k]
        best_d, best_i = np.take_along_axis(d, order, 1), np.take_along_axis(i, order, 1)
    return best_d, best_i


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth)]
    return float(np.mean(hits) / k)


def dir_bytes(path: Path) -> dict[str, int]:
    return {f.name: f.stat().st_size for f in sorted(path.iterdir()) if f.is_file()}


def measure(args, size: int, kind: str, pool: np.ndarray, kp: np.ndarray) -> dict:
    from wildpose.methods.dual_source import (DualSourceLifter, build_index, choose_index_type,
                                              load_index)
    from wildpose.mocap import MocapPoses

    n_el = len(args.elevations)
    n_az = max(12, math.ceil(size / (len(pool) * n_el)))
    n_pose = max(1, math.ceil(size / (n_az * n_el)))
    rng = np.random.default_rng(args.seed)
    idx = np.sort(rng.choice(len(pool), n_pose, replace=n_pose > len(pool)))
    poses = pool[idx]
    mocap = MocapPoses(poses, np.zeros(n_pose, np.int32), np.arange(n_pose, dtype=np.int32),
                       ["pool"], np.ones(17, bool))
    azimuths = np.arange(n_az) * 360.0 / n_az
    folder = Path(args.work_dir) / f"n{size}_{kind}"
    rss0 = rss_mib()
    t0 = time.perf_counter()
    build_index(mocap, folder, azimuths, args.elevations, index_type=kind, seed=args.seed,
                overwrite=True)
    build_s = time.perf_counter() - t0
    rss1 = rss_build = rss_mib()
    lib = load_index(folder)
    meta = lib.meta
    n = len(lib)
    q, v = lib.normalize_queries(kp)
    qf = np.ascontiguousarray(q.reshape(len(q), -1), np.float32)
    m = min(args.candidates, n)
    lib.index.search(qf[:8], m)                      # warm-up
    t = time.perf_counter()
    _, raw = lib.index.search(qf, m)
    faiss_ms = 1000 * (time.perf_counter() - t) / len(q)
    t = time.perf_counter()
    ranked, _ = lib.search_normalized(q, v, args.k, args.candidates)
    rerank_ms = 1000 * (time.perf_counter() - t) / len(q)
    lifter = DualSourceLifter(lib, k=args.k, candidates=args.candidates,
                              batch_size=max(len(kp), 1))
    lifter.lift(kp[:8])
    t = time.perf_counter()
    out = lifter.lift(kp)
    lift_ms = 1000 * (time.perf_counter() - t) / len(kp)
    rss_query = rss_mib()
    t = time.perf_counter()
    _, truth = exact_knn(lib.features, qf, args.k)
    exact_s = time.perf_counter() - t
    ks = sorted({1, min(10, args.k), args.k})
    res = {
        "target_size": size, "entries": n, "poses": n_pose, "azimuths": n_az,
        "elevations": n_el, "index_type": meta["index_type"],
        "auto_choice": choose_index_type(n), "index_params": meta["index_params"],
        "search_params": meta["search_params"],
        "build_seconds": build_s, "train_seconds": meta["train_seconds"],
        "disk_bytes": dir_bytes(folder),
        "rss_mib": {"before_build": rss0, "after_build": rss_build,
                    "load_and_query_delta": rss_query - rss1,
                    "peak_so_far": _common.peak_rss_mib()},
        "index_mmapped": lib.index_mmapped,
        "queries": len(kp),
        "ms_per_pose": {"faiss_search": faiss_ms, "search_and_rerank": rerank_ms,
                        "lift_total": lift_ms},
        "recall": {f"faiss@{k}": recall(raw, truth, k) for k in ks}
        | {f"reranked@{k}": recall(ranked, truth, k) for k in ks},
        "exact_search_seconds": exact_s,
        "lifted_finite": bool(np.isfinite(out).all()),
        "simulated": False,
    }
    del lib, lifter
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return res


def extrapolate(measured: list[dict], size: int) -> dict:
    """Power-law extrapolation through the two largest measured sizes."""
    a, b = sorted(measured, key=lambda r: r["entries"])[-2:]

    def fit(va, vb):
        if va is None or vb is None or va <= 0 or vb <= 0 or a["entries"] == b["entries"]:
            return None
        slope = math.log(vb / va) / math.log(b["entries"] / a["entries"])
        return vb * (size / b["entries"]) ** slope

    return {
        "target_size": size, "entries": size, "simulated": True,
        "extrapolated_from": [a["entries"], b["entries"]],
        "build_seconds": fit(a["build_seconds"], b["build_seconds"]),
        "disk_bytes_total": fit(sum(a["disk_bytes"].values()), sum(b["disk_bytes"].values())),
        "ms_per_pose": {k: fit(a["ms_per_pose"][k], b["ms_per_pose"][k])
                        for k in a["ms_per_pose"]},
    }


def run(args: argparse.Namespace) -> int:
    started = _common.utc_now()
    import faiss

    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    pool, pool_src = pose_pool(args)
    kp, q_src = query_batch(args, pool)
    sizes = [int(s) for s in args.sizes]
    rows: list[dict] = []
    for kind in args.index_types:
        measured: list[dict] = []
        for size in sizes:
            if args.simulate_above is not None and size > args.simulate_above:
                if len(measured) < 2:
                    raise ValueError("--simulate-above needs two measured sizes below it")
                r = extrapolate(measured, size)
                r["requested_index_type"] = kind
            else:
                r = measure(args, size, kind, pool, kp)
                r["requested_index_type"] = kind
                measured.append(r)
                print(f"[{kind} {r['entries']}] {r['index_type']}: build {r['build_seconds']:.1f}"
                      f" s, lift {r['ms_per_pose']['lift_total']:.2f} ms/pose, recall "
                      f"{r['recall']}", file=sys.stderr)
            rows.append(r)
    results = {"pose_pool": pool_src, "pool_size": len(pool), "queries_from": q_src,
               "faiss_version": faiss.__version__, "faiss_threads": faiss.omp_get_max_threads(),
               "rows": rows}
    record = _common.make_record("dual_source_scale", {k: v for k, v in vars(args).items()
                                                       if k != "out"}, results, started)
    path = _common.write_record(record, args.out, tag="_".join(args.index_types))
    print(markdown(rows))
    print(f"wrote {path}", file=sys.stderr)
    return 0


def markdown(rows: list[dict]) -> str:
    lines = ["| entries | index | build s | disk MiB | search ms | +rerank ms | lift ms | "
             "recall@1 | recall@10 | note |", "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        ms = r["ms_per_pose"]
        f = (lambda x: "-" if x is None else f"{x:.2f}")
        if r["simulated"]:
            disk = r["disk_bytes_total"]
            lines.append(f"| {r['entries']} | - | {f(r['build_seconds'])} | "
                         f"{f(disk / 2**20 if disk else None)} | {f(ms['faiss_search'])} | "
                         f"{f(ms['search_and_rerank'])} | {f(ms['lift_total'])} | - | - | "
                         f"extrapolated |")
        else:
            disk = sum(r["disk_bytes"].values()) / 2**20
            lines.append(f"| {r['entries']} | {r['index_type']} | {r['build_seconds']:.1f} | "
                         f"{disk:.1f} | {ms['faiss_search']:.3f} | {ms['search_and_rerank']:.3f}"
                         f" | {ms['lift_total']:.3f} | {r['recall']['reranked@1']:.3f} | "
                         f"{r['recall'].get('reranked@10', float('nan')):.3f} | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return _common.run_reporting_errors("dual_source_scale", lambda: run(args),
                                        (ValueError, FileNotFoundError))


if __name__ == "__main__":
    sys.exit(main())
