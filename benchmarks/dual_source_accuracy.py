"""Human3.6M accuracy of the dual-source method (Iqbal et al. 2017) on S9 and S11.

    python benchmarks/dual_source_accuracy.py [--libraries h36m cmu] [--inputs gt sh]
        [--stride 1] [--data-dir ../shared/data/h36m] [--cmu-dir ../shared/data/cmu-mocap]
        [--index-dir out/dual_source_indexes] [--azimuths 0 30 ... 330]
        [--elevations 0 15 30] [--tolerance 20] [--k 24] [--perspective]
        [--init-model h36m-gt] [--init-model-sh h36m-sh] [--out F.json]

Two mocap libraries, built once into ``--index-dir`` and reused while their build
parameters are unchanged (``--rebuild`` forces it):

(a) ``h36m``: Human3.6M S1, S5, S6, S7, S8 3D poses (the standard training subjects);
(b) ``cmu``: the CMU BVH files only -- a different skeleton, mapped to H36M17; scored on the
    joints both skeletons share (those the CMU mapping does not approximate).

For each library and 2D input ("gt": ground-truth 2D projected with the real cameras; "sh":
stacked-hourglass detections) every ``--stride``-th frame of S9 and S11, all four cameras, is
lifted once, and P1 (MPJPE, root-relative) and P2 (Procrustes-aligned MPJPE) are reported
for the nearest library entry alone and after the joint camera/pose reconstruction, as
Human3.6M tables do (the mean of the per-action means), with the lifting time per pose.

Variants, each an extra row per library and input: ``--perspective`` fits a full-perspective
camera with each sample's real intrinsics instead of weak perspective; ``--init-model``
scores that learned lifter alone and as the initialization of the reconstruction (the
library as a prior on the learned pose, ``DualSourceLifter(init=...)``).
Results go to ``benchmarks/results/dual_source_accuracy_*.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import _common

TEST_SUBJECTS = (9, 11)
TRAIN_SUBJECTS = (1, 5, 6, 7, 8)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--libraries", nargs="+", choices=("h36m", "cmu"), default=["h36m", "cmu"])
    p.add_argument("--inputs", nargs="+", choices=("gt", "sh"), default=["gt", "sh"])
    p.add_argument("--stride", type=int, default=1,
                   help="score every N-th test frame (default 1: every frame)")
    p.add_argument("--data-dir", default=f"{_common.DEFAULT_DATA_ROOT}/h36m")
    p.add_argument("--cmu-dir", default=f"{_common.DEFAULT_DATA_ROOT}/cmu-mocap")
    p.add_argument("--index-dir", default="out/dual_source_indexes",
                   help="where the libraries are built and cached (default: %(default)s)")
    p.add_argument("--rebuild", action="store_true", help="rebuild cached libraries")
    p.add_argument("--azimuths", type=float, nargs="+", default=list(range(0, 360, 30)),
                   help="virtual camera azimuths, degrees")
    p.add_argument("--elevations", type=float, nargs="+", default=[0.0, 15.0, 30.0])
    p.add_argument("--tolerance", type=float, default=20.0,
                   help="near-duplicate tolerance, mm (default %(default)s)")
    p.add_argument("--mocap-stride", type=int, default=1,
                   help="keep every N-th mocap frame before de-duplication")
    p.add_argument("--max-poses", type=int, default=None,
                   help="cap on mocap poses per library (a random subset; for quick runs)")
    p.add_argument("--index-type", default="auto",
                   choices=("auto", "flat", "ivf", "ivfpq", "hnsw"))
    p.add_argument("--k", type=int, default=24, help="neighbours in the reconstruction")
    p.add_argument("--candidates", type=int, default=64)
    p.add_argument("--nprobe", type=int, default=None, help="IVF lists searched (default: "
                   "the library's)")
    p.add_argument("--threads", type=int, default=None, help="FAISS threads (default: all)")
    p.add_argument("--perspective", action="store_true",
                   help="also fit full-perspective cameras with the real intrinsics")
    p.add_argument("--init-model", default=None,
                   help="also score this learned lifter alone and as the initialization "
                        "(ground-truth 2D inputs)")
    p.add_argument("--init-model-sh", default=None,
                   help="the same for stacked-hourglass inputs (default: --init-model)")
    p.add_argument("--init-weight", type=float, default=0.5)
    p.add_argument("--out", default=None, help="result JSON path")
    args = p.parse_args(argv)
    if args.stride < 1 or args.mocap_stride < 1:
        p.error("--stride and --mocap-stride must be at least 1")
    return args


def _build_params(args: argparse.Namespace, name: str) -> dict:
    return {"library": name, "azimuths": [float(a) for a in args.azimuths],
            "elevations": [float(e) for e in args.elevations], "tolerance_mm": args.tolerance,
            "mocap_stride": args.mocap_stride, "max_poses": args.max_poses,
            "index_type": args.index_type,
            "subjects": list(TRAIN_SUBJECTS) if name == "h36m" else None}


def get_library(args: argparse.Namespace, name: str):
    """Build (or reuse) one library; returns (PoseLibrary, build seconds or None)."""
    from wildpose.methods.dual_source import build_index, load_index

    params = _build_params(args, name)
    folder = Path(args.index_dir) / name
    stamp = folder / "benchmark_params.json"
    if (not args.rebuild and (folder / "meta.json").is_file() and stamp.is_file()
            and json.loads(stamp.read_text()) == params):
        print(f"[{name}] reusing {folder}", file=sys.stderr)
        return load_index(folder), None
    source = args.data_dir if name == "h36m" else args.cmu_dir
    t0 = time.perf_counter()
    build_index(source, folder, args.azimuths, args.elevations,
                subjects=TRAIN_SUBJECTS if name == "h36m" else None,
                tolerance_mm=args.tolerance, stride=args.mocap_stride,
                index_type=args.index_type, max_poses=args.max_poses, overwrite=True)
    seconds = time.perf_counter() - t0
    stamp.write_text(json.dumps(params))
    return load_index(folder), seconds


def score(pred: np.ndarray, target: np.ndarray, actions: np.ndarray,
          mask: np.ndarray) -> dict:
    from wildpose.datasets.h36m import ACTIONS, normalize_action
    from wildpose.metrics import mpjpe, p_mpjpe, per_action_table

    errors = {"P1": mpjpe(pred, target, mask), "P2": p_mpjpe(pred, target, mask)}
    table = per_action_table(errors, [normalize_action(a) for a in actions], ACTIONS)
    return {"P1": table["metrics"]["P1"]["Average"], "P2": table["metrics"]["P2"]["Average"],
            "per_action": table["metrics"], "counts": table["counts"]}


def run(args: argparse.Namespace) -> int:
    started = _common.utc_now()
    import faiss

    from wildpose.datasets.h36m import load_h36m
    from wildpose.methods.dual_source import DualSourceLifter
    from wildpose.skeleton import H36M17

    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    t0 = time.perf_counter()
    data = load_h36m(args.data_dir, subjects=TEST_SUBJECTS, stride=args.stride,
                     load_sh="sh" in args.inputs)
    load_s = time.perf_counter() - t0
    target = (data.pose_3d - data.pose_3d[:, :1]).astype(np.float64)
    results: dict = {"num_test_rows": len(data), "data_load_seconds": load_s,
                     "skipped": list(data.skipped), "libraries": {}}
    for name in args.libraries:
        lib, build_s = get_library(args, name)
        lifter = DualSourceLifter(lib, k=args.k, candidates=args.candidates,
                                  search_params={"nprobe": args.nprobe} if args.nprobe
                                  else None)
        mask = lib.shared_joints if name == "cmu" else np.ones(17, bool)
        lib_res = {"build_seconds": build_s, "index": lifter.info,
                   "scored_joints": [j for j, m in zip(H36M17.joints, mask) if m],
                   "inputs": {}}
        for kind in args.inputs:
            kp, layout = data.inputs(kind)
            have = np.isfinite(kp).all((1, 2))
            t0 = time.perf_counter()
            res = lifter.lift_detailed(kp[have], layout=layout)
            lift_s = time.perf_counter() - t0
            ok = res.lifted
            rows = np.flatnonzero(have)[ok]
            m = np.broadcast_to(mask, (len(rows), 17))
            entry = {
                "rows_scored": int(len(rows)),
                "rows_without_input": int((~have).sum()),
                "rows_not_lifted": int((~ok).sum()),
                "lift_seconds": lift_s,
                "ms_per_pose": 1000.0 * lift_s / max(int(have.sum()), 1),
                "nearest": score(res.nearest[ok], target[rows], data.action[rows], m),
                "reconstruction": score(res.pose[ok], target[rows], data.action[rows], m),
            }
            variants = {}
            sub = data.select(have)
            if args.perspective:
                from wildpose.evaluation import h36m_intrinsics

                variants["perspective"] = (lifter, {"intrinsics": h36m_intrinsics(sub)})
            init_name = (args.init_model_sh or args.init_model) if kind == "sh" \
                else args.init_model
            if init_name:
                from wildpose.api import Lifter

                learned = Lifter(init_name)
                hybrid = DualSourceLifter(lib, k=args.k, candidates=args.candidates,
                                          init=learned, init_weight=args.init_weight)
                variants[f"learned alone ({init_name})"] = (learned, None)
                variants["learned + library"] = (hybrid, {})
                if args.perspective:
                    variants["learned + library, perspective"] = (
                        hybrid, {"intrinsics": variants["perspective"][1]["intrinsics"]})
            for label, (lf, extra) in variants.items():
                t0 = time.perf_counter()
                if extra is None:
                    pose, okv = lf.lift(kp[have], layout=layout), np.ones(len(sub), bool)
                else:
                    rv = lf.lift_detailed(kp[have], layout=layout, **extra)
                    pose, okv = rv.pose, rv.lifted
                sec = time.perf_counter() - t0
                rws = np.flatnonzero(have)[okv]
                mv = np.broadcast_to(mask, (len(rws), 17))
                entry.setdefault("variants", {})[label] = {
                    **score(pose[okv], target[rws], data.action[rws], mv),
                    "rows_scored": int(len(rws)), "ms_per_pose": 1000.0 * sec / len(sub)}
                e = entry["variants"][label]
                print(f"[{name}/{kind}] {label}: P1 {e['P1']:.1f} P2 {e['P2']:.1f} mm  "
                      f"{e['ms_per_pose']:.2f} ms/pose", file=sys.stderr)
            nn, rec = entry["nearest"]["P2"], entry["reconstruction"]["P2"]
            entry["P2_improvement_percent"] = 100.0 * (nn - rec) / nn
            lib_res["inputs"][kind] = entry
            print(f"[{name}/{kind}] rows {len(rows)}  nearest P1 {entry['nearest']['P1']:.1f} "
                  f"P2 {nn:.1f}  reconstruction P1 {entry['reconstruction']['P1']:.1f} "
                  f"P2 {rec:.1f} mm  ({entry['P2_improvement_percent']:.1f} % better P2)  "
                  f"{entry['ms_per_pose']:.2f} ms/pose", file=sys.stderr)
        results["libraries"][name] = lib_res
    results["peak_rss_mib"] = _common.peak_rss_mib()
    params = {k: v for k, v in vars(args).items() if k != "out"}
    params["test_subjects"] = list(TEST_SUBJECTS)
    record = _common.make_record("dual_source_accuracy", params, results, started)
    path = _common.write_record(record, args.out,
                                tag="_".join(args.libraries) + f"_stride{args.stride}")
    print(markdown(results))
    print(f"wrote {path}", file=sys.stderr)
    return 0


def markdown(results: dict) -> str:
    lines = ["| library | inputs | NN P1 | NN P2 | rec. P1 | rec. P2 | P2 gain | ms/pose | rows |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, lib in results["libraries"].items():
        for kind, e in lib["inputs"].items():
            lines.append(f"| {name} | {kind} | {e['nearest']['P1']:.1f} | "
                         f"{e['nearest']['P2']:.1f} | {e['reconstruction']['P1']:.1f} | "
                         f"{e['reconstruction']['P2']:.1f} | "
                         f"{e['P2_improvement_percent']:.1f} % | {e['ms_per_pose']:.2f} | "
                         f"{e['rows_scored']} |")
    extra = [(name, kind, label, v) for name, lib in results["libraries"].items()
             for kind, e in lib["inputs"].items()
             for label, v in e.get("variants", {}).items()]
    if extra:
        lines += ["", "| library | inputs | variant | P1 | P2 | ms/pose | rows |",
                  "|---|---|---|---:|---:|---:|---:|"]
        lines += [f"| {n} | {k} | {label} | {v['P1']:.1f} | {v['P2']:.1f} | "
                  f"{v['ms_per_pose']:.2f} | {v['rows_scored']} |" for n, k, label, v in extra]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return _common.run_reporting_errors("dual_source_accuracy", lambda: run(args),
                                        (ValueError, FileNotFoundError))


if __name__ == "__main__":
    sys.exit(main())
